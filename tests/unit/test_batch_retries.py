"""batch_until_processed: what BatchGetItem/BatchWriteItem leave unprocessed is sent again, with
backoff, and a batch that never drains is Throttled rather than silently dropped."""

from __future__ import annotations

import random

import pytest
from realtime.adapters.dynamodb import BATCH_ATTEMPTS, DynamoConnectionStore, batch_until_processed
from realtime.adapters.notification_log import DynamoNotificationLog
from realtime.errors import Throttled


class Unprocessing:
    """A batch call that leaves the last item of each request unprocessed, ``stubborn`` times."""

    def __init__(self, stubborn: int, key: str):
        self.stubborn = stubborn
        self.key = key
        self.requests: list[dict] = []

    def __call__(self, request: dict) -> dict:
        self.requests.append(request)
        if len(self.requests) > self.stubborn:
            return {"Responses": {}, self.key: {}}
        ((table, items),) = request.items()
        return {"Responses": {}, self.key: {table: items[-1:] if isinstance(items, list) else items}}


def test_the_unprocessed_part_is_sent_again_until_nothing_is_left():
    sleeps: list[float] = []
    call = Unprocessing(stubborn=2, key="UnprocessedItems")

    responses = list(batch_until_processed(call, {"t": [1, 2, 3]}, "UnprocessedItems", sleeps.append,
                                           random.Random(7), "writes"))

    assert len(responses) == 3
    assert call.requests == [{"t": [1, 2, 3]}, {"t": [3]}, {"t": [3]}]
    assert len(sleeps) == 2 and all(0 <= s <= 0.1 for s in sleeps)


def test_a_batch_that_never_drains_is_throttled_after_the_last_attempt():
    call = Unprocessing(stubborn=10 ** 6, key="UnprocessedKeys")

    with pytest.raises(Throttled, match="reads unprocessed"):
        list(batch_until_processed(call, {"t": {"Keys": [1]}}, "UnprocessedKeys", lambda _: None,
                                   random.Random(7), "reads"))
    assert len(call.requests) == BATCH_ATTEMPTS


class FakeClient:
    def __init__(self, stubborn: int):
        self.writes = Unprocessing(stubborn, "UnprocessedItems")
        self.reads = Unprocessing(stubborn, "UnprocessedKeys")

    def batch_write_item(self, RequestItems):  # noqa: N803 - botocore's parameter name
        return self.writes(RequestItems)

    def batch_get_item(self, RequestItems):  # noqa: N803
        return self.reads(RequestItems)

    # What a purge needs around its batched deletes: a stream without a head, one stored entry.
    def get_item(self, **_kwargs):
        return {}

    def query(self, **_kwargs):
        return {"Items": [{"userId": {"S": "u1"}, "cursor": {"S": "o00000000000000000001"}}]}


def test_both_adapters_retry_through_it():
    log_client, store_client = FakeClient(stubborn=1), FakeClient(stubborn=1)

    DynamoNotificationLog(log_client, "log", sleep=lambda _: None).purge("u1")
    DynamoConnectionStore(store_client, "conn", sleep=lambda _: None)._members_of(["u1"])

    assert len(log_client.writes.requests) == 2 and len(store_client.reads.requests) == 2
    with pytest.raises(Throttled):
        DynamoNotificationLog(FakeClient(stubborn=10 ** 6), "log", sleep=lambda _: None).purge("u1")


class ContendedWindow:
    """A row that exists but whose rate window every update loses to a concurrent message."""

    def __init__(self, row_exists: bool):
        self.row_exists = row_exists

    def update_item(self, **_kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")

    def get_item(self, **_kwargs):
        return {"Item": {"connectionId": {"S": "c1"}, "userId": {"S": "u1"}, "connectedAt": {"N": "1"},
                         "tokenExpiresAt": {"N": "2"}}} if self.row_exists else {}


def test_count_message_says_none_only_when_the_row_is_gone():
    # A missing row is None (the caller answers CONNECTION_UNKNOWN and closes); a row that exists but kept
    # losing its window to concurrent messages is an error (INTERNAL_ERROR), never "unknown".
    # (negative control, verified: returning None after the rounds closes a live connection here)
    from realtime.errors import StoreUnavailable

    assert DynamoConnectionStore(ContendedWindow(row_exists=False), "t").count_message("c1", 5) is None
    with pytest.raises(StoreUnavailable):
        DynamoConnectionStore(ContendedWindow(row_exists=True), "t").count_message("c1", 5)
