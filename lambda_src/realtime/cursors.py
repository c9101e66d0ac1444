"""Notification-log cursors (ADR 0016): ``<13-digit epoch ms><stream><12 hex digits>``.

One format for both streams a user reads — ``u`` for notifications addressed to the user, ``g`` for
global announcements stored once — so that a plain string comparison orders them in one sequence and a
resume can merge the two partitions. The time is when the broadcast function stored the notification
(not when it was enqueued), the digest separates notifications stored in the same millisecond.
Clients treat cursors as opaque; only this module parses them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

USER_STREAM = "u"
GLOBAL_STREAM = "g"
_CURSOR_RE = re.compile(r"\A(\d{13})([gu])([0-9a-f]{12})\Z")


@dataclass(frozen=True)
class ParsedCursor:
    millis: int
    stream: str

    @property
    def seconds(self) -> float:
        return self.millis / 1000


def make_cursor(stored_at_millis: int, stream: str, request_id: str) -> str:
    if stream not in (USER_STREAM, GLOBAL_STREAM):
        raise ValueError(f"unknown stream {stream!r}")
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:12]
    return f"{stored_at_millis:013d}{stream}{digest}"


def parse_cursor(cursor: str) -> ParsedCursor | None:
    """None for anything that is not a cursor this server made (a client may send any string)."""
    match = _CURSOR_RE.match(cursor) if isinstance(cursor, str) else None
    if match is None:
        return None
    return ParsedCursor(millis=int(match.group(1)), stream=match.group(2))


def lower_bound(millis: int) -> str:
    """A key below every cursor stored at ``millis`` or later (a query's exclusive start)."""
    return f"{max(0, millis):013d}"
