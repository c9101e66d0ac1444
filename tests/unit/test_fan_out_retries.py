"""Fan-out retries of failed @connections posts (ADR 0019): 5xx and timeouts are retried like throttling,
with exponential backoff and full jitter, bounded by the invocation's remaining time; what still fails is
counted and logged with the connection id, never the payload; 4xx and 410 keep their handling.

Negative controls: ``test_without_retries_the_same_faults_lose_the_delivery`` runs the same faults
through a policy with one attempt and shows the delivery lost; and removing the ``DeliveryUnavailable``
branch of ``FanOut._one`` (checked when this was written) fails every test here that expects a retry.
"""

from __future__ import annotations

import random
import threading

import pytest
from realtime.adapters.memory import FakeClock, InMemoryConnectionStore, RecordingNotifier
from realtime.errors import DeliveryFailed, DeliveryUnavailable, Throttled
from realtime.ports import CONNECT_GRACE_SECONDS, Connection
from realtime.services.fan_out import FanOut, RetryPolicy

from tests.unit.tokens import NOW

PAYLOAD = b'{"type":"notification","data":{"title":"secret-title-42"}}'


class Invocation:
    """A Lambda invocation on a fake clock: ``remaining_millis`` like the context's, ``sleep`` advances time."""

    def __init__(self, clock: FakeClock, budget_seconds: float):
        self.clock = clock
        self.deadline = clock.now() + budget_seconds
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def remaining_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()) * 1000))

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.clock.advance(seconds)


class SlowTimeouts(RecordingNotifier):
    """Each ``DeliveryUnavailable('timeout')`` fault costs the read timeout on the clock, as a real one does."""

    def __init__(self, clock: FakeClock, timeout_seconds: float = 5.0):
        super().__init__()
        self.clock = clock
        self.timeout_seconds = timeout_seconds

    def send(self, connection_id: str, payload: bytes) -> None:
        pending = self.faults.get(connection_id)
        if pending and isinstance(pending[0], DeliveryUnavailable) and "timeout" in str(pending[0]):
            self.clock.advance(self.timeout_seconds)
        super().send(connection_id, payload)


@pytest.fixture
def world(telemetry):
    clock = FakeClock(float(NOW))
    store = InMemoryConnectionStore()
    for index in range(4):
        store.add(Connection(f"c{index}", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=100)
    return clock, store


def fan_out(notifier, store, invocation, telemetry, policy=RetryPolicy()):
    return FanOut(notifier, store, concurrency=2, retry=policy, sleep=invocation.sleep, rng=random.Random(3),
                  clock=invocation.clock.now, logger=telemetry.logger, metrics=telemetry.metrics)


def test_a_500_and_a_timeout_are_retried_and_delivered(world, telemetry):
    # GIVEN a post to c1 that answers 500 once and one to c2 that times out twice
    clock, store = world
    notifier = SlowTimeouts(clock)
    notifier.faults["c1"] = [DeliveryUnavailable("InternalServerErrorException (500)")]
    notifier.faults["c2"] = [DeliveryUnavailable("POST 127.0.0.1: timeout")] * 2
    invocation = Invocation(clock, budget_seconds=60)

    # WHEN the fan-out delivers to all four connections
    report = fan_out(notifier, store, invocation, telemetry).deliver(["c0", "c1", "c2", "c3"], PAYLOAD,
                                                                      invocation.remaining_millis)

    # THEN every connection has it once, three retries happened with jittered exponential backoff
    assert sorted(notifier.sent) == ["c0", "c1", "c2", "c3"]
    assert all(len(frames) == 1 for frames in notifier.sent.values())
    assert report.as_dict() == {"sent": 4, "gone": 0, "failed": 0, "retried": 3}
    policy = RetryPolicy()
    assert len(invocation.sleeps) == 3
    assert all(0 <= slept <= policy.cap_seconds for slept in invocation.sleeps)
    # AND they are counted: DeliveryRetried (5xx/timeouts), DeliveryRecovered (connections), no failures
    metrics = telemetry.metric_values()
    assert metrics["DeliveryRetried"] == 3 and metrics["DeliveryRecovered"] == 2
    assert metrics["DeliveryRetriesCutShort"] == 0


def test_without_retries_the_same_faults_lose_the_delivery(world, telemetry):
    """Negative control: the faults above, through a fan-out that does not retry unavailability."""
    clock, store = world
    notifier = SlowTimeouts(clock)
    notifier.faults["c1"] = [DeliveryUnavailable("InternalServerErrorException (500)")]
    invocation = Invocation(clock, budget_seconds=60)

    report = fan_out(notifier, store, invocation, telemetry, RetryPolicy(max_unavailable_attempts=1)).deliver(
        ["c0", "c1"], PAYLOAD, invocation.remaining_millis)

    assert sorted(notifier.sent) == ["c0"]
    assert report.as_dict() == {"sent": 1, "gone": 0, "failed": 1, "retried": 0}


def test_a_post_that_keeps_failing_is_counted_and_logged_by_connection_id_not_payload(world, telemetry):
    # GIVEN c1 answering 500 forever
    clock, store = world
    notifier = SlowTimeouts(clock)
    notifier.faults["c1"] = [DeliveryUnavailable("InternalServerErrorException (500)")] * 50
    invocation = Invocation(clock, budget_seconds=600)

    # WHEN the fan-out delivers
    report = fan_out(notifier, store, invocation, telemetry).deliver(["c0", "c1"], PAYLOAD, invocation.remaining_millis)

    # THEN c1 is tried max_unavailable_attempts times, then given up and counted as failed
    attempts = RetryPolicy().max_unavailable_attempts
    assert len(notifier.faults["c1"]) == 50 - attempts
    assert report.as_dict() == {"sent": 1, "gone": 0, "failed": 1, "retried": attempts - 1}
    # AND one warning names the connection and the reason, never the payload
    failures = [line for line in telemetry.logs() if line["message"] == "delivery failed"]
    assert failures == [{**failures[0], "connectionId": "c1", "attempts": attempts,
                         "reason": "InternalServerErrorException (500)"}]
    assert "secret-title-42" not in telemetry.log_stream.getvalue()
    assert len(store.rows) == 4  # a failure is not a removal


def test_retries_stop_when_the_invocation_has_no_time_left(world, telemetry):
    # GIVEN c1 timing out on every attempt (5 s each on the clock) and an invocation with 25 s left
    clock, store = world
    notifier = SlowTimeouts(clock)
    notifier.faults["c1"] = [DeliveryUnavailable("POST 127.0.0.1: timeout")] * 50
    policy = RetryPolicy(max_unavailable_attempts=10)
    invocation = Invocation(clock, budget_seconds=25)

    # WHEN the fan-out delivers
    report = fan_out(notifier, store, invocation, telemetry, policy).deliver(["c1"], PAYLOAD,
                                                                             invocation.remaining_millis)

    # THEN a retry only started while backoff + one attempt + the reserve still fit: never past the reserve
    assert report.failed == 1 and report.sent == 0
    assert 1 <= report.retried < policy.max_unavailable_attempts - 1
    assert invocation.remaining_millis() >= policy.reserve_seconds * 1000
    assert telemetry.metric_values()["DeliveryRetriesCutShort"] == 1
    assert "no time left" in [line for line in telemetry.logs() if line["message"] == "delivery failed"][0]["reason"]


def test_an_invocation_already_short_of_time_does_not_retry(world, telemetry):
    clock, store = world
    notifier = RecordingNotifier()
    notifier.faults["c1"] = [Throttled("429")]
    invocation = Invocation(clock, budget_seconds=RetryPolicy().reserve_seconds)

    report = fan_out(notifier, store, invocation, telemetry).deliver(["c1"], PAYLOAD, invocation.remaining_millis)

    assert report.as_dict() == {"sent": 0, "gone": 0, "failed": 1, "retried": 0}
    assert invocation.sleeps == []


def test_a_client_error_is_not_retried_and_gone_keeps_its_handling(world, telemetry):
    # GIVEN a 403 on c1 (not transient) and c2 Gone
    clock, store = world
    notifier = RecordingNotifier()
    notifier.faults["c1"] = [DeliveryFailed("ForbiddenException (403)")]
    notifier.gone.add("c2")
    clock.advance(CONNECT_GRACE_SECONDS + 1)  # past $connect's grace: a Gone row is removed
    invocation = Invocation(clock, budget_seconds=60)

    report = fan_out(notifier, store, invocation, telemetry).deliver(["c0", "c1", "c2"], PAYLOAD,
                                                                      invocation.remaining_millis)

    # THEN the 403 fails at once, the Gone row is removed, nothing is retried
    assert report.as_dict() == {"sent": 1, "gone": 1, "failed": 1, "retried": 0}
    assert "c2" not in store.rows and invocation.sleeps == []


def test_throttling_and_unavailability_share_the_backoff(world, telemetry):
    clock, store = world
    notifier = RecordingNotifier()
    notifier.faults["c1"] = [Throttled("LimitExceededException"), DeliveryUnavailable("BadGateway (502)"),
                             Throttled("429")]
    invocation = Invocation(clock, budget_seconds=60)

    report = fan_out(notifier, store, invocation, telemetry).deliver(["c1"], PAYLOAD, invocation.remaining_millis)

    assert report.as_dict() == {"sent": 1, "gone": 0, "failed": 0, "retried": 3}
    policy = RetryPolicy()
    for retry, slept in enumerate(invocation.sleeps):
        assert 0 <= slept <= min(policy.cap_seconds, policy.base_seconds * 2 ** retry)
    assert telemetry.metric_values()["DeliveryRetried"] == 1  # the 502; BroadcastRetried counts all three
