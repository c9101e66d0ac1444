"""``resume``: which stored notifications a reconnecting client gets again (ADR 0016).

The client sends the cursor of the last notification it received. It gets, in cursor order, the user's
and the global entries stored after that cursor, plus the entries that were *in flight* around it —
concurrent broadcasts can deliver a newer notification before an older one, so a client's newest cursor
does not prove it has everything before it:

* user entries up to ``USER_REORDER_WINDOW_SECONDS`` older than the cursor (a chunk's store-to-post
  time is bounded by its fan-out; the broadcast service keeps chunks small), and
* global entries older than the cursor whose fan-out had not settled by the cursor's time (a global
  scan runs for minutes at large scale; its segments record when they are done).

Those extra frames are duplicates for a client that had them; clients drop duplicates by ``id``.
``recovered`` is false — the client refetches its state from the REST API — when the cursor is
malformed, unknown to this user's stream, older than the retention window, or when more than
``max_notifications`` are missing (then the oldest ``max_notifications`` are replayed first).
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.cursors import USER_STREAM, lower_bound, parse_cursor
from realtime.ports import GLOBAL_PARTITION, LogEntry, NotificationLog

USER_REORDER_WINDOW_SECONDS = 10
#: How far back a global entry that was still in flight at the cursor's time is looked for.
GLOBAL_INFLIGHT_WINDOW_SECONDS = 3600
#: At most this many in-flight entries per stream are replayed before the cursor.
WINDOW_LIMIT = 20


@dataclass(frozen=True)
class Replay:
    frames: tuple[str, ...]
    recovered: bool
    #: recovered | malformed | unknown | expired | too_many (logged, and the metric's reason).
    reason: str


class ReplayPlanner:
    def __init__(self, log: NotificationLog, *, retention_seconds: int, max_notifications: int):
        self.log = log
        self.retention_seconds = retention_seconds
        self.max_notifications = max_notifications

    def plan(self, user_id: str, after: str, now: float) -> Replay:
        cursor = parse_cursor(after)
        if cursor is None:
            return Replay((), False, "malformed")
        retained_from = now - self.retention_seconds
        if cursor.seconds < retained_from:
            # Everything still retained is newer than the client's position: give what we have.
            entries = self._merged(self._missing(user_id, lower_bound(int(retained_from * 1000)), now))
            return Replay(self._frames(entries[: self.max_notifications]), False, "expired")
        anchor = self.log.get(user_id if cursor.stream == USER_STREAM else GLOBAL_PARTITION, after)
        if anchor is None or anchor.expires_at <= now:
            return Replay((), False, "unknown")
        missing = self._merged(self._missing(user_id, after, now))
        if len(missing) > self.max_notifications:
            return Replay(self._frames(missing[: self.max_notifications]), False, "too_many")
        in_flight = self._in_flight(user_id, after, cursor.millis, now)
        return Replay(self._frames(self._merged(in_flight + missing)), True, "recovered")

    def _missing(self, user_id: str, lower: str, now: float) -> list[LogEntry]:
        limit = self.max_notifications + 1
        found = self.log.read_after(user_id, lower, limit) + self.log.read_after(GLOBAL_PARTITION, lower, limit)
        return [entry for entry in found if entry.expires_at > now]

    def _in_flight(self, user_id: str, after: str, after_millis: int, now: float) -> list[LogEntry]:
        user = self.log.read_before(user_id, after, lower_bound(after_millis - USER_REORDER_WINDOW_SECONDS * 1000),
                                    WINDOW_LIMIT)
        glob = self.log.read_before(GLOBAL_PARTITION, after,
                                    lower_bound(after_millis - GLOBAL_INFLIGHT_WINDOW_SECONDS * 1000), WINDOW_LIMIT)
        unsettled = [entry for entry in glob if entry.settled_at is None or entry.settled_at * 1000 >= after_millis]
        return [entry for entry in user + unsettled if entry.expires_at > now]

    @staticmethod
    def _merged(entries: list[LogEntry]) -> list[LogEntry]:
        unique = {(entry.partition, entry.cursor): entry for entry in entries}
        return sorted(unique.values(), key=lambda entry: entry.cursor)

    @staticmethod
    def _frames(entries: list[LogEntry]) -> tuple[str, ...]:
        return tuple(entry.frame for entry in entries)
