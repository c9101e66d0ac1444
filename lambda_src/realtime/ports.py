"""Ports: what the services need from the outside world. Adapters live in ``realtime.adapters``."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

#: API Gateway closes every WebSocket connection after 2 hours; rows outlive that by a slack.
MAX_CONNECTION_SECONDS = 7200
ROW_TTL_SLACK_SECONDS = 600


def expiry_bucket(token_expires_at: int) -> str:
    """Partition key of GSI ``byTokenExpiry``: the minute in which the token expires."""
    return f"exp#{token_expires_at // 60}"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    user_id: str
    connected_at: int
    token_expires_at: int

    @property
    def expiry_bucket(self) -> str:
        return expiry_bucket(self.token_expires_at)

    @property
    def expires_at(self) -> int:
        return self.connected_at + MAX_CONNECTION_SECONDS + ROW_TTL_SLACK_SECONDS


@dataclass(frozen=True)
class ExpiringConnection:
    connection_id: str
    token_expires_at: int


@dataclass(frozen=True)
class MessageWindow:
    """Rate-limit state of one connection after counting one more message."""

    count: int
    violations: int
    token_expires_at: int


@dataclass(frozen=True)
class Page:
    connection_ids: Sequence[str]
    #: Opaque position to resume the scan from, None when the segment is exhausted.
    cursor: str | None


@dataclass(frozen=True)
class ConnectionInfo:
    """GetConnection: what API Gateway knows about an open connection."""

    #: Epoch seconds.
    connected_at: float
    last_active_at: float
    source_ip: str
    user_agent: str


class Claim(enum.Enum):
    CLAIMED = "claimed"
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ConnectionStore(Protocol):
    """The connection table. Raises Throttled / StoreUnavailable / LimitReached, never botocore errors."""

    def add(self, connection: Connection, *, global_limit: int, per_user_limit: int) -> None:
        """Write the row and increment the counter atomically, or write nothing."""

    def remove(self, connection_id: str) -> bool:
        """Delete the row and decrement the counter; False (and no decrement) if there was no row."""

    def get(self, connection_id: str) -> Connection | None: ...

    def active_count(self) -> int:
        """The counter's value."""

    def count_connections(self) -> int:
        """The real number of connection rows (reconciliation)."""

    def adjust_counter(self, delta: int) -> None: ...

    def count_message(self, connection_id: str, window: int) -> MessageWindow | None:
        """Count one message in the minute ``window``; None when the connection has no row."""

    def add_rate_violation(self, connection_id: str) -> int: ...

    def connections_of_users(self, user_ids: Iterable[str]) -> list[str]: ...

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page: ...

    def expiring(self, bucket: str, until: int) -> list[ExpiringConnection]:
        """Connections whose token expires in ``bucket`` at or before ``until``."""

    def claim_request(self, key: str, now: int, lease_seconds: int) -> Claim: ...

    def complete_request(self, key: str, now: int) -> None: ...

    def release_request(self, key: str) -> None: ...

    def try_announce(self, request_id: str, now: int, interval_seconds: int) -> bool:
        """Take the global-announcement slot; False when one was sent less than the interval ago."""


class Notifier(Protocol):
    """The @connections management API. Raises StaleConnection / Throttled / DeliveryFailed."""

    def send(self, connection_id: str, payload: bytes) -> None: ...

    def close(self, connection_id: str) -> None: ...

    def get(self, connection_id: str) -> ConnectionInfo:
        """GetConnection; StaleConnection when the connection is gone."""


class QueuePublisher(Protocol):
    def publish(self, bodies: Sequence[str]) -> None: ...
