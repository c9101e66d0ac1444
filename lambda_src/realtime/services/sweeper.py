"""Every minute: close connections whose token expired, reconcile the counter (ADR 0013).

Expiry work reads only the ``byTokenExpiry`` buckets of the last ``LOOKBACK_MINUTES`` minutes, so its
cost follows the number of expiring connections. The index is eventually consistent and an in-band
``refresh`` (ADR 0016) moves a connection's expiry, so each candidate's row is re-read before closing. Reconciliation counts the sparse KEYS_ONLY
``byUser`` index (a few dozen bytes per connection).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from realtime.errors import DomainError, StaleConnection
from realtime.messages import ErrorCode, encode, error_message
from realtime.observability import Logger, Metrics
from realtime.ports import Clock, ConnectionStore, ExpiringConnection, Notifier, expiry_bucket

#: Buckets re-read each run: a missed or failed run is caught up by the next ones.
LOOKBACK_MINUTES = 5
SWEEP_CONCURRENCY = 16


@dataclass
class SweepReport:
    expired: int = 0
    closed: int = 0
    stale_removed: int = 0
    #: Found in an old expiry bucket but refreshed since: left open.
    refreshed: int = 0
    failed: int = 0
    drift: int = 0
    active: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class SweeperService:
    def __init__(self, store: ConnectionStore, notifier: Notifier, clock: Clock, logger: Logger, metrics: Metrics,
                 *, global_limit: int, lookback_minutes: int = LOOKBACK_MINUTES, concurrency: int = SWEEP_CONCURRENCY):
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.global_limit = global_limit
        self.lookback_minutes = lookback_minutes
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweeper")

    def run(self, request_id: str = "") -> SweepReport:
        now = int(self.clock.now())
        report = SweepReport()
        expired: list[ExpiringConnection] = []
        for minute in range(now // 60 - self.lookback_minutes, now // 60 + 1):
            expired.extend(self.store.expiring(expiry_bucket(minute * 60), until=now))
        report.expired = len(expired)
        for outcome in self._pool.map(lambda c: self._expire(c, now, request_id), expired):
            setattr(report, outcome, getattr(report, outcome) + 1)
        self._reconcile(report)
        self.metrics.count("TokensExpired", report.closed)
        self.metrics.count("StaleRowsRemoved", report.stale_removed)
        self.metrics.count("CounterDrift", abs(report.drift))
        self.metrics.gauge("ActiveConnections", report.active)
        level = self.logger.warning if report.active >= 0.8 * self.global_limit else self.logger.info
        level("sweep done", globalLimit=self.global_limit, **report.as_dict())
        return report

    def _expire(self, connection: ExpiringConnection, now: int, request_id: str) -> str:
        try:
            current = self.store.get(connection.connection_id)
        except DomainError as error:
            self.logger.warning("expiry check failed", connectionId=connection.connection_id,
                                errorType=type(error).__name__)
            return "failed"
        if current is not None and current.token_expires_at > now:
            return "refreshed"
        payload = encode(error_message(ErrorCode.TOKEN_EXPIRED, "token expired; reconnect with a fresh token",
                                       now, request_id))
        try:
            self.notifier.send(connection.connection_id, payload)
            self.notifier.close(connection.connection_id)
        except StaleConnection:
            self._remove(connection.connection_id)
            return "stale_removed"
        except DomainError as error:
            # Left in place: the next run (bucket still in the lookback window) tries again.
            self.logger.warning("expiry close failed", connectionId=connection.connection_id,
                                errorType=type(error).__name__)
            return "failed"
        # $disconnect also removes the row; removing here too keeps the count right if it never fires.
        self._remove(connection.connection_id)
        return "closed"

    def _remove(self, connection_id: str) -> None:
        try:
            self.store.remove(connection_id)
        except DomainError as error:
            self.logger.warning("row removal failed", connectionId=connection_id, errorType=type(error).__name__)

    def _reconcile(self, report: SweepReport) -> None:
        counted = self.store.active_count()
        real = self.store.count_connections()
        report.drift = real - counted
        report.active = real
        if report.drift:
            # ADD the difference (not SET) so connects/disconnects racing with the count are kept.
            self.store.adjust_counter(report.drift)
            self.logger.warning("connection counter drift corrected", counter=counted, rows=real, drift=report.drift)
