"""Concurrent delivery of one payload to many connections (ADR 0006, ADR 0019).

Bounded thread pool (the @connections API is HTTP: threads overlap the network waits), exponential
backoff with full jitter on throttling (429, LimitExceeded) and on unavailability (5xx, the read
timeout, a refused or reset connection), Gone rows removed (and the counter decremented) on the spot —
except rows younger than ``CONNECT_GRACE_SECONDS``: API Gateway answers 410 to a connection still inside
``$connect``, which is about to open (ADR 0016). One failing connection never stops the others.

Retries stay inside the invocation: a retry starts only when the invocation has time left for its
backoff, one more attempt (``attempt_seconds``: connect plus read timeout) and ``reserve_seconds``
for what follows the fan-out. What still fails is logged with the connection id (never the payload)
and left to the tab: the notification is stored, so its gap detection (``pong`` heads, ADR 0018)
finds and resumes it. The benchmark drives :func:`deliver` directly with an injected notifier.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from realtime.errors import DeliveryUnavailable, StaleConnection, Throttled
from realtime.observability import Logger, Metrics
from realtime.ports import CONNECT_GRACE_SECONDS, ConnectionStore, Notifier


@dataclass(frozen=True)
class RetryPolicy:
    #: Attempts per connection while throttled (429, LimitExceeded).
    max_attempts: int = 5
    #: Attempts per connection while unavailable (5xx, timeout, reset): each may cost a whole
    #: ``attempt_seconds`` of a pool thread, so fewer than for throttling.
    max_unavailable_attempts: int = 3
    base_seconds: float = 0.05
    cap_seconds: float = 2.0
    #: The longest one attempt can take: the notifier's connect (2 s) plus read (5 s) timeout.
    attempt_seconds: float = 7.0
    #: Invocation time kept for what follows the fan-out (storing, claims, the next records).
    reserve_seconds: float = 10.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**retry)]."""
        return rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** retry))


@dataclass
class DeliveryReport:
    sent: int = 0
    gone: int = 0
    failed: int = 0
    #: Every retry (throttled or unavailable): the metric ``BroadcastRetried``.
    retried: int = 0
    #: Gone rows whose removal failed (left to the sweeper); not part of the reported figures.
    failed_removals: int = 0
    #: Retries after 5xx/timeouts (``DeliveryRetried``), connections delivered after at least one
    #: retry (``DeliveryRecovered``), failures that had retries left but no time for them
    #: (``DeliveryRetriesCutShort``); not part of the reported figures.
    retried_unavailable: int = 0
    recovered: int = 0
    cut_short: int = 0

    def __iadd__(self, other: DeliveryReport) -> DeliveryReport:
        self.sent += other.sent
        self.gone += other.gone
        self.failed += other.failed
        self.retried += other.retried
        self.failed_removals += other.failed_removals
        self.retried_unavailable += other.retried_unavailable
        self.recovered += other.recovered
        self.cut_short += other.cut_short
        return self

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "gone": self.gone, "failed": self.failed, "retried": self.retried}


class FanOut:
    def __init__(self, notifier: Notifier, store: ConnectionStore | None, *, concurrency: int,
                 retry: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time,
                 logger: Logger | None = None, metrics: Metrics | None = None):
        """``logger`` gets one warning per connection that still fails (its id, never the payload);
        ``metrics`` the retry figures of each :meth:`deliver` (``DeliveryRetried``,
        ``DeliveryRecovered``, ``DeliveryRetriesCutShort``)."""
        self.notifier = notifier
        self.logger = logger
        self.metrics = metrics
        self.clock = clock
        self.store = store
        self.concurrency = max(1, concurrency)
        self.retry = retry
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._rng_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="fan-out")

    def _jitter(self, retry: int) -> float:
        with self._rng_lock:
            return self.retry.delay(retry, self.rng)

    def _one(self, connection_id: str, payload: bytes, remaining_millis: Callable[[], int] | None) -> DeliveryReport:
        report = DeliveryReport()
        throttled = unavailable = 0
        reason = ""
        while True:
            was_throttled = False
            try:
                self.notifier.send(connection_id, payload)
                report.sent = 1
                report.recovered = int(report.retried > 0)
                return report
            except StaleConnection:
                report.gone = 1
                if self.store is not None:
                    try:
                        self.store.remove_stale(connection_id, int(self.clock()) - CONNECT_GRACE_SECONDS)
                    except Exception:  # noqa: BLE001 - the sweeper reconciles; the row dies with its token
                        report.failed_removals = 1
                return report
            except Throttled:
                throttled += 1
                was_throttled = True
                reason = "throttled"
                if throttled >= self.retry.max_attempts:
                    break
            except DeliveryUnavailable as error:
                unavailable += 1
                reason = str(error)
                if unavailable >= self.retry.max_unavailable_attempts:
                    break
            except Exception as error:  # noqa: BLE001 - counted; one connection never stops the rest
                reason = type(error).__name__ if not str(error) else str(error)
                break
            delay = self._jitter(report.retried)
            if not self._time_for_retry(delay, remaining_millis):
                report.cut_short = 1
                reason += "; no time left for a retry"
                break
            report.retried += 1
            report.retried_unavailable += int(not was_throttled)
            self.sleep(delay)
        report.failed = 1
        if self.logger is not None:
            # The tab finds it through its gap detection (the entry is stored): ADR 0018, ADR 0019.
            self.logger.warning("delivery failed", connectionId=connection_id, reason=reason[:200],
                                attempts=report.retried + 1)
        return report

    def _time_for_retry(self, delay: float, remaining_millis: Callable[[], int] | None) -> bool:
        if remaining_millis is None:
            return True
        needed = delay + self.retry.attempt_seconds + self.retry.reserve_seconds
        return remaining_millis() >= needed * 1000

    def deliver(self, connection_ids: Iterable[str], payload: bytes,
                remaining_millis: Callable[[], int] | None = None) -> DeliveryReport:
        """``remaining_millis`` (the invocation's, e.g. ``context.get_remaining_time_in_millis``) bounds the
        retries; without it they are bounded by the policy's attempts only.

        Up to ``concurrency`` workers of the pool take the next id from one shared iterator until it
        is empty, each summing its own report: per connection that is one lock and one ``next``, not
        a Future, a queue hand-off and a condition wake-up (bench/RESULTS.md: a third of the
        per-post CPU the pool added when each connection was a task of its own)."""
        pending = list(connection_ids)
        ids = iter(pending)
        taking = threading.Lock()

        def worker() -> DeliveryReport:
            report = DeliveryReport()
            while True:
                with taking:
                    connection_id = next(ids, None)
                if connection_id is None:
                    return report
                report += self._one(connection_id, payload, remaining_millis)

        # No more workers than connections: a two-tab user wakes two threads, not the whole pool.
        workers = [self._pool.submit(worker) for _ in range(min(self.concurrency, len(pending)))]
        total = DeliveryReport()
        for finished in workers:
            total += finished.result()
        if self.metrics is not None and (total.retried or total.cut_short):
            self.metrics.count("DeliveryRetried", total.retried_unavailable)
            self.metrics.count("DeliveryRecovered", total.recovered)
            self.metrics.count("DeliveryRetriesCutShort", total.cut_short)
        return total
