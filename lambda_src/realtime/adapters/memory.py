"""In-memory adapters with the same semantics as the AWS ones (unit tests, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from realtime.errors import DuplicateConnection, GlobalLimitReached, StaleConnection, UserLimitReached
from realtime.ports import Claim, Connection, ConnectionInfo, ExpiringConnection, MessageWindow, Page

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
    """Thread-safe; ``counter`` may be set directly to simulate drift."""

    def __init__(self, page_size: int = 100):
        self.rows: dict[str, _Row] = {}
        self.counter = 0
        self.requests: dict[str, _Request] = {}
        self.announced_at: int | None = None
        self.announced_request: str | None = None
        self.page_size = page_size
        self._lock = threading.RLock()

    # -- connections ------------------------------------------------------------------------------
    def add(self, connection: Connection, *, global_limit: int, per_user_limit: int) -> None:
        with self._lock:
            if connection.connection_id in self.rows:
                raise DuplicateConnection(connection.connection_id)
            if self.counter >= global_limit:
                raise GlobalLimitReached()
            if sum(1 for r in self.rows.values() if r.connection.user_id == connection.user_id) >= per_user_limit:
                raise UserLimitReached()
            self.rows[connection.connection_id] = _Row(connection)
            self.counter += 1

    def remove(self, connection_id: str) -> bool:
        with self._lock:
            if self.rows.pop(connection_id, None) is None:
                return False
            self.counter -= 1
            return True

    def get(self, connection_id: str) -> Connection | None:
        with self._lock:
            row = self.rows.get(connection_id)
            return row.connection if row else None

    def active_count(self) -> int:
        return self.counter

    def count_connections(self) -> int:
        return len(self.rows)

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
            return MessageWindow(row.rate_count, row.rate_violations, row.connection.token_expires_at)

    def add_rate_violation(self, connection_id: str) -> int:
        with self._lock:
            row = self.rows.get(connection_id)
            if row is None:
                return 0
            row.rate_violations += 1
            return row.rate_violations

    # -- queries ----------------------------------------------------------------------------------
    def connections_of_users(self, user_ids: Iterable[str]) -> list[str]:
        wanted = set(user_ids)
        with self._lock:
            return [cid for cid, row in self.rows.items() if row.connection.user_id in wanted]

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page:
        with self._lock:
            ids = sorted(cid for cid in self.rows if hash_segment(cid, total_segments) == segment)
        if cursor is not None:
            ids = [cid for cid in ids if cid > cursor]
        page = ids[: self.page_size]
        return Page(page, page[-1] if len(ids) > self.page_size else None)

    def expiring(self, bucket: str, until: int) -> list[ExpiringConnection]:
        with self._lock:
            return [ExpiringConnection(r.connection.connection_id, r.connection.token_expires_at)
                    for r in self.rows.values()
                    if r.connection.expiry_bucket == bucket and r.connection.token_expires_at <= until]

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


def hash_segment(connection_id: str, total_segments: int) -> int:
    """Stable segment of a key for the in-memory scan (DynamoDB uses its own hash)."""
    return sum(connection_id.encode()) % total_segments


@dataclass
class RecordingNotifier:
    """Records deliveries; ``faults`` maps a connection id to a list of exceptions raised in order
    (then success), ``gone`` lists connections that no longer exist."""

    gone: set[str] = field(default_factory=set)
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
            if connection_id in self.gone:
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

