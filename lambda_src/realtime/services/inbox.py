"""The notification inbox (ADR 0020; the wire format is docs/messages.md, "Inbox: history and read state").

``history`` lists a page of the user's stored notifications, newest first, merged over the user's own
stream and the global stream, with the user's read state; ``read`` and ``read.all`` change that read
state. Read state lives in the user's own partition of the notification log: a read position per stream
("everything up to this offset is read": one write for "Mark all as read") and a mark per notification
read on its own (expiring with the entry). A client names a stream, never a partition, so a user can only
ever read and mark their own and the global stream. Every read is counted against the user's read budget
(ADR 0018) before it happens; every refusal happens before any write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from realtime.messages import (
    STREAMS,
    ErrorCode,
    HistoryItem,
    HistoryPage,
    HistoryPageData,
    HistoryRequest,
    ReadAllMessage,
    ReadMessage,
    ReadStateMessage,
    ReadUpto,
    StreamOffset,
    encode,
    read_state_message,
)
from realtime.ports import (
    ConnectionStore,
    LogEntry,
    NotificationLog,
    ReadPositions,
    ReadStateStore,
    StreamHead,
    partition_of,
)
from realtime.services.replay import spend_read_budget

#: The unread count counts at most this many notifications per stream (a larger value reads "500 or more").
UNREAD_COUNT_LIMIT = 500
#: API Gateway's WebSocket frame limit is 32 KB; every ``history`` frame stays below this.
MAX_FRAME_BYTES = 32 * 1024 - 256
#: ``before`` when the client asks for the newest page (above every offset: 20 digits in the sort key).
NEWEST = 10**19


class InboxRefused(Exception):
    """The frame is refused before anything changed: answered with an ``error`` frame of ``code``."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class HistoryAnswer:
    #: The page's frames, each under :data:`MAX_FRAME_BYTES`, in order.
    frames: tuple[bytes, ...]
    items: int
    #: Log entries read (the metric ``HistoryItemsRead``).
    entries_read: int


def _upto(positions: ReadPositions) -> ReadUpto:
    return ReadUpto(user=positions.user, global_=positions.global_)


class InboxService:
    def __init__(self, log: NotificationLog, read_state: ReadStateStore, store: ConnectionStore, *,
                 retention_seconds: int, budget_items: int, budget_window_seconds: int):
        self.log = log
        self.read_state = read_state
        self.store = store
        self.retention_seconds = retention_seconds
        self.budget_items = budget_items
        self.budget_window = budget_window_seconds

    # -- history ----------------------------------------------------------------------------------
    def history(self, user_id: str, request: HistoryRequest, now: float) -> HistoryAnswer:
        limit = request.data.limit
        asked = request.data.before
        heads = self._heads(user_id)
        positions = self.read_state.positions(user_id)
        before = {}
        for stream in STREAMS:
            named = getattr(asked, "user" if stream == "user" else "global_") if asked is not None else None
            before[stream] = min(NEWEST if named is None else named, heads[stream].offset + 1)
        page_reads = sum(min(limit + 1, max(0, before[stream] - 1)) for stream in STREAMS)
        self._spend(user_id, page_reads + self._unread_reads(positions, heads), now)

        fetched = {stream: self.log.page(partition_of(stream, user_id), before[stream], limit + 1)
                   for stream in STREAMS}
        live = [(stream, entry) for stream in STREAMS for entry in fetched[stream] if entry.expires_at > now]
        # Newest first by the time it was stored; within a stream the offset orders it.
        live.sort(key=lambda pair: (pair[1].stored_at, pair[0] == "user", pair[1].offset), reverse=True)
        page = live[:limit]
        listed = {stream: [entry.offset for s, entry in page if s == stream] for stream in STREAMS}
        more = any(len([1 for s, _ in live if s == stream]) > len(listed[stream]) for stream in STREAMS)
        next_before = {stream: min(listed[stream]) if listed[stream] else before[stream] for stream in STREAMS}
        marked = {stream: self.read_state.marks(user_id, stream, min(listed[stream]) - 1, max(listed[stream]), now)
                  if listed[stream] else set() for stream in STREAMS}
        items = [self._item(stream, entry, entry.offset <= positions.of(stream) or entry.offset in marked[stream])
                 for stream, entry in page]
        unread = self._unread(user_id, positions, heads, now)
        frames = self._split(request.id, items, more=more, unread=unread, readUpto=_upto(positions),
                             before=ReadUpto(user=next_before["user"], global_=next_before["global"]))
        return HistoryAnswer(frames, len(items), sum(len(entries) for entries in fetched.values()))

    @staticmethod
    def _item(stream: str, entry: LogEntry, read: bool) -> HistoryItem:
        frame = json.loads(entry.frame)
        return HistoryItem.model_validate({"stream": stream, "epoch": entry.epoch, "offset": entry.offset,
                                           "id": frame.get("id") or entry.request_id, "read": read,
                                           "data": frame["data"]})

    @staticmethod
    def _split(request_id: str | None, items: list[HistoryItem], **fields) -> tuple[bytes, ...]:
        """Greedy: as many items per frame as fit under the frame limit (one item is at most ≈ 5 KB)."""

        def frame(chunk: list[HistoryItem], part: int, parts: int) -> bytes:
            return encode(HistoryPage(type="history", version="2.0", id=request_id, data=HistoryPageData(
                items=chunk, part=part, parts=parts, **fields)))

        chunks: list[list[HistoryItem]] = [[]]
        for item in items:
            # parts is at most two digits: measure with a placeholder of that width.
            if chunks[-1] and len(frame([*chunks[-1], item], 99, 99)) > MAX_FRAME_BYTES:
                chunks.append([])
            chunks[-1].append(item)
        return tuple(frame(chunk, index + 1, len(chunks)) for index, chunk in enumerate(chunks))

    # -- read state -------------------------------------------------------------------------------
    def mark(self, user_id: str, message: ReadMessage, now: float) -> ReadStateMessage:
        stream, offset = message.data.stream, message.data.offset
        entry = self.log.get(partition_of(stream, user_id), offset)
        if entry is None or entry.expires_at <= now:
            raise InboxRefused(ErrorCode.NOT_FOUND, f"no stored notification at {stream} offset {offset}")
        heads = self._heads(user_id)
        positions = self.read_state.positions(user_id)
        self._spend(user_id, self._unread_reads(positions, heads), now)
        marked: list[StreamOffset] = []
        if offset > positions.of(stream):  # at or below the position it is read already: no write
            self.read_state.mark(user_id, stream, offset, entry.expires_at)
            marked.append(StreamOffset(stream=stream, offset=offset))
        # Heads read again: a notification stored meanwhile is unread and must be counted.
        return read_state_message(message.id, unread=self._unread(user_id, positions, self._heads(user_id), now),
                                  read_upto=_upto(positions), marked=marked, now=now)

    def mark_all(self, user_id: str, message: ReadAllMessage, now: float) -> ReadStateMessage:
        heads = self._heads(user_id)
        named = message.data.upto
        if named is None:
            upto = {stream: heads[stream].offset for stream in STREAMS}
        else:
            upto = {stream: value for stream, value in (("user", named.user), ("global", named.global_))
                    if value is not None}
        for stream, value in upto.items():
            if value > heads[stream].offset:
                raise InboxRefused(ErrorCode.NOT_FOUND, f"{stream} offset {value} is above the stream's head "
                                                        f"{heads[stream].offset}")
        current = self.read_state.positions(user_id)
        after = ReadPositions(user=max(current.user, upto.get("user", 0)),
                              global_=max(current.global_, upto.get("global", 0)))
        self._spend(user_id, self._unread_reads(after, heads), now)
        positions = self.read_state.raise_positions(user_id, upto, int(now) + self.retention_seconds)
        return read_state_message(message.id, unread=self._unread(user_id, positions, self._heads(user_id), now),
                                  read_upto=_upto(positions), marked=[], now=now)

    # -- shared -----------------------------------------------------------------------------------
    def _heads(self, user_id: str) -> dict[str, StreamHead]:
        return {stream: self.log.head(partition_of(stream, user_id)) for stream in STREAMS}

    @staticmethod
    def _unread_reads(positions: ReadPositions, heads: dict[str, StreamHead]) -> int:
        return sum(min(UNREAD_COUNT_LIMIT, max(0, heads[stream].offset - positions.of(stream))) for stream in STREAMS)

    def _unread(self, user_id: str, positions: ReadPositions, heads: dict[str, StreamHead], now: float) -> int:
        """Stored, unexpired notifications above the read position that are not marked, per stream (≤ 500)."""
        total = 0
        for stream in STREAMS:
            after, upto = positions.of(stream), heads[stream].offset
            if upto <= after:
                continue
            offsets = self.log.live_offsets(partition_of(stream, user_id), after, upto, now, UNREAD_COUNT_LIMIT)
            if offsets:
                marked = self.read_state.marks(user_id, stream, min(offsets) - 1, max(offsets), now)
                total += len(set(offsets) - marked)
        return total

    def _spend(self, user_id: str, items: int, now: float) -> None:
        if items <= 0:
            return
        if not spend_read_budget(self.store, user_id, items, now, limit=self.budget_items,
                                 window_seconds=self.budget_window):
            raise InboxRefused(ErrorCode.BUDGET_EXCEEDED,
                               f"read budget of {self.budget_items} per {self.budget_window} s spent; retry later")
