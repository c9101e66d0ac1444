"""Ports: what the services need from the outside world. Adapters live in ``realtime.adapters``."""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
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
#: The notification-log partition of global announcements (stored once, read by every user: ADR 0018).
GLOBAL_PARTITION = "#global"


def partition_of(stream: str, user_id: str) -> str:
    """The notification-log partition of one of a user's streams (``user`` or ``global``)."""
    return user_id if stream == "user" else GLOBAL_PARTITION
#: A global entry stored longer ago than this counts as settled even if a scan segment never reported:
#: what ``pong`` advertises as the global head (docs/messages.md, "Heads in pong").
GLOBAL_SETTLE_SECONDS = 300


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

    def members(self, user_id: str) -> dict[str, int]:
        """The user's connections as the per-user cap counts them: connection id → ``connectedAt`` (strongly
        consistent; may include connections whose ``$disconnect`` has not run yet: ADR 0021)."""

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

    def connections_by_user(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """:meth:`connections_of_users`, grouped by user (each user's frame carries its own offset)."""

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page: ...

    def expiring(self, bucket: str, until: int) -> list[ExpiringConnection]:
        """Connections whose token expires in ``bucket`` at or before ``until``."""

    def claim_request(self, key: str, now: int, lease_seconds: int) -> Claim: ...

    def complete_request(self, key: str, now: int) -> None: ...

    def release_request(self, key: str) -> None: ...

    def try_announce(self, request_id: str, now: int, interval_seconds: int) -> bool:
        """Take the global-announcement slot; False when one was sent less than the interval ago."""

    def spend_read_budget(self, user_id: str, items: int, window: int, limit: int, expires_at: int) -> bool:
        """Count ``items`` log reads against the user's budget of ``limit`` in the fixed ``window`` (shared by
        all the user's connections); False, counting nothing, when they would exceed it."""


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
class StreamHead:
    """A stream's head item (ADR 0018): the highest offset stored and the epoch it belongs to."""

    #: None: the stream has never held a notification (its offset is then 0).
    epoch: str | None
    offset: int
    #: True in a stream's first epoch (offset 1 of it exists); False once history was lost (purge).
    initial: bool = True
    #: Global stream: the highest offset up to which every fan-out finished (contiguous).
    settled: int = 0
    #: Epoch seconds when ``offset`` was stored.
    stored_at: int = 0


NO_STREAM = StreamHead(epoch=None, offset=0)


def new_epoch() -> str:
    """A fresh, opaque epoch (``^[A-Za-z0-9]{1,32}$``)."""
    return secrets.token_hex(8)


def settled_upto(head: StreamHead, settled_of: Callable[[int], bool]) -> int:
    """The global head's new contiguous settled offset: from ``head.settled`` on, while ``settled_of`` says
    the next offset is settled (its fan-out finished, or it is gone, or it is older than the settle time)."""
    offset = head.settled
    while offset < head.offset and settled_of(offset + 1):
        offset += 1
    return offset


@dataclass(frozen=True)
class LogEntry:
    """One stored notification: a user's (partition = the user's id) or a global one (``GLOBAL_PARTITION``)."""

    partition: str
    offset: int
    epoch: str
    request_id: str
    #: The exact ``notification`` frame the connections were sent: a replay is byte-identical.
    frame: str
    #: Epoch seconds when it was stored.
    stored_at: int
    #: Epoch seconds after which the entry is out of the retention window (the table's TTL).
    expires_at: int
    #: Global entries only: when the last scan segment finished delivering it (None while in flight).
    settled_at: int | None = None


#: Builds the frame of a notification once its offset and epoch are allocated.
FrameBuilder = Callable[[int, str], str]


class NotificationLog(Protocol):
    """The notification log table. Raises Throttled / StoreUnavailable, never botocore errors."""

    def head(self, partition: str, *, consistent: bool = True) -> StreamHead:
        """The stream's head; :data:`NO_STREAM` when it has never held a notification."""

    def append(self, partition: str, request_id: str, build: FrameBuilder, now: int, expires_at: int) -> LogEntry | None:
        """Store the request's notification under the stream's next offset, allocated atomically with the write
        (no hole, no duplicate). When this request is already stored in this stream (redelivery,
        continuation, a taken-over claim), nothing is written and the stored entry is returned (None when
        it is no longer stored: purged or expired)."""

    def read_range(self, partition: str, after: int, upto: int) -> list[LogEntry]:
        """The stored entries with ``after < offset <= upto``, in offset order, strongly consistent."""

    def get(self, partition: str, offset: int) -> LogEntry | None: ...

    def settle_segment(self, offset: int, segment: int, total: int, now: int) -> None:
        """Record that one scan segment of a global entry is delivered; the last one sets ``settled_at`` and
        the global head's contiguous settled offset advances."""

    def entries(self, partition: str) -> Iterable[LogEntry]:
        """All entries of a partition, oldest first (operations: ``wsctl notifications list``)."""

    def page(self, partition: str, before: int, limit: int) -> list[LogEntry]:
        """At most ``limit`` stored entries with ``offset < before``, newest (highest offset) first."""

    def live_offsets(self, partition: str, after: int, upto: int, now: float, limit: int) -> list[int]:
        """The offsets of the unexpired entries with ``after < offset <= upto``, highest first, at most ``limit``
        (the unread count: keys only)."""

    def purge(self, partition: str) -> tuple[int, str | None]:
        """Delete every entry (and idempotency item) of a partition and start a new epoch, keeping the offset
        counter (a deletion request); returns how many entries and the new epoch (None: no stream)."""


@dataclass(frozen=True)
class ReadPositions:
    """A user's read position per stream (ADR 0020): every offset up to it is read; 0 = none."""

    user: int = 0
    global_: int = 0
    #: The ``#read`` item's version (optimistic lock); 0 = no item.
    version: int = 0

    def of(self, stream: str) -> int:
        return self.user if stream == "user" else self.global_


class ReadStateStore(Protocol):
    """A user's read state on the notification-log table (ADR 0020), in the user's own partition: the read
    positions and the per-notification marks that expire with the log. Raises Throttled /
    StoreUnavailable, never botocore errors."""

    def positions(self, user_id: str) -> ReadPositions: ...

    def raise_positions(self, user_id: str, upto: dict[str, int], expires_at: int) -> ReadPositions:
        """Move each named stream's position to ``max(current, upto[stream])`` in one write (never backwards,
        also under concurrent calls); returns the positions written (or the current ones when nothing moves)."""

    def mark(self, user_id: str, stream: str, offset: int, expires_at: int) -> None:
        """Record one notification read; idempotent; expires with the entry."""

    def marks(self, user_id: str, stream: str, after: int, upto: int, now: float) -> set[int]:
        """The unexpired marks of ``stream`` with ``after < offset <= upto``."""
