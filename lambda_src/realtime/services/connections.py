"""$connect / $disconnect: the connection row and the global counter move together (ADR 0005); at the
per-user cap, members API Gateway reports gone are removed before refusing (ADR 0021)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from realtime.errors import (
    DomainError,
    DuplicateConnection,
    GlobalLimitReached,
    StaleConnection,
    StoreUnavailable,
    Throttled,
    UserLimitReached,
)
from realtime.observability import Logger, Metrics
from realtime.ports import Clock, Connection, ConnectionStore, Notifier, oldest_live

#: A member younger than this may still be inside its own ``$connect`` (the connect function's timeout is
#: 10 s), which API Gateway answers 410 for: it is never probed (ADR 0021).
CONNECT_GRACE_SECONDS = 15


@dataclass(frozen=True)
class ConnectOutcome:
    status_code: int
    reason: str


class ConnectionService:
    def __init__(self, store: ConnectionStore, clock: Clock, logger: Logger, metrics: Metrics, *,
                 global_limit: int = 1, per_user_limit: int = 1,
                 notifier: Callable[[], Notifier] | None = None):
        """``notifier`` builds the GetConnection client that finds members gone at the per-user cap (ADR 0021),
        on the first connect at the cap (ADR 0017: init builds only what every invocation uses); without it
        the cap refuses on the membership alone."""
        self.store = store
        self._notifier_factory = notifier
        self._notifier: Notifier | None = None
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.global_limit = global_limit
        self.per_user_limit = per_user_limit

    def _emit_active(self) -> None:
        try:
            self.metrics.gauge("ActiveConnections", self.store.active_count())
        except (Throttled, StoreUnavailable):
            pass  # the sweeper emits the reconciled figure every minute anyway

    def connect(self, connection_id: str, user_id: str | None, token_expires_at: int | None) -> ConnectOutcome:
        if not user_id or token_expires_at is None:
            # Only reachable if the route lost its authorizer: refuse rather than store an anonymous row.
            self.logger.error("connect without authorizer context", connectionId=connection_id)
            return self._refused(401, "no authorizer context", connection_id)
        now = int(self.clock.now())
        connection = Connection(connection_id, user_id, connected_at=now, token_expires_at=token_expires_at)
        try:
            try:
                self.store.add(connection, global_limit=self.global_limit, per_user_limit=self.per_user_limit)
            except UserLimitReached:
                if not self._evict_gone(user_id, now):
                    raise
                self.store.add(connection, global_limit=self.global_limit, per_user_limit=self.per_user_limit)
        except GlobalLimitReached:
            return self._refused(503, "global connection limit reached", connection_id)
        except UserLimitReached:
            return self._refused(429, "per-user connection limit reached", connection_id)
        except Throttled:
            return self._refused(503, "connection store throttled", connection_id)
        except DuplicateConnection:
            self.logger.info("connection already registered", connectionId=connection_id)
            return ConnectOutcome(200, "already registered")
        self.logger.info("connected", connectionId=connection_id, userId=user_id, tokenExpiresAt=token_expires_at)
        self._emit_active()
        return ConnectOutcome(200, "connected")

    def _evict_gone(self, user_id: str, now: int) -> int:
        """Remove the user's members API Gateway answers 410 for (older than the grace); how many were removed.
        A probe that fails otherwise removes nothing: only Gone is proof (ADR 0021)."""
        if self._notifier_factory is None:
            return 0
        connected_before = now - CONNECT_GRACE_SECONDS
        try:
            # Only the members the cap counts (older ones are dropped by the next connect's own write).
            oldest = oldest_live(now)
            candidates = [cid for cid, at in self.store.members(user_id).items() if oldest < at < connected_before]
        except DomainError as error:
            self.logger.warning("membership read failed", errorType=type(error).__name__)
            return 0
        if not candidates:
            return 0
        notifier = self.notifier  # built here, once, not in the probing threads
        with ThreadPoolExecutor(max_workers=min(len(candidates), self.per_user_limit)) as pool:
            verdicts = list(pool.map(lambda cid: self._is_gone(notifier, cid), candidates))
        self.metrics.count("ConnectionProbesFailed", verdicts.count(None))
        removed = 0
        for connection_id, gone in zip(candidates, verdicts, strict=True):
            if not gone:
                continue
            try:
                if self.store.remove_stale(connection_id, connected_before):
                    removed += 1
                    self.logger.info("gone connection evicted at the per-user cap", connectionId=connection_id,
                                     userId=user_id)
            except DomainError as error:
                self.logger.warning("gone connection not removed", connectionId=connection_id,
                                    errorType=type(error).__name__)
        self.metrics.count("GoneConnectionsEvicted", removed)
        return removed

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            assert self._notifier_factory is not None  # noqa: S101 - only used when there is one
            self._notifier = self._notifier_factory()
        return self._notifier

    def _is_gone(self, notifier: Notifier, connection_id: str) -> bool | None:
        """True: API Gateway answered 410. False: it knows the connection. None: the probe failed (not proof)."""
        try:
            notifier.get(connection_id)
        except StaleConnection:
            return True
        except DomainError as error:
            self.logger.warning("connection probe failed", connectionId=connection_id, errorType=type(error).__name__)
            return None
        return False

    def _refused(self, status: int, reason: str, connection_id: str) -> ConnectOutcome:
        self.metrics.count("ConnectionsRefused")
        self.logger.warning("connection refused", connectionId=connection_id, status=status, reason=reason)
        return ConnectOutcome(status, reason)

    def disconnect(self, connection_id: str) -> bool:
        removed = self.store.remove(connection_id)
        self.logger.info("disconnected", connectionId=connection_id, rowRemoved=removed)
        if removed:
            self._emit_active()
        return removed
