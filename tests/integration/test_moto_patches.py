"""wsctl.local.moto_patches: moto's transact_write_items without whole-table copies keeps every
transaction semantic the runtime relies on — all-or-nothing for any number of items, condition
checks, one operation per item — and behaves exactly like unpatched moto on the same requests;
queries and scans without per-comparison casts answer the same items in the same order."""

from __future__ import annotations

import copy
from contextlib import contextmanager

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from tests.integration.aws import REGION, TABLE, create_connections_table
from wsctl.local.moto_patches import patch_emulator, patch_queries, patch_transactions

STREAMED = "realtime-test-streamed"


@contextmanager
def connection_table(patched: bool):
    undo = patch_emulator() if patched else None
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name=REGION)
            create_connections_table(client)
            client.put_item(TableName=TABLE, Item={"connectionId": {"S": "#counter"}, "active": {"N": "1"}})
            client.put_item(TableName=TABLE, Item={"connectionId": {"S": "old"}, "userId": {"S": "u1"},
                                                   "tokenExpiresAt": {"N": "100"}})
            client.put_item(TableName=TABLE, Item={"connectionId": {"S": "#user#u1"}, "connections": {"SS": ["old"]}})
            yield client
    finally:
        if undo is not None:
            undo()


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(params=["patched", "moto"])
def dynamodb(request):
    """The same table under the patched and the unpatched moto: every test must hold for both."""
    with connection_table(request.param == "patched") as client:
        yield client


def connect_items(connection_id: str, user: str, limit: int = 10) -> list[dict]:
    """The three-item $connect transaction issue 10 writes: counter under the limit, the row, the
    user's membership item."""
    return [
        {"Update": {"TableName": TABLE, "Key": {"connectionId": {"S": "#counter"}},
                    "UpdateExpression": "ADD active :one", "ConditionExpression": "attribute_not_exists(active) OR active < :limit",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}}}},
        {"Put": {"TableName": TABLE, "Item": {"connectionId": {"S": connection_id}, "userId": {"S": user},
                                              "tokenExpiresAt": {"N": "200"}},
                 "ConditionExpression": "attribute_not_exists(connectionId)"}},
        {"Update": {"TableName": TABLE, "Key": {"connectionId": {"S": f"#user#{user}"}},
                    "UpdateExpression": "ADD connections :id", "ExpressionAttributeValues": {":id": {"SS": [connection_id]}}}},
    ]


def disconnect_items(connection_id: str, user: str) -> list[dict]:
    return [
        {"Delete": {"TableName": TABLE, "Key": {"connectionId": {"S": connection_id}},
                    "ConditionExpression": "attribute_exists(connectionId)"}},
        {"Update": {"TableName": TABLE, "Key": {"connectionId": {"S": "#counter"}},
                    "UpdateExpression": "ADD active :minus", "ExpressionAttributeValues": {":minus": {"N": "-1"}}}},
        {"Update": {"TableName": TABLE, "Key": {"connectionId": {"S": f"#user#{user}"}},
                    "UpdateExpression": "DELETE connections :id", "ExpressionAttributeValues": {":id": {"SS": [connection_id]}}}},
    ]


def everything(client) -> dict[str, dict]:
    return {item["connectionId"]["S"]: item for item in client.scan(TableName=TABLE, ConsistentRead=True)["Items"]}


def cancellation(error: ClientError) -> list[str]:
    return [reason["Code"] for reason in error.response["CancellationReasons"]]


def test_a_three_item_connect_commits_every_item(dynamodb):
    dynamodb.transact_write_items(TransactItems=connect_items("new", "u1"))

    table = everything(dynamodb)
    assert table["#counter"]["active"] == {"N": "2"}
    assert table["new"]["userId"] == {"S": "u1"}
    assert sorted(table["#user#u1"]["connections"]["SS"]) == ["new", "old"]


def test_a_failed_last_condition_rolls_back_the_items_already_written(dynamodb):
    before = everything(dynamodb)
    items = connect_items("new", "u1")
    # GIVEN the last item's condition cannot hold, after two items were applied
    items[2]["Update"]["ConditionExpression"] = "attribute_not_exists(connections)"

    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(TransactItems=items)

    assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert cancellation(failed.value) == ["None", "None", "ConditionalCheckFailed"]
    assert everything(dynamodb) == before


def test_a_failed_first_condition_writes_nothing(dynamodb):
    before = everything(dynamodb)

    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(TransactItems=connect_items("new", "u1", limit=1))

    assert cancellation(failed.value) == ["ConditionalCheckFailed", "None", "None"]
    assert everything(dynamodb) == before


def test_a_failed_disconnect_brings_the_deleted_row_back_whole(dynamodb):
    before = everything(dynamodb)
    items = disconnect_items("old", "u1")
    items.append({"ConditionCheck": {"TableName": TABLE, "Key": {"connectionId": {"S": "#announcement"}},
                                     "ConditionExpression": "attribute_exists(lastAt)"}})

    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(TransactItems=items)

    assert cancellation(failed.value) == ["None", "None", "None", "ConditionalCheckFailed"]
    assert everything(dynamodb) == before
    dynamodb.transact_write_items(TransactItems=disconnect_items("old", "u1"))
    assert "old" not in everything(dynamodb) and everything(dynamodb)["#counter"]["active"] == {"N": "0"}


def test_two_operations_on_one_item_are_refused_and_nothing_is_written(dynamodb):
    before = everything(dynamodb)
    items = connect_items("new", "u1")
    items.append({"Delete": {"TableName": TABLE, "Key": {"connectionId": {"S": "new"}}}})

    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(TransactItems=items)

    assert failed.value.response["Error"]["Code"] == "ValidationException"
    assert everything(dynamodb) == before


def test_more_than_a_hundred_items_are_refused(dynamodb):
    items = [{"Put": {"TableName": TABLE, "Item": {"connectionId": {"S": f"c{n}"}}}} for n in range(101)]

    with pytest.raises(ClientError, match="less than or equal to 100"):
        dynamodb.transact_write_items(TransactItems=items)
    assert "c0" not in everything(dynamodb)


def test_an_error_inside_an_item_rolls_back_like_a_failed_condition(dynamodb):
    before = everything(dynamodb)
    items = connect_items("new", "u1")
    # a number where the set lives: moto's update raises, the transaction is cancelled
    items[2]["Update"]["ExpressionAttributeValues"] = {":id": {"N": "1"}}

    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=items)
    assert everything(dynamodb) == before


def test_rollback_restores_range_key_items_and_drops_the_stream_records_of_the_failed_transaction(dynamodb):
    dynamodb.create_table(TableName=STREAMED, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                {"AttributeName": "sk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    dynamodb.put_item(TableName=STREAMED, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    stream_arn = dynamodb.describe_table(TableName=STREAMED)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> int:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator)["Records"])

    before, count = dynamodb.scan(TableName=STREAMED)["Items"], records()
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": STREAMED, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET v = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": STREAMED, "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"connectionId": {"S": "missing"}},
                                "ConditionExpression": "attribute_exists(connectionId)"}},
        ])

    assert dynamodb.scan(TableName=STREAMED)["Items"] == before
    assert records() == count


def test_the_patch_copies_the_items_it_names_never_a_table(monkeypatch):
    import moto.dynamodb.models as models
    from moto.backends import get_backend

    copied: list[type] = []
    real_deepcopy = copy.deepcopy

    def spying(value, memo=None):
        copied.append(type(value))
        return real_deepcopy(value, memo)

    with connection_table(patched=True) as dynamodb:
        table_object = get_backend("dynamodb")["123456789012"][REGION].tables[TABLE]
        monkeypatch.setattr(copy, "deepcopy", spying)
        items = connect_items("new", "u1")
        items[2]["Update"]["ConditionExpression"] = "attribute_not_exists(connections)"
        with pytest.raises(ClientError):
            dynamodb.transact_write_items(TransactItems=items)
        dynamodb.transact_write_items(TransactItems=connect_items("new", "u1"))

        assert Table not in copied
        assert get_backend("dynamodb")["123456789012"][REGION].tables[TABLE] is table_object
        # outside a transaction a table copy is a real copy
        assert models.copy.deepcopy(table_object) is not table_object


def test_the_patch_is_removable_and_refuses_to_stack():
    import moto.dynamodb.models as models

    original = models.DynamoDBBackend.transact_write_items
    undo = patch_transactions()
    try:
        with pytest.raises(RuntimeError, match="already patched"):
            patch_transactions()
    finally:
        undo()
    assert models.DynamoDBBackend.transact_write_items is original and models.copy is copy


def test_the_patch_refuses_another_moto_version(monkeypatch):
    import wsctl.local.moto_patches as patches

    monkeypatch.setattr(patches, "version", lambda name: "5.9.0")
    with pytest.raises(RuntimeError, match="written for moto 5.2.5"):
        patches.patch_transactions()


# --- queries and scans ------------------------------------------------------------------------------

def _under_both(scenario) -> tuple:
    """The scenario's answers from unpatched moto and from the patched one, each on a fresh account."""
    answers = []
    for patched in (False, True):
        undo = patch_emulator() if patched else None
        try:
            with mock_aws():
                answers.append(scenario(boto3.client("dynamodb", region_name=REGION)))
        finally:
            if undo is not None:
                undo()
    return tuple(answers)


def _pages(call, **kwargs) -> list[dict]:
    """Every page, following LastEvaluatedKey; bounded, since a wrong order can page in circles."""
    pages = []
    for _ in range(20):
        page = call(**kwargs)
        pages.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError("still paging after 20 pages")


def test_index_queries_and_paged_scans_answer_the_same_items_in_the_same_order():
    def scenario(client):
        create_connections_table(client)
        for n in (7, 3, 11, 0, 42, 5, 19, 23, 2, 8):
            client.put_item(TableName=TABLE, Item={
                "connectionId": {"S": f"c{n}"}, "userId": {"S": f"u{n % 3}"}, "expiryBucket": {"S": "exp#1"},
                "tokenExpiresAt": {"N": str(1000 - n)}})
        client.put_item(TableName=TABLE, Item={"connectionId": {"S": "#counter"}, "active": {"N": "10"}})
        return (_pages(client.scan, TableName=TABLE, Limit=3),
                _pages(client.query, TableName=TABLE, IndexName="byUser", Limit=2,
                       KeyConditionExpression="userId = :u", ExpressionAttributeValues={":u": {"S": "u1"}}),
                client.query(TableName=TABLE, IndexName="byUser", Select="COUNT", KeyConditionExpression="userId = :u",
                             ExpressionAttributeValues={":u": {"S": "u2"}})["Count"],
                _pages(client.query, TableName=TABLE, IndexName="byTokenExpiry", Limit=4,
                       KeyConditionExpression="expiryBucket = :b AND tokenExpiresAt <= :t",
                       ExpressionAttributeValues={":b": {"S": "exp#1"}, ":t": {"N": "995"}}))

    moto, patched = _under_both(scenario)
    assert moto == patched
    assert patched[2] == 5 and sum(len(page["Items"]) for page in patched[0]) == 11


def test_number_hash_keys_and_range_keys_keep_their_order():
    def scenario(client):
        client.create_table(TableName="numbers", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}])
        for pk, sk in ((10, "b"), (2, "z"), (10, "a"), (-1, "m"), (2.5, "q"), (2, "a")):
            client.put_item(TableName="numbers", Item={"pk": {"N": str(pk)}, "sk": {"S": sk}, "flag": {"BOOL": pk > 2}})
        return (_pages(client.scan, TableName="numbers", Limit=4),
                client.scan(TableName="numbers", FilterExpression="flag = :t",
                            ExpressionAttributeValues={":t": {"BOOL": True}})["Items"],
                client.query(TableName="numbers", KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"N": "2"}})["Items"])

    moto, patched = _under_both(scenario)
    assert moto == patched
    keys = [(item["pk"]["N"], item["sk"]["S"]) for page in patched[0] for item in page["Items"]]
    assert keys == [("-1", "m"), ("2", "a"), ("2", "z"), ("2.5", "q"), ("10", "a"), ("10", "b")]


def test_the_query_patch_is_removable_and_refuses_to_stack():
    from moto.dynamodb.models.dynamo_type import DynamoType

    originals = [DynamoType.__dict__[name] for name in ("cast_value", "__eq__", "__ne__")]
    original_all_items, original_query = Table.all_items, Table.query
    undo = patch_queries()
    try:
        with pytest.raises(RuntimeError, match="already patched"):
            patch_queries()
    finally:
        undo()
    assert [DynamoType.__dict__[name] for name in ("cast_value", "__eq__", "__ne__")] == originals
    assert (Table.all_items, Table.query) == (original_all_items, original_query)
