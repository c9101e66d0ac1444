"""Broadcast (SQS event) and sweeper (scheduled event) handlers against moto."""

from __future__ import annotations

import json
import time

import pytest

from tests.handlers.conftest import (
    LambdaContext,
    connect_event,
    counter,
    emf,
    import_handler,
    load_event,
    row,
)
from tests.integration.aws import receive_all


@pytest.fixture
def connected(aws):
    """alice: 2 tabs, bob: 1, carol: 1 (GLOBAL_CONNECTION_LIMIT=5)."""
    connect = import_handler("connect")
    future = int(time.time()) + 3600
    for connection_id, user in [("a1", "user-1"), ("a2", "user-1"), ("b1", "user-2"), ("c1", "user-3")]:
        assert connect.handler(connect_event(connection_id, user, future), LambdaContext())["statusCode"] == 200
    return aws


def sqs_event(*bodies: str) -> dict:
    template = load_event("sqs_broadcast")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = json.loads(json.dumps(template))
        record.update(messageId=f"m-{index}", body=body)
        records.append(record)
    return {"Records": records}


def test_documented_sqs_batch_reaches_users_and_splits_the_announcement(connected, notifier, capsys):
    broadcast = import_handler("broadcast")
    broadcast.SERVICE.fan_out.notifier = notifier

    response = broadcast.handler(load_event("sqs_broadcast"), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert sorted(notifier.sent) == ["a1", "a2", "b1"]
    frame = json.loads(notifier.sent["a1"][0])
    assert frame["id"] == "moc-42-finalized" and frame["data"]["kind"] == "moc.finalized"
    jobs = receive_all(connected.sqs, connected.queue_url)  # BROADCAST_SCAN_SEGMENTS=2
    assert sorted(json.loads(job)["segment"]["index"] for job in jobs) == [0, 1]
    assert emf(capsys.readouterr().out)["BroadcastSent"] == 3

    response = broadcast.handler(sqs_event(*jobs), LambdaContext())

    assert response == {"batchItemFailures": []}
    announcements = {cid for cid, payloads in notifier.sent.items()
                     if any(json.loads(p)["data"]["kind"] == "system.announcement" for p in payloads)}
    assert announcements == {"a1", "a2", "b1", "c1"}


def test_redelivered_batch_sends_nothing_twice(connected, notifier):
    broadcast = import_handler("broadcast")
    broadcast.SERVICE.fan_out.notifier = notifier
    event = load_event("sqs_broadcast")

    broadcast.handler(event, LambdaContext())
    jobs = receive_all(connected.sqs, connected.queue_url)
    broadcast.handler(event, LambdaContext())  # SQS redelivers the same batch

    assert [len(notifier.messages(cid)) for cid in ("a1", "a2", "b1", "c1")] == [1, 1, 1, 0]
    assert receive_all(connected.sqs, connected.queue_url) == []  # no second split
    assert len(jobs) == 2


def test_gone_connections_are_cleaned_during_broadcast(connected, notifier):
    # GIVEN a2 connected a minute ago and gone since; b1 connected just now and still inside $connect
    broadcast = import_handler("broadcast")
    broadcast.SERVICE.fan_out.notifier = notifier
    connected.dynamodb.update_item(TableName=connected.table, Key={"connectionId": {"S": "a2"}},
                                   UpdateExpression="SET connectedAt = :t",
                                   ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 60)}})
    notifier.gone.add("a2")
    notifier.opening.add("b1")

    # WHEN the broadcast posts to them and API Gateway answers 410 for both
    broadcast.handler(sqs_event(load_event("sqs_broadcast")["Records"][0]["body"]), LambdaContext())

    # THEN the old row is removed (counter follows); the young one is kept: it is about to open
    assert row(connected, "a2") is None and row(connected, "b1") is not None and counter(connected) == 3
    assert sorted(notifier.sent) == ["a1"]


def test_invalid_record_is_a_batch_item_failure(connected, notifier):
    broadcast = import_handler("broadcast")
    broadcast.SERVICE.fan_out.notifier = notifier
    good = load_event("sqs_broadcast")["Records"][0]["body"]

    response = broadcast.handler(sqs_event('{"id": "no-target"}', good), LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert sorted(notifier.sent) == ["a1", "a2", "b1"]


def test_sweeper_closes_expired_tokens_and_reconciles(aws, notifier, capsys):
    connect = import_handler("connect")
    now = int(time.time())
    connect.handler(connect_event("fresh", "user-1", now + 3600), LambdaContext())
    connect.handler(connect_event("expired", "user-2", now - 30), LambdaContext())
    aws.dynamodb.update_item(TableName=aws.table, Key={"connectionId": {"S": "#counter"}},
                             UpdateExpression="ADD active :d", ExpressionAttributeValues={":d": {"N": "4"}})
    sweeper = import_handler("sweeper")
    sweeper.SERVICE.notifier = notifier

    report = sweeper.handler(load_event("sweeper_schedule"), LambdaContext())

    assert (report["closed"], report["drift"], report["active"]) == (1, -4, 1)
    assert notifier.closed == ["expired"]
    assert json.loads(notifier.sent["expired"][0])["data"]["code"] == "TOKEN_EXPIRED"
    assert row(aws, "expired") is None and row(aws, "fresh") is not None and counter(aws) == 1
    metrics = emf(capsys.readouterr().out)
    assert (metrics["TokensExpired"], metrics["CounterDrift"]) == (1, 4)
