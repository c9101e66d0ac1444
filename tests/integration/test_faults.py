"""Fault tests: DynamoDB throttling on connect, @connections 410/429/500 during broadcast, 30 % stale
connections, duplicate SQS delivery, counter drift. Real boto3 clients: DynamoDB/SQS under moto,
@connections served on 127.0.0.1 — through the runtime notifier and through boto3's client."""

from __future__ import annotations

import io
import json
import random
import threading

import pytest
from realtime.adapters.apigateway import ApiGatewayNotifier
from realtime.adapters.aws import management_api_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.adapters.management_api import ManagementApiNotifier
from realtime.adapters.memory import FakeClock, InMemoryNotificationLog
from realtime.adapters.sqs import SqsQueuePublisher
from realtime.events import QueueMessage
from realtime.messages import BroadcastRequest
from realtime.observability import Logger, Metrics
from realtime.ports import Connection
from realtime.services.broadcast import BroadcastService
from realtime.services.connections import ConnectionService
from realtime.services.fan_out import FanOut, RetryPolicy
from realtime.services.sweeper import SweeperService

from tests.integration.aws import FlakyClient, SerializedClient
from tests.integration.connections_endpoint import ConnectionsEndpoint

NOW = 1_750_000_000
FAST_RETRY = RetryPolicy(max_attempts=4, base_seconds=0.001, cap_seconds=0.01)


@pytest.fixture
def telemetry():
    stream = io.StringIO()
    return Logger("fault-test", "DEBUG", stream), Metrics("Realtime/test", stream), stream


@pytest.fixture
def endpoint():
    with ConnectionsEndpoint() as served:
        yield served


@pytest.fixture(params=["runtime", "boto3"])
def notifier_for(request):
    """Builds the @connections notifier for an endpoint URL: the handlers' own, or boto3's."""
    def build(url: str, concurrency: int = 10):
        if request.param == "boto3":
            return ApiGatewayNotifier(management_api_client(url, concurrency))
        return ManagementApiNotifier.from_environment(url, concurrency)
    return build


def seed(store, endpoint, count, users=("alice", "bob")):
    ids = [f"conn-{index:03d}" for index in range(count)]
    for index, connection_id in enumerate(ids):
        store.add(Connection(connection_id, users[index % len(users)], NOW, NOW + 3600),
                  global_limit=10_000, per_user_limit=10_000)
        endpoint.open.add(connection_id)
    return ids


def broadcast_service(aws, store, endpoint, telemetry, notifier_for, concurrency=8, scan_segments=1):
    logger, metrics, _ = telemetry
    notifier = notifier_for(endpoint.url, concurrency)
    fan_out = FanOut(notifier, store, concurrency=concurrency, retry=FAST_RETRY, rng=random.Random(1))
    return BroadcastService(store, fan_out, SqsQueuePublisher(aws.sqs, aws.queue_url), FakeClock(NOW), logger,
                            metrics, scan_segments=scan_segments, announcement_interval_seconds=60,
                            log=InMemoryNotificationLog(), retention_seconds=86_400)


def users_request(request_id="evt-1") -> BroadcastRequest:
    return BroadcastRequest.model_validate({"id": request_id, "target": {"userIds": ["alice", "bob"]},
                                            "notification": {"kind": "set.created", "title": "New set"}})


# --- DynamoDB throttling on connect -----------------------------------------------------------------

@pytest.mark.parametrize("operation, code, reasons", [
    ("transact_write_items", "ProvisionedThroughputExceededException", None),
    ("transact_write_items", "ThrottlingException", None),
    ("transact_write_items", "TransactionCanceledException", [{"Code": "ThrottlingError"}, {"Code": "None"}]),
    ("get_item", "ProvisionedThroughputExceededException", None),  # the membership read
])
def test_throttled_connect_is_refused_with_503_and_writes_nothing(aws, telemetry, operation, code, reasons):
    flaky = FlakyClient(aws.dynamodb, operation, code, times=10, reasons=reasons)
    logger, metrics, stream = telemetry
    service = ConnectionService(DynamoConnectionStore(flaky, aws.table), FakeClock(NOW), logger, metrics,
                                global_limit=100, per_user_limit=5)

    outcome = service.connect("c1", "alice", NOW + 3600)

    assert outcome.status_code == 503
    assert aws.dynamodb.scan(TableName=aws.table)["Items"] == []
    metrics.flush()
    assert '"ConnectionsRefused":1' in stream.getvalue()


def test_transaction_conflicts_on_the_counter_are_retried(aws, telemetry):
    flaky = FlakyClient(aws.dynamodb, "transact_write_items", "TransactionCanceledException", times=2,
                        reasons=[{"Code": "TransactionConflict"}, {"Code": "None"}])
    logger, metrics, _ = telemetry
    store = DynamoConnectionStore(flaky, aws.table, sleep=lambda s: None)
    service = ConnectionService(store, FakeClock(NOW), logger, metrics, global_limit=100, per_user_limit=5)

    assert service.connect("c1", "alice", NOW + 3600).status_code == 200
    assert flaky.calls == 3 and store.active_count() == 1 and store.get("c1") is not None


def test_concurrent_connects_never_exceed_the_global_limit(aws, telemetry):
    logger, metrics, _ = telemetry
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table)
    service = ConnectionService(store, FakeClock(NOW), logger, metrics, global_limit=10, per_user_limit=100)
    statuses: list[int] = []

    def connect(index: int) -> None:
        statuses.append(service.connect(f"c{index}", f"user-{index}", NOW + 3600).status_code)

    threads = [threading.Thread(target=connect, args=(index,)) for index in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses.count(200) == 10 == store.count_connections() == store.active_count()
    assert set(statuses) <= {200, 503}


# --- @connections faults during broadcast ------------------------------------------------------------

def test_410_429_500_during_broadcast(aws, endpoint, telemetry, notifier_for):
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table)
    ids = seed(store, endpoint, 10)
    for gone in ids[:3]:
        endpoint.open.discard(gone)
    endpoint.script[ids[3]] = [429, 429]
    endpoint.script[ids[4]] = [429]
    endpoint.always[ids[5]] = 500

    outcome = broadcast_service(aws, store, endpoint, telemetry, notifier_for).process(users_request(), lambda: 900_000)

    # 3 retries on throttling, and the always-500 connection is retried too (ADR 0019) before it counts as failed
    unavailable_retries = FAST_RETRY.max_unavailable_attempts - 1
    assert outcome.report.as_dict() == {"sent": 6, "gone": 3, "failed": 1, "retried": 3 + unavailable_retries}
    assert sorted(endpoint.received) == sorted(ids[3:5] + ids[6:])
    assert sorted(store.connections_of_users(["alice", "bob"])) == sorted(ids[3:])
    assert store.active_count() == 7
    _, metrics, stream = telemetry
    metrics.flush()
    document = json.loads(stream.getvalue().splitlines()[-1])
    assert (document["BroadcastSent"], document["BroadcastGone"], document["DeliveryFailures"],
            document["BroadcastRetried"]) == (6, 3, 1, 3 + unavailable_retries)


def test_thirty_percent_stale_connections(aws, endpoint, telemetry, notifier_for):
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table)
    ids = seed(store, endpoint, 60)
    stale = set(random.Random(3).sample(ids, 18))
    endpoint.open -= stale

    outcome = broadcast_service(aws, store, endpoint, telemetry, notifier_for, concurrency=16).process(
        users_request(), lambda: 900_000)

    assert outcome.report.as_dict() == {"sent": 42, "gone": 18, "failed": 0, "retried": 0}
    assert set(store.connections_of_users(["alice", "bob"])) == set(ids) - stale
    assert store.active_count() == store.count_connections() == 42
    assert set(endpoint.received) == set(ids) - stale


def test_global_broadcast_through_the_queue_reaches_everyone_once(aws, endpoint, telemetry, notifier_for):
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table, scan_page_size=5)
    ids = seed(store, endpoint, 33)
    service = broadcast_service(aws, store, endpoint, telemetry, notifier_for, scan_segments=3)
    root = BroadcastRequest.model_validate({"id": "ann-1", "target": {"all": True}, "notification": {
        "kind": "system.announcement", "title": "Maintenance"}})

    assert service.process(root, lambda: 900_000).status == "split"
    jobs = [m["Body"] for m in aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]]
    assert service.process_batch([QueueMessage(f"m{i}", body, 1) for i, body in enumerate(jobs)],
                                 lambda: 900_000) == []

    assert len(jobs) == 3
    assert {cid: len(frames) for cid, frames in endpoint.received.items()} == {cid: 1 for cid in ids}


# --- duplicate SQS delivery ---------------------------------------------------------------------------

def test_duplicate_delivery_sequential_and_concurrent(aws, endpoint, telemetry, notifier_for):
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table)
    ids = seed(store, endpoint, 12)
    endpoint.latency = 0.02  # keep the first delivery in flight while the duplicate arrives
    body = users_request("evt-dup").model_dump_json()
    failures: list[list[str]] = []

    def deliver(message_id: str) -> None:
        service = broadcast_service(aws, store, endpoint, telemetry, notifier_for)
        failures.append(service.process_batch([QueueMessage(message_id, body, 1)], lambda: 900_000))

    threads = [threading.Thread(target=deliver, args=(f"copy-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver("copy-late")  # redelivered after completion

    assert {cid: len(frames) for cid, frames in endpoint.received.items()} == {cid: 1 for cid in ids}
    # One copy ran; a concurrent copy was handed back to SQS (in progress); the late one was a no-op.
    assert sorted(len(f) for f in failures) == [0, 0, 1]


# --- counter drift --------------------------------------------------------------------------------------

@pytest.mark.parametrize("drift", [+6, -4])
def test_sweeper_reconciles_counter_drift(aws, endpoint, telemetry, drift, notifier_for):
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table)
    seed(store, endpoint, 9)
    store.adjust_counter(drift)  # e.g. rows expired by TTL, or a crash between row and counter in old code
    logger, metrics, _ = telemetry
    sweeper = SweeperService(store, notifier_for(endpoint.url), FakeClock(NOW),
                             logger, metrics, global_limit=100)

    report = sweeper.run()

    assert (report.drift, report.active) == (-drift, 9)
    assert store.active_count() == 9
    assert sweeper.run().drift == 0


def test_sweeper_closes_expired_and_removes_gone_rows_over_http(aws, endpoint, telemetry, notifier_for):
    store = DynamoConnectionStore(SerializedClient(aws.dynamodb), aws.table)
    for connection_id, expires in [("expired-open", NOW - 20), ("expired-gone", NOW - 50), ("valid", NOW + 600)]:
        store.add(Connection(connection_id, "alice", NOW - 3000, expires), global_limit=100, per_user_limit=100)
    endpoint.open |= {"expired-open", "valid"}
    logger, metrics, _ = telemetry
    sweeper = SweeperService(store, notifier_for(endpoint.url), FakeClock(NOW),
                             logger, metrics, global_limit=100)

    report = sweeper.run("sweep-1")

    assert (report.closed, report.stale_removed, report.active) == (1, 1, 1)
    assert endpoint.closed == ["expired-open"]
    assert endpoint.received["expired-open"][0]["data"]["code"] == "TOKEN_EXPIRED"
    assert store.get("expired-open") is None and store.get("expired-gone") is None and store.get("valid")
