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
#: How long a connection row can matter: API Gateway's 2-hour maximum plus the TTL slack.
ROW_LIFETIME_SECONDS = MAX_CONNECTION_SECONDS + ROW_TTL_SLACK_SECONDS
#: A 410 from @connections for a row younger than this is a connection still inside ``$connect``
#: (API Gateway only accepts posts once ``$connect`` has returned): its row must be kept.
CONNECT_GRACE_SECONDS = 30
#: The notification-log partition of global announcements (stored once, merged into every user's stream).
GLOBAL_PARTITION = "#global"


def oldest_live(now: float) -> int:
    """A connection opened before this cannot be open any more (API Gateway's 2-hour maximum + slack)."""
    return int(now) - ROW_LIFETIME_SECONDS


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
        return self.connected_at + ROW_LIFETIME_SECONDS


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
    #: The connection's user (the row's ``userId``): whose notification log a ``resume`` reads.
    user_id: str = ""


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
    """The connection table. Raises Throttled / StoreUnavailable / LimitReached, never botocore errors.

    Besides the rows (and their eventually consistent GSIs) it keeps one membership item per user, read
    with strong consistency, so that a broadcast finds a connection registered a moment ago (ADR 0016).
    """

    def add(self, connection: Connection, *, global_limit: int, per_user_limit: int) -> None:
        """Write the row, the user's membership entry and increment the counter atomically, or write nothing."""

    def remove(self, connection_id: str) -> bool:
        """Delete the row and its membership entry and decrement the counter; False if there was no row."""

    def remove_stale(self, connection_id: str, connected_before: int) -> bool:
        """:meth:`remove`, but only when the row was created before ``connected_before`` (a 410 for a younger
        row is a connection still in ``$connect``)."""

    def refresh_token(self, connection_id: str, user_id: str, token_expires_at: int) -> bool:
        """Move the connection's token expiry (and its expiry bucket); False if the row is gone or not the user's."""

    def get(self, connection_id: str) -> Connection | None: ...

    def active_count(self) -> int:
        """The counter's value."""

    def count_connections(self) -> int:
        """The real number of connection rows (reconciliation)."""

    def adjust_counter(self, delta: int) -> None: ...

    def count_message(self, connection_id: str, window: int) -> MessageWindow | None:
        """Count one message in the minute ``window``; None when the connection has no row."""

    def add_rate_violation(self, connection_id: str) -> int: ...

    def connections_of_users(self, user_ids: Iterable[str]) -> list[str]:
        """Every connection of these users, including ones registered a moment ago (strongly consistent)."""

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page: ...

    def expiring(self, bucket: str, until: int) -> list[ExpiringConnection]:
        """Connections whose token expires in ``bucket`` at or before ``until``."""

    def claim_request(self, key: str, now: int, lease_seconds: int) -> Claim: ...

    def complete_request(self, key: str, now: int) -> None: ...

    def release_request(self, key: str) -> None: ...

    def try_announce(self, request_id: str, now: int, interval_seconds: int) -> bool:
        """Take the global-announcement slot; False when one was sent less than the interval ago."""


class Notifier(Protocol):
    """The @connections management API. Raises StaleConnection / Throttled / DeliveryUnavailable (5xx,
    timeouts: worth a retry) / DeliveryFailed."""

    def send(self, connection_id: str, payload: bytes) -> None: ...

    def close(self, connection_id: str) -> None: ...

    def get(self, connection_id: str) -> ConnectionInfo:
        """GetConnection; StaleConnection when the connection is gone."""


class QueuePublisher(Protocol):
    def publish(self, bodies: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class LogEntry:
    """One stored notification: a user's (partition = the user's id) or a global one (``GLOBAL_PARTITION``)."""

    partition: str
    #: ``realtime.cursors`` format; the sort key.
    cursor: str
    request_id: str
    #: The exact ``notification`` frame the connections were sent: a replay is byte-identical.
    frame: str
    #: Epoch seconds after which the entry is out of the retention window (the table's TTL).
    expires_at: int
    #: Global entries only: when the last scan segment finished delivering it (None while in flight).
    settled_at: int | None = None


class NotificationLog(Protocol):
    """The notification log table. Raises Throttled / StoreUnavailable, never botocore errors."""

    def append(self, entries: Sequence[LogEntry]) -> None:
        """Store every entry, or raise (a partial write is retried by the caller with new cursors)."""

    def read_after(self, partition: str, lower: str, limit: int) -> list[LogEntry]:
        """The oldest ``limit`` entries with ``cursor > lower``, in cursor order, strongly consistent."""

    def read_before(self, partition: str, upper: str, lower: str, limit: int) -> list[LogEntry]:
        """The newest ``limit`` entries with ``lower < cursor < upper``, newest first, strongly consistent."""

    def get(self, partition: str, cursor: str) -> LogEntry | None: ...

    def settle_segment(self, cursor: str, segment: int, total: int, now: int) -> None:
        """Record that one scan segment of a global entry is delivered; the last one sets ``settled_at``."""

    def entries(self, partition: str) -> Iterable[LogEntry]:
        """All entries of a partition, oldest first (operations: ``wsctl notifications list``)."""

    def purge(self, partition: str) -> int:
        """Delete every entry of a partition (a deletion request); returns how many."""
