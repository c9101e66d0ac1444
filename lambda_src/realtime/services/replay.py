"""``resume`` and the heads of ``pong`` (ADR 0018; the rules are docs/messages.md's "Streams, offsets and
epochs").

A client sends its position per stream: the epoch and the highest offset below which it has everything.
Per stream the replay is every stored entry in ``(position, head]``, in offset order, with the head read
strongly consistent first — an append writes its entry and moves the head in one transaction, so every
offset up to the head read is either stored or gone (expired, purged). A stream recovers exactly when its
epoch is the position's and every offset of the range is still stored and unexpired; otherwise nothing is
replayed for it and the reason says why. The items a resume is about to read are first counted against
the user's read budget (shared by all the user's connections); over it, nothing is replayed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from realtime.messages import STREAMS, Head, Heads, Position, Positions
from realtime.ports import (
    GLOBAL_PARTITION,
    GLOBAL_SETTLE_SECONDS,
    NO_STREAM,
    ConnectionStore,
    LogEntry,
    NotificationLog,
    StreamHead,
    partition_of,
    settled_upto,
)

#: The per-container cache of the global head item for ``pong`` (one hot key read by every ping).
GLOBAL_HEAD_CACHE_SECONDS = 5.0
#: Budget items outlive their window by this much (TTL deletion is lazy; the count only matters in-window).
BUDGET_TTL_SLACK_SECONDS = 60


def spend_read_budget(store: ConnectionStore, user_id: str, items: int, now: float, *, limit: int,
                      window_seconds: int) -> bool:
    """Count ``items`` log reads against the user's budget of the current fixed window (resume and inbox)."""
    window = int(now // window_seconds)
    return store.spend_read_budget(user_id, items, window, limit,
                                   (window + 1) * window_seconds + BUDGET_TTL_SLACK_SECONDS)


def wire_head(head: StreamHead, offset: int | None = None) -> Head:
    return Head(epoch=head.epoch, offset=head.offset if offset is None else offset)


def wire_heads(user: Head, global_: Head) -> Heads:
    return Heads(user=user, global_=global_)


@dataclass(frozen=True)
class Replay:
    #: The user stream's frames, then the global stream's, each in offset order.
    frames: tuple[str, ...]
    heads: Heads
    recovered: bool
    #: None when recovered; else epoch | expired | too_many | budget | invalid (the first stream that failed).
    reason: str | None
    #: Per stream that did not recover: its reason (logged).
    failed: dict[str, str]


def _position(positions: Positions, stream: str) -> Position | None:
    return positions.user if stream == "user" else positions.global_


def _range(position: Position, head: StreamHead, limit: int) -> tuple[int, int] | str:
    """``(after, upto)`` to replay, or the reason the stream cannot recover."""
    if position.epoch is None:
        if position.offset != 0:
            return "invalid"
        if head.epoch is not None and not head.initial:
            return "epoch"  # offset 1 exists only in a stream's first epoch: this history was lost
    elif position.epoch != head.epoch:
        return "epoch"
    elif position.offset > head.offset:
        return "invalid"
    after = position.offset
    if head.offset - after > limit:
        return "too_many"
    return after, head.offset


class ReplayPlanner:
    def __init__(self, log: NotificationLog, store: ConnectionStore, *, max_notifications: int,
                 budget_items: int, budget_window_seconds: int):
        self.log = log
        self.store = store
        self.max_notifications = max_notifications
        self.budget_items = budget_items
        self.budget_window = budget_window_seconds

    def plan(self, user_id: str, positions: Positions, now: float) -> Replay:
        heads = {stream: self.log.head(partition_of(stream, user_id)) for stream in STREAMS}
        answer = wire_heads(wire_head(heads["user"]), wire_head(heads["global"]))
        failed: dict[str, str] = {}
        ranges: dict[str, tuple[int, int]] = {}
        for stream in STREAMS:
            position = _position(positions, stream)
            if position is None:
                continue
            planned = _range(position, heads[stream], self.max_notifications)
            if isinstance(planned, str):
                failed[stream] = planned
            elif planned[1] > planned[0]:
                ranges[stream] = planned
        reads = sum(upto - after for after, upto in ranges.values())
        if reads and not self._spend(user_id, reads, now):
            return Replay((), answer, False, "budget", {stream: "budget" for stream in STREAMS})
        frames: list[str] = []
        for stream, (after, upto) in ranges.items():
            entries = self.log.read_range(partition_of(stream, user_id), after, upto)
            if not self._complete(entries, after, upto, heads[stream], now):
                failed[stream] = "expired"
                continue
            frames += [entry.frame for entry in entries]
        reason = next((failed[stream] for stream in STREAMS if stream in failed), None)
        return Replay(tuple(frames), answer, not failed, reason, failed)

    def _spend(self, user_id: str, items: int, now: float) -> bool:
        return spend_read_budget(self.store, user_id, items, now, limit=self.budget_items,
                                 window_seconds=self.budget_window)

    @staticmethod
    def _complete(entries: list[LogEntry], after: int, upto: int, head: StreamHead, now: float) -> bool:
        """Every offset of the range is there, of the head's epoch and within retention (TTL deletes lazily)."""
        return ([entry.offset for entry in entries] == list(range(after + 1, upto + 1))
                and all(entry.epoch == head.epoch and entry.expires_at > now for entry in entries))


class HeadReader:
    """The heads a 2.0 ``pong`` advertises: the user head eventually consistent, the global head from a
    per-container cache and only as far as it has settled (no resume storm during a global fan-out)."""

    def __init__(self, log: NotificationLog, *, cache_seconds: float = GLOBAL_HEAD_CACHE_SECONDS):
        self.log = log
        self.cache_seconds = cache_seconds
        self._global: tuple[float, StreamHead] | None = None
        self._lock = threading.Lock()

    def for_pong(self, user_id: str, now: float) -> Heads:
        return wire_heads(wire_head(self.log.head(user_id, consistent=False)), self._settled_global(now))

    def _settled_global(self, now: float) -> Head:
        with self._lock:
            cached = self._global
        if cached is None or not (0 <= now - cached[0] < self.cache_seconds):
            cached = (now, self._advertised_global(now))
            with self._lock:
                self._global = cached
        return cached[1]

    def _advertised_global(self, now: float) -> Head:
        """The highest offset up to which every global has settled: its fan-out finished (the head item's
        ``settled``), or it is gone, or it was stored more than ``GLOBAL_SETTLE_SECONDS`` ago (a fan-out
        that crashed must not hide its gap forever). Read once per cache period; globals are rare."""
        head = self.log.head(GLOBAL_PARTITION, consistent=False)
        old = now - GLOBAL_SETTLE_SECONDS

        def settled(offset: int) -> bool:
            entry = self.log.get(GLOBAL_PARTITION, offset)
            return entry is None or entry.settled_at is not None or entry.stored_at <= old

        offset = head.offset if head.stored_at <= old else settled_upto(head, settled)
        if offset == 0 and head.initial:
            return wire_head(NO_STREAM)  # its first global is still in flight: the stream "does not exist" yet
        return wire_head(head, offset)
