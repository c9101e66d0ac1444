"""In-memory adapters with the same semantics as the AWS ones (unit tests, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from realtime.errors import DuplicateConnection, GlobalLimitReached, StaleConnection, UserLimitReached
from realtime.ports import (
    GLOBAL_PARTITION,
    GLOBAL_SETTLE_SECONDS,
    NO_STREAM,
    Claim,
    Connection,
    ConnectionInfo,
    ExpiringConnection,
    FrameBuilder,
    LogEntry,
    MessageWindow,
    Page,
    ReadPositions,
    StreamHead,
    new_epoch,
    oldest_live,
    settled_upto,
)

COUNTER_KEY = "#counter"


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0):
        self._now = now

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass
class _Row:
    connection: Connection
    rate_window: int = -1
    rate_count: int = 0
    rate_violations: int = 0


@dataclass
class _Request:
    claimed_at: int
    completed_at: int | None = None


class InMemoryConnectionStore:
    """Thread-safe; ``counter`` may be set directly to simulate drift.

    The GSIs are modelled as a separate view (``index``) that follows the rows immediately unless
    :meth:`lag_index` holds it back — DynamoDB's GSIs are eventually consistent, so a query can miss a row
    written a moment ago. The per-user membership (like the table's ``#user#<id>`` items) is always current.
    """

    def __init__(self, page_size: int = 100):
        self.rows: dict[str, _Row] = {}
        self.members_by_user: dict[str, dict[str, int]] = {}
        self.index: dict[str, Connection] = {}
        self._index_lagging = False
        self.counter = 0
        self.requests: dict[str, _Request] = {}
        self.announced_at: int | None = None
        self.announced_request: str | None = None
        #: (user id, window) → items read: the ``#budget#`` items.
        self.read_budgets: dict[tuple[str, int], int] = {}
        self.page_size = page_size
        self._lock = threading.RLock()

    # -- index lag (tests of ADR 0016's hazards) ----------------------------------------------------
    def lag_index(self) -> None:
        """Freeze the GSI view: rows written from now on are invisible to index queries until caught up."""
        with self._lock:
            self._index_lagging = True

    def catch_up_index(self) -> None:
        with self._lock:
            self._index_lagging = False
            self.index = {cid: row.connection for cid, row in self.rows.items()}

    def _sync_index(self, connection_id: str) -> None:
        """Let the GSI view follow one row's write (unless it lags): a rebuild per write made every
        write O(table), and a broadcast with many gone rows quadratic (bench/broadcast.py)."""
        if self._index_lagging:
            return
        row = self.rows.get(connection_id)
        if row is None:
            self.index.pop(connection_id, None)
        else:
            self.index[connection_id] = row.connection

    # -- connections ------------------------------------------------------------------------------
    def _live_members(self, user_id: str, now: int) -> dict[str, int]:
        oldest = oldest_live(now)
        return {cid: at for cid, at in self.members_by_user.get(user_id, {}).items() if at > oldest}

    def add(self, connection: Connection, *, global_limit: int, per_user_limit: int) -> None:
        with self._lock:
            if connection.connection_id in self.rows:
                raise DuplicateConnection(connection.connection_id)
            if self.counter >= global_limit:
                raise GlobalLimitReached()
            live = self._live_members(connection.user_id, connection.connected_at)
            if len(live) >= per_user_limit:
                raise UserLimitReached()
            self.rows[connection.connection_id] = _Row(connection)
            self.members_by_user[connection.user_id] = {**live, connection.connection_id: connection.connected_at}
            self.counter += 1
            self._sync_index(connection.connection_id)

    def members(self, user_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self.members_by_user.get(user_id, {}))

    def remove(self, connection_id: str) -> bool:
        return self._remove(connection_id, connected_before=None)

    def remove_stale(self, connection_id: str, connected_before: int) -> bool:
        return self._remove(connection_id, connected_before)

    def _remove(self, connection_id: str, connected_before: int | None) -> bool:
        with self._lock:
            row = self.rows.get(connection_id)
            if row is None:
                return False
            if connected_before is not None and row.connection.connected_at >= connected_before:
                return False
            del self.rows[connection_id]
            self.members_by_user.get(row.connection.user_id, {}).pop(connection_id, None)
            self.counter -= 1
            self._sync_index(connection_id)
            return True

    def refresh_token(self, connection_id: str, user_id: str, token_expires_at: int) -> bool:
        with self._lock:
            row = self.rows.get(connection_id)
            if row is None or row.connection.user_id != user_id:
                return False
            row.connection = replace(row.connection, token_expires_at=token_expires_at)
            self._sync_index(connection_id)
            return True

    def get(self, connection_id: str) -> Connection | None:
        with self._lock:
            row = self.rows.get(connection_id)
            return row.connection if row else None

    def active_count(self) -> int:
        return self.counter

    def count_connections(self) -> int:
        with self._lock:
            return len(self.index)

    def adjust_counter(self, delta: int) -> None:
        with self._lock:
            self.counter += delta

    def count_message(self, connection_id: str, window: int) -> MessageWindow | None:
        with self._lock:
            row = self.rows.get(connection_id)
            if row is None:
                return None
            if row.rate_window == window:
                row.rate_count += 1
            elif row.rate_window < window:
                row.rate_window, row.rate_count = window, 1
            return MessageWindow(row.rate_count, row.rate_violations, row.connection.token_expires_at,
                                 row.connection.user_id)

    def add_rate_violation(self, connection_id: str) -> int:
        with self._lock:
            row = self.rows.get(connection_id)
            if row is None:
                return 0
            row.rate_violations += 1
            return row.rate_violations

    # -- queries ----------------------------------------------------------------------------------
    def connections_of_users(self, user_ids: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(cid for ids in self.connections_by_user(user_ids).values() for cid in ids))

    def connections_by_user(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """Membership (current) plus the byUser index (possibly lagging), like DynamoConnectionStore."""
        wanted = list(dict.fromkeys(user_ids))
        with self._lock:
            found: dict[str, dict[str, None]] = {user_id: dict.fromkeys(self.members_by_user.get(user_id, {}))
                                                 for user_id in wanted}
            for cid, connection in self.index.items():
                if connection.user_id in found:
                    found[connection.user_id][cid] = None
            return {user_id: list(ids) for user_id, ids in found.items()}

    def index_connections_of_users(self, user_ids: Iterable[str]) -> list[str]:
        """What a byUser GSI query alone would return (the pre-ADR-0016 fan-out)."""
        wanted = set(user_ids)
        with self._lock:
            return [cid for cid, c in self.index.items() if c.user_id in wanted]

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page:
        with self._lock:
            ids = sorted(cid for cid in self.rows if hash_segment(cid, total_segments) == segment)
        if cursor is not None:
            ids = [cid for cid in ids if cid > cursor]
        page = ids[: self.page_size]
        return Page(page, page[-1] if len(ids) > self.page_size else None)

    def expiring(self, bucket: str, until: int) -> list[ExpiringConnection]:
        with self._lock:
            return [ExpiringConnection(c.connection_id, c.token_expires_at)
                    for c in self.index.values() if c.expiry_bucket == bucket and c.token_expires_at <= until]

    # -- meta items -------------------------------------------------------------------------------
    def claim_request(self, key: str, now: int, lease_seconds: int) -> Claim:
        with self._lock:
            existing = self.requests.get(key)
            if existing is not None:
                if existing.completed_at is not None:
                    return Claim.COMPLETED
                if existing.claimed_at > now - lease_seconds:
                    return Claim.IN_PROGRESS
            self.requests[key] = _Request(claimed_at=now)
            return Claim.CLAIMED

    def complete_request(self, key: str, now: int) -> None:
        with self._lock:
            self.requests.setdefault(key, _Request(claimed_at=now)).completed_at = now

    def release_request(self, key: str) -> None:
        with self._lock:
            request = self.requests.get(key)
            if request is not None and request.completed_at is None:
                del self.requests[key]

    def try_announce(self, request_id: str, now: int, interval_seconds: int) -> bool:
        with self._lock:
            if (self.announced_at is not None and self.announced_request != request_id
                    and self.announced_at > now - interval_seconds):
                return False
            self.announced_at, self.announced_request = now, request_id
            return True

    def spend_read_budget(self, user_id: str, items: int, window: int, limit: int, expires_at: int) -> bool:
        with self._lock:
            key = (user_id, window)
            used = self.read_budgets.get(key, 0)
            if used + items > limit:  # the update's condition
                return False
            self.read_budgets[key] = used + items
            return True


class InMemoryNotificationLog:
    """The notification log with the DynamoDB adapter's semantics: an append reads the head, then commits
    only if the head is still the one it read (the transaction's condition), else re-reads and retries;
    ``between`` runs between the read and the commit (tests widen the race window with it)."""

    def __init__(self, between: Callable[[], None] | None = None) -> None:
        self.heads: dict[str, StreamHead] = {}
        self.partitions: dict[str, dict[int, LogEntry]] = {}
        #: (partition, request id) → offset: the idempotency items.
        self.requests: dict[tuple[str, str], int] = {}
        self.settled_segments: dict[int, set[int]] = {}
        self.appended = 0
        self.conflicts = 0
        self.between = between
        #: The read state living in the same table (a purge of a user's partition deletes it too).
        self.read_state: InMemoryReadStateStore | None = None
        self._lock = threading.Lock()

    def head(self, partition: str, *, consistent: bool = True) -> StreamHead:
        with self._lock:
            return self.heads.get(partition, NO_STREAM)

    def append(self, partition: str, request_id: str, build: FrameBuilder, now: int, expires_at: int) -> LogEntry | None:
        while True:
            with self._lock:
                read = self.heads.get(partition, NO_STREAM)
            if self.between is not None:
                self.between()
            epoch = read.epoch or new_epoch()
            offset = read.offset + 1
            frame = build(offset, epoch)
            with self._lock:
                stored = self.requests.get((partition, request_id))
                if stored is not None:
                    return self.partitions.get(partition, {}).get(stored)
                if self.heads.get(partition, NO_STREAM) != read:  # the transaction's head condition
                    self.conflicts += 1
                    continue
                entry = LogEntry(partition=partition, offset=offset, epoch=epoch, request_id=request_id,
                                 frame=frame, stored_at=now, expires_at=expires_at)
                self.heads[partition] = replace(read, epoch=epoch, offset=offset, stored_at=now)
                self.partitions.setdefault(partition, {})[offset] = entry
                self.requests[(partition, request_id)] = offset
                self.appended += 1
                return entry

    def read_range(self, partition: str, after: int, upto: int) -> list[LogEntry]:
        with self._lock:
            stored = self.partitions.get(partition, {})
            return [stored[o] for o in sorted(stored) if after < o <= upto]

    def get(self, partition: str, offset: int) -> LogEntry | None:
        with self._lock:
            return self.partitions.get(partition, {}).get(offset)

    def expire(self, partition: str, offset: int) -> None:
        """What DynamoDB's TTL does to an entry past its retention (tests)."""
        with self._lock:
            self.partitions.get(partition, {}).pop(offset, None)

    def settle_segment(self, offset: int, segment: int, total: int, now: int) -> None:
        with self._lock:
            done = self.settled_segments.setdefault(offset, set())
            done.add(segment)
            stored = self.partitions.get(GLOBAL_PARTITION, {})
            entry = stored.get(offset)
            if entry is None:
                return
            if len(done) >= total and entry.settled_at is None:
                stored[offset] = replace(entry, settled_at=now)

            def settled(candidate: int) -> bool:
                found = stored.get(candidate)
                return (found is None or found.settled_at is not None
                        or found.stored_at <= now - GLOBAL_SETTLE_SECONDS)

            head = self.heads.get(GLOBAL_PARTITION, NO_STREAM)
            self.heads[GLOBAL_PARTITION] = replace(head, settled=max(head.settled, settled_upto(head, settled)))

    def entries(self, partition: str) -> list[LogEntry]:
        with self._lock:
            stored = self.partitions.get(partition, {})
            return [stored[o] for o in sorted(stored)]

    def page(self, partition: str, before: int, limit: int) -> list[LogEntry]:
        with self._lock:
            stored = self.partitions.get(partition, {})
            return [stored[o] for o in sorted(stored, reverse=True) if o < before][:limit]

    def live_offsets(self, partition: str, after: int, upto: int, now: float, limit: int) -> list[int]:
        with self._lock:
            stored = self.partitions.get(partition, {})
            return [o for o in sorted(stored, reverse=True) if after < o <= upto and stored[o].expires_at > now][:limit]

    def purge(self, partition: str) -> tuple[int, str | None]:
        if self.read_state is not None:
            self.read_state.forget(partition)
        with self._lock:
            removed = len(self.partitions.pop(partition, {}))
            for key in [key for key in self.requests if key[0] == partition]:
                del self.requests[key]
            head = self.heads.get(partition)
            if head is None:
                return removed, None
            self.heads[partition] = replace(head, epoch=new_epoch(), initial=False, settled=head.offset)
            return removed, self.heads[partition].epoch


class InMemoryReadStateStore:
    """Read positions and marks with the DynamoDB adapter's semantics: raising the positions reads the item,
    then writes only if its version is still the one read (the conditional put), else re-reads; ``between``
    runs between the read and the write (tests widen the race with it)."""

    def __init__(self, between: Callable[[], None] | None = None) -> None:
        self.positions_of: dict[str, ReadPositions] = {}
        #: (user, stream, offset) → expiresAt
        self.marked: dict[tuple[str, str, int], int] = {}
        self.writes = 0
        self.conflicts = 0
        self.between = between
        self._lock = threading.Lock()

    def positions(self, user_id: str) -> ReadPositions:
        with self._lock:
            return self.positions_of.get(user_id, ReadPositions())

    def raise_positions(self, user_id: str, upto: dict[str, int], expires_at: int) -> ReadPositions:
        while True:
            read = self.positions(user_id)
            wanted = ReadPositions(user=max(read.user, upto.get("user", 0)),
                                   global_=max(read.global_, upto.get("global", 0)), version=read.version + 1)
            if (wanted.user, wanted.global_) == (read.user, read.global_):
                return read
            if self.between is not None:
                self.between()
            with self._lock:
                if self.positions_of.get(user_id, ReadPositions()).version != read.version:
                    self.conflicts += 1
                    continue
                self.positions_of[user_id] = wanted
                self.writes += 1
                return wanted

    def mark(self, user_id: str, stream: str, offset: int, expires_at: int) -> None:
        with self._lock:
            self.marked[(user_id, stream, offset)] = expires_at
            self.writes += 1

    def marks(self, user_id: str, stream: str, after: int, upto: int, now: float) -> set[int]:
        with self._lock:
            return {o for (user, s, o), expires in self.marked.items()
                    if user == user_id and s == stream and after < o <= upto and expires > now}

    def forget(self, user_id: str) -> None:
        """A purge of the user's partition (deletion request) deletes the read state with the entries."""
        with self._lock:
            self.positions_of.pop(user_id, None)
            for key in [key for key in self.marked if key[0] == user_id]:
                del self.marked[key]


def hash_segment(connection_id: str, total_segments: int) -> int:
    """Stable segment of a key for the in-memory scan (DynamoDB uses its own hash)."""
    return sum(connection_id.encode()) % total_segments


@dataclass
class RecordingNotifier:
    """Records deliveries; ``faults`` maps a connection id to a list of exceptions raised in order
    (then success), ``gone`` lists connections that no longer exist, ``opening`` those still inside
    ``$connect`` (API Gateway answers 410 to a post before ``$connect`` has returned)."""

    gone: set[str] = field(default_factory=set)
    opening: set[str] = field(default_factory=set)
    faults: dict[str, list[Exception]] = field(default_factory=dict)
    latency: float = 0.0
    sleep: Callable[[float], None] | None = None
    sent: dict[str, list[bytes]] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def _fault(self, connection_id: str) -> None:
        with self._lock:
            self.attempts += 1
            if connection_id in self.gone or connection_id in self.opening:
                raise StaleConnection(connection_id)
            pending = self.faults.get(connection_id)
            if pending:
                raise pending.pop(0)

    def send(self, connection_id: str, payload: bytes) -> None:
        if self.latency and self.sleep:
            self.sleep(self.latency)
        self._fault(connection_id)
        with self._lock:
            self.sent.setdefault(connection_id, []).append(payload)

    def close(self, connection_id: str) -> None:
        with self._lock:
            if connection_id in self.gone:
                raise StaleConnection(connection_id)
            self.closed.append(connection_id)
            self.gone.add(connection_id)

    def get(self, connection_id: str) -> ConnectionInfo:
        self._fault(connection_id)
        return ConnectionInfo(connected_at=0.0, last_active_at=0.0, source_ip="127.0.0.1", user_agent="")

    def messages(self, connection_id: str) -> list[bytes]:
        return list(self.sent.get(connection_id, []))


class InMemoryQueue:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def publish(self, bodies: Sequence[str]) -> None:
        self.bodies.extend(bodies)

