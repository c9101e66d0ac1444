"""Concurrent delivery of one payload to many connections (ADR 0006).

Bounded thread pool (the @connections API is HTTP: threads overlap the network waits), exponential
backoff with full jitter on throttling, Gone rows removed (and the counter decremented) on the spot —
except rows younger than ``CONNECT_GRACE_SECONDS``: API Gateway answers 410 to a connection still inside
``$connect``, which is about to open (ADR 0016). One failing connection never stops the others. The benchmark drives :func:`deliver` directly with an
injected notifier.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from realtime.errors import StaleConnection, Throttled
from realtime.ports import CONNECT_GRACE_SECONDS, ConnectionStore, Notifier


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 0.05
    cap_seconds: float = 2.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**retry)]."""
        return rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** retry))


@dataclass
class DeliveryReport:
    sent: int = 0
    gone: int = 0
    failed: int = 0
    retried: int = 0
    #: Gone rows whose removal failed (left to the sweeper); not part of the reported figures.
    failed_removals: int = 0

    def __iadd__(self, other: DeliveryReport) -> DeliveryReport:
        self.sent += other.sent
        self.gone += other.gone
        self.failed += other.failed
        self.retried += other.retried
        self.failed_removals += other.failed_removals
        return self

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "gone": self.gone, "failed": self.failed, "retried": self.retried}


class FanOut:
    def __init__(self, notifier: Notifier, store: ConnectionStore | None, *, concurrency: int,
                 retry: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time):
        self.notifier = notifier
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

    def _one(self, connection_id: str, payload: bytes) -> DeliveryReport:
        report = DeliveryReport()
        for attempt in range(self.retry.max_attempts):
            try:
                self.notifier.send(connection_id, payload)
                report.sent = 1
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
                if attempt == self.retry.max_attempts - 1:
                    break
                report.retried += 1
                self.sleep(self._jitter(attempt))
            except Exception:  # noqa: BLE001 - counted; one connection never stops the rest
                break
        report.failed = 1
        return report

    def deliver(self, connection_ids: Iterable[str], payload: bytes) -> DeliveryReport:
        """Up to ``concurrency`` workers of the pool take the next id from one shared iterator until it
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
                report += self._one(connection_id, payload)

        # No more workers than connections: a two-tab user wakes two threads, not the whole pool.
        workers = [self._pool.submit(worker) for _ in range(min(self.concurrency, len(pending)))]
        total = DeliveryReport()
        for finished in workers:
            total += finished.result()
        return total
