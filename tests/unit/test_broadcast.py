"""Broadcast fan-out on in-memory adapters: targets, Gone cleanup, throttling backoff, idempotency,
segment jobs, continuation, announcement limit."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from realtime.adapters.memory import InMemoryNotificationLog
from realtime.errors import DeliveryFailed, Throttled
from realtime.events import QueueMessage
from realtime.messages import BroadcastRequest, validate_server_message
from realtime.ports import Connection
from realtime.services.broadcast import BroadcastService, idempotency_key
from realtime.services.fan_out import FanOut, RetryPolicy

from tests.unit.tokens import NOW


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)


def connect(store, count, users=None):
    for index in range(count):
        user = users[index % len(users)] if users else f"user-{index}"
        store.add(Connection(f"c{index:04d}", user, NOW, NOW + 3600), global_limit=10**6, per_user_limit=10**6)


def request(target, request_id="req-1", **extra) -> BroadcastRequest:
    return BroadcastRequest.model_validate({"id": request_id, "target": target, **extra, "notification": {
        "kind": "system.announcement" if "all" in target else "moc.upload.completed", "title": "Hello"}})


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def make_service(store, notifier, queue, clock, telemetry, sleeps):
    def make(scan_segments=1, interval=60, concurrency=8, min_remaining=20_000):
        fan_out = FanOut(notifier, store, concurrency=concurrency, sleep=sleeps, rng=random.Random(7))
        return BroadcastService(store, fan_out, queue, clock, telemetry.logger, telemetry.metrics,
                                scan_segments=scan_segments, announcement_interval_seconds=interval,
                                log=InMemoryNotificationLog(), retention_seconds=86_400,
                                min_remaining_millis=min_remaining)
    return make


def plenty():
    return 900_000


def test_user_target_reaches_every_connection_of_those_users_only(make_service, store, notifier, telemetry):
    connect(store, 6, users=["alice", "bob", "carol"])  # alice: c0000, c0003; bob: c0001, c0004

    outcome = make_service().process(request({"userIds": ["alice", "bob"]}), plenty)

    assert sorted(notifier.sent) == ["c0000", "c0001", "c0003", "c0004"]
    frame = json.loads(notifier.sent["c0000"][0])
    validate_server_message(frame)
    assert frame["id"] == "req-1" and frame["data"]["title"] == "Hello"
    assert outcome.report.as_dict() == {"sent": 4, "gone": 0, "failed": 0, "retried": 0}
    assert telemetry.metric_values() == {"BroadcastSent": 4, "BroadcastGone": 0, "DeliveryFailures": 0,
                                         "BroadcastRetried": 0, "NotificationsStored": 2}


def test_gone_connections_are_removed_and_the_counter_follows(make_service, store, notifier):
    connect(store, 10, users=["alice"])
    stale = {f"c{index:04d}" for index in (1, 4, 7)}
    notifier.gone.update(stale)

    outcome = make_service().process(request({"userIds": ["alice"]}), plenty)

    assert outcome.report.as_dict() == {"sent": 7, "gone": 3, "failed": 0, "retried": 0}
    assert stale.isdisjoint(store.rows) and len(store.rows) == 7 and store.counter == 7


def test_throttling_is_retried_with_jittered_exponential_backoff(make_service, store, notifier, sleeps):
    connect(store, 3, users=["alice"])
    notifier.faults["c0001"] = [Throttled("429"), Throttled("429"), Throttled("LimitExceededException")]

    outcome = make_service().process(request({"userIds": ["alice"]}), plenty)

    assert outcome.report.as_dict() == {"sent": 3, "gone": 0, "failed": 0, "retried": 3}
    policy = RetryPolicy()
    assert len(sleeps.calls) == 3
    for retry, slept in enumerate(sleeps.calls):
        assert 0 <= slept <= policy.base_seconds * 2 ** retry


def test_throttling_beyond_max_attempts_and_other_errors_count_as_failed(make_service, store, notifier):
    connect(store, 4, users=["alice"])
    notifier.faults["c0000"] = [Throttled("429")] * 10
    notifier.faults["c0001"] = [DeliveryFailed("ForbiddenException (403)")]  # a 4xx: not retried
    notifier.faults["c0002"] = [RuntimeError("socket closed")]

    outcome = make_service().process(request({"userIds": ["alice"]}), plenty)

    assert outcome.report.as_dict() == {"sent": 1, "gone": 0, "failed": 3, "retried": RetryPolicy().max_attempts - 1}
    assert list(notifier.sent) == ["c0003"]
    assert len(store.rows) == 4  # failures are not removals


def test_concurrency_is_bounded_by_the_pool(make_service, store, notifier):
    connect(store, 40, users=["alice"])
    active = {"now": 0, "max": 0}
    lock = threading.Lock()
    real_send = notifier.send

    def slow_send(connection_id, payload):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.01)
        with lock:
            active["now"] -= 1
        real_send(connection_id, payload)

    notifier.send = slow_send

    outcome = make_service(concurrency=4).process(request({"userIds": ["alice"]}), plenty)

    assert outcome.report.sent == 40
    assert 2 <= active["max"] <= 4


def test_redelivered_request_is_not_broadcast_again(make_service, store, notifier, telemetry):
    connect(store, 2, users=["alice"])
    service = make_service()

    first = service.process(request({"userIds": ["alice"]}), plenty)
    second = service.process(request({"userIds": ["alice"]}), plenty)

    assert (first.status, second.status) == ("delivered", "duplicate")
    assert [len(notifier.messages(cid)) for cid in ("c0000", "c0001")] == [1, 1]


def test_request_claimed_by_another_invocation_is_returned_as_batch_failure(make_service, store, notifier, clock):
    connect(store, 1, users=["alice"])
    req = request({"userIds": ["alice"]})
    store.claim_request(idempotency_key(req), int(clock.now()), 300)
    body = req.model_dump_json()

    failures = make_service().process_batch([QueueMessage("m-1", body, 2)], plenty)

    assert failures == ["m-1"] and notifier.sent == {}

    clock.advance(301)  # the other invocation crashed: its lease ran out
    assert make_service().process_batch([QueueMessage("m-1", body, 3)], plenty) == []
    assert list(notifier.sent) == ["c0000"]


def test_failure_releases_the_claim_so_a_retry_can_run(make_service, store, notifier):
    connect(store, 1, users=["alice"])
    service = make_service()
    real = store.connections_by_user
    store.connections_by_user = lambda ids: (_ for _ in ()).throw(Throttled("query"))
    body = request({"userIds": ["alice"]}).model_dump_json()

    assert service.process_batch([QueueMessage("m-1", body, 1)], plenty) == ["m-1"]

    store.connections_by_user = real
    assert service.process_batch([QueueMessage("m-1", body, 2)], plenty) == []
    assert list(notifier.sent) == ["c0000"]


def test_invalid_records_fail_alone(make_service, store, notifier):
    connect(store, 1, users=["alice"])
    good = request({"userIds": ["alice"]}).model_dump_json()

    failures = make_service().process_batch(
        [QueueMessage("bad-json", "{", 1), QueueMessage("bad-shape", '{"id":"x"}', 1), QueueMessage("ok", good, 1)],
        plenty)

    assert failures == ["bad-json", "bad-shape"]
    assert list(notifier.sent) == ["c0000"]


def test_global_broadcast_is_split_into_segment_jobs(make_service, store, notifier, queue):
    connect(store, 10)

    outcome = make_service(scan_segments=4).process(request({"all": True}), plenty)

    assert (outcome.status, outcome.jobs) == ("split", 4)
    assert notifier.sent == {}
    jobs = [BroadcastRequest.model_validate_json(body) for body in queue.bodies]
    assert [(job.segment.index, job.segment.total) for job in jobs] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert {job.id for job in jobs} == {"req-1"}


def test_segment_jobs_together_reach_every_connection_exactly_once(make_service, store, notifier, queue):
    connect(store, 25)
    service = make_service(scan_segments=3)
    service.process(request({"all": True}), plenty)

    while queue.bodies:
        job = queue.bodies.pop(0)
        assert service.process_batch([QueueMessage("m", job, 1)], plenty) == []

    assert sorted(notifier.sent) == sorted(store.rows)
    assert all(len(payloads) == 1 for payloads in notifier.sent.values())


def test_a_segment_out_of_time_requeues_its_remainder_with_a_cursor(make_service, store, notifier, queue):
    connect(store, 10)  # page size 3 -> 4 pages
    service = make_service(scan_segments=1, min_remaining=20_000)
    budget = iter([25_000, 10_000] + [900_000] * 10)

    outcome = service.process(request({"all": True}), lambda: next(budget))

    assert (outcome.status, outcome.report.sent) == ("continued", 6)
    [continuation] = [BroadcastRequest.model_validate_json(body) for body in queue.bodies]
    assert continuation.cursor is not None and continuation.segment.total == 1

    queue.bodies.clear()
    rest = service.process(continuation, plenty)
    assert (rest.status, rest.report.sent) == ("delivered", 4)
    assert sorted(notifier.sent) == sorted(store.rows)


def test_global_announcements_are_limited_per_interval(make_service, store, notifier, clock, telemetry):
    connect(store, 2)
    service = make_service(scan_segments=1, interval=60)

    first = service.process(request({"all": True}, "ann-1"), plenty)
    clock.advance(30)
    second = service.process(request({"all": True}, "ann-2"), plenty)
    clock.advance(31)
    third = service.process(request({"all": True}, "ann-3"), plenty)

    assert [first.status, second.status, third.status] == ["delivered", "rejected", "delivered"]
    assert [len(notifier.messages(cid)) for cid in ("c0000", "c0001")] == [2, 2]
    assert telemetry.metric_values()["AnnouncementsRejected"] == 1
    # A rejected request is final: its redelivery is a duplicate, not a second attempt.
    assert service.process(request({"all": True}, "ann-2"), plenty).status == "duplicate"


def test_thirty_percent_stale_mix(make_service, store, notifier, telemetry):
    connect(store, 100, users=["alice", "bob"])
    stale = {cid for index, cid in enumerate(sorted(store.rows)) if index % 10 < 3}
    notifier.gone.update(stale)

    outcome = make_service(concurrency=16).process(request({"userIds": ["alice", "bob"]}), plenty)

    assert outcome.report.as_dict() == {"sent": 70, "gone": 30, "failed": 0, "retried": 0}
    assert set(store.rows) == {f"c{index:04d}" for index in range(100)} - stale
    assert store.counter == 70
    assert telemetry.metric_values()["BroadcastGone"] == 30


def test_a_failing_gone_removal_does_not_stop_the_fan_out(make_service, store, notifier):
    connect(store, 5, users=["alice"])
    notifier.gone.update({"c0001", "c0002"})
    store.remove_stale = lambda connection_id, connected_before: (_ for _ in ()).throw(RuntimeError("store down"))

    outcome = make_service().process(request({"userIds": ["alice"]}), plenty)

    assert outcome.report.as_dict() == {"sent": 3, "gone": 2, "failed": 0, "retried": 0}
    assert outcome.report.failed_removals == 2
