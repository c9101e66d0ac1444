"""$connect / $disconnect: the connection row and the global counter move together (ADR 0005)."""

from __future__ import annotations

from dataclasses import dataclass

from realtime.errors import (
    DuplicateConnection,
    GlobalLimitReached,
    StoreUnavailable,
    Throttled,
    UserLimitReached,
)
from realtime.observability import Logger, Metrics
from realtime.ports import Clock, Connection, ConnectionStore


@dataclass(frozen=True)
class ConnectOutcome:
    status_code: int
    reason: str


class ConnectionService:
    def __init__(self, store: ConnectionStore, clock: Clock, logger: Logger, metrics: Metrics, *,
                 global_limit: int = 1, per_user_limit: int = 1):
        self.store = store
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
