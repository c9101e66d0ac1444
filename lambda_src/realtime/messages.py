"""Message contract (pydantic v2). ``python -m realtime.schema`` publishes it as JSON Schema.

Every frame is ``{"type", "version", "id"?, "data"?}``. Version 1.0: clients send ``ping``; the server
sends ``pong``, ``notification`` and ``error``. Version 2.0 (ADR 0018) adds ``resume`` (per stream, replay
everything after the client's position; answered by ``resumed`` with the heads), ``refresh`` (a new token
for the open connection; answered by ``refreshed``) and the heads in ``pong``; every ``notification``
carries its ``stream``, ``epoch`` and ``offset``. Version 1.1 (ADR 0016's cursor resume) is retired.
Notification frames keep ``version: "1.0"`` because the fan-out cannot know a connection's version: the
stream fields are additive. Broadcast requests arrive on SQS from the web app.
"""

from __future__ import annotations

import enum
import json
import time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from realtime.config import MAX_TOKEN_CHARS

VERSION = "1.0"
VERSION_2 = "2.0"
SUPPORTED_VERSIONS = (VERSION, VERSION_2)
Version = Literal["1.0", "2.0"]
#: Deepest JSON nesting accepted from a client, checked before parsing.
MAX_NESTING_DEPTH = 16
CLIENT_TYPES = ("ping", "resume", "refresh", "history", "read", "read.all")
#: The most notifications one ``history`` page lists (docs/messages.md, "Inbox").
HISTORY_PAGE_LIMIT = 50

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
#: A stream's epoch (ADR 0018): opaque, changes whenever the stream's history is lost.
Epoch = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
#: The two streams every user reads: its own notifications and the global announcements.
StreamName = Literal["user", "global"]
STREAMS: tuple[StreamName, ...] = ("user", "global")
#: Why a ``resume`` could not recover exactly (docs/messages.md); clients treat unknown ones as ``false``.
ResumeReason = Literal["epoch", "expired", "too_many", "budget", "invalid"]


class ErrorCode(enum.StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - an error code, not a secret
    TOKEN_INVALID = "TOKEN_INVALID"  # noqa: S105 - an error code, not a secret
    CONNECTION_UNKNOWN = "CONNECTION_UNKNOWN"
    NOT_FOUND = "NOT_FOUND"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True,
                              serialize_by_alias=True)


class _Frame(_Model):
    version: Version = Field(description="Protocol version: 1.0 (ping only), or 2.0.")
    id: Identifier | None = Field(default=None, description="Correlation id; an answer echoes its request's id.")


class _Frame20(_Frame):
    version: Literal["2.0"] = Field(description="Protocol version 2.0.")


class Position(_Model):
    """Where a client stands in one stream: it has every offset up to ``offset`` of ``epoch``."""

    epoch: Epoch | None = Field(description="The stream's epoch; null when the stream did not exist (offset 0).")
    offset: int = Field(ge=0, description="The highest offset below which the client has everything.")

    @model_serializer(mode="plain")
    def _with_null_epoch(self) -> dict[str, Any]:
        # ``epoch: null`` means "no stream yet": it must survive encode()'s exclude_none.
        return {"epoch": self.epoch, "offset": self.offset}


#: A stream's head (the highest offset stored) has the same shape as a position.
Head = Position


class Positions(_Model):
    user: Position | None = None
    global_: Position | None = Field(default=None, alias="global")


class Heads(_Model):
    user: Head
    global_: Head = Field(alias="global")


# --- client -> server ---------------------------------------------------------------------------

class PingMessage(_Frame):
    """Keep-alive. Send one at least every 5 minutes (API Gateway closes idle connections at 10; ADR 0007)."""

    type: Literal["ping"]
    data: dict[str, Any] | None = None


class ResumeData(_Model):
    positions: Positions = Field(description="The client's position per stream; a stream left out is not "
                                             "replayed (a fresh page sends {} and adopts the heads).")


class ResumeMessage(_Frame20):
    """Replay, per stream and in offset order, every stored notification after the position, each as a
    normal ``notification`` frame, then a ``resumed`` frame. Send it after every (re)connect and on a gap."""

    type: Literal["resume"]
    data: ResumeData


class RefreshData(_Model):
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS,
                       description="A fresh Cognito token of the connection's own user.")


class RefreshMessage(_Frame20):
    """Replace the connection's token before it expires, so the connection is not closed at its expiry."""

    type: Literal["refresh"]
    data: RefreshData


class StreamOffsets(_Model):
    """An offset per stream, either optional (what a client names)."""

    user: int | None = Field(default=None, ge=0)
    global_: int | None = Field(default=None, ge=0, alias="global")


class HistoryData(_Model):
    before: StreamOffsets | None = Field(default=None, description="List only offsets below these (exclusive), "
                                         "per stream: the previous page's before. Omitted: from the newest.")
    limit: int = Field(default=HISTORY_PAGE_LIMIT, ge=1, le=HISTORY_PAGE_LIMIT)


class HistoryRequest(_Frame20):
    """A page of the user's stored notifications (own and global), newest first; answered by ``history`` frames."""

    type: Literal["history"]
    data: HistoryData = Field(default_factory=HistoryData)


class ReadData(_Model):
    stream: StreamName
    offset: int = Field(ge=1)


class ReadMessage(_Frame20):
    """Mark one stored notification read (for every connection of the user); answered by ``read.state``."""

    type: Literal["read"]
    data: ReadData


class ReadAllData(_Model):
    upto: StreamOffsets | None = Field(default=None, description="Mark everything up to these offsets read; "
                                       "omitted: up to each stream's head.")


class ReadAllMessage(_Frame20):
    """Mark everything up to a position read ("Mark all as read"); answered by ``read.state``."""

    type: Literal["read.all"]
    data: ReadAllData = Field(default_factory=ReadAllData)


ClientMessage = Annotated[PingMessage | ResumeMessage | RefreshMessage | HistoryRequest | ReadMessage
                          | ReadAllMessage, Field(discriminator="type")]
ClientFrame = PingMessage | ResumeMessage | RefreshMessage | HistoryRequest | ReadMessage | ReadAllMessage


# --- server -> client ---------------------------------------------------------------------------

NotificationKind = Literal["moc.upload.completed", "moc.finalized", "set.created", "system.announcement"]
Severity = Literal["info", "success", "warning", "error"]


class Resource(_Model):
    """The object a notification is about, for deep links in the web app."""

    type: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=256)


class Notification(_Model):
    kind: NotificationKind
    title: str = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=2000)
    severity: Severity | None = None
    link: str | None = Field(default=None, max_length=2048, pattern=r"^(https://|/)")
    resource: Resource | None = None


class NotificationData(Notification):
    timestamp: str = Field(description="ISO 8601 UTC time the server stored it (the same on a replay).")
    # The server always sends the three (protocol 2.0); they are optional in the schema so that a client
    # tolerates a notification without a position (deduplicated by `id`), e.g. from a server before 2.0.
    stream: StreamName | None = Field(default=None, description=(
        "user: addressed to this user; global: an announcement to everyone. Always sent by a 2.0 server."))
    epoch: Epoch | None = None
    offset: int | None = Field(default=None, ge=1, description=(
        "This notification's place in its stream and epoch: 1, 2, 3, … without holes."))


class PongData(_Model):
    timestamp: str
    heads: Heads | None = Field(default=None, description="2.0 only: each stream's head (the global one: settled).")


class ErrorData(_Model):
    code: Annotated[ErrorCode, Field(strict=False)]
    message: str
    timestamp: str
    requestId: str  # noqa: N815 - wire name


class PongMessage(_Frame):
    type: Literal["pong"]
    data: PongData


class NotificationMessage(_Frame):
    type: Literal["notification"]
    data: NotificationData


class ErrorMessage(_Frame):
    type: Literal["error"]
    data: ErrorData


class ResumedData(_Model):
    recovered: bool = Field(description="True when every notification between the positions and the heads was "
                                        "replayed; false when the client must refetch its state from the REST API.")
    replayed: int = Field(ge=0, description="How many notification frames preceded this one.")
    heads: Heads = Field(description="Each stream's head when the replay was read: the client's new positions.")
    reason: ResumeReason | None = Field(default=None, description="Why recovered is false.")


class ResumedMessage(_Frame20):
    type: Literal["resumed"]
    data: ResumedData


class RefreshedData(_Model):
    expiresAt: str = Field(description="ISO 8601 UTC expiry of the new token: the connection's new expiry.")  # noqa: N815 - wire name


class RefreshedMessage(_Frame20):
    type: Literal["refreshed"]
    data: RefreshedData


class ReadUpto(_Model):
    """The user's read position per stream: every offset up to it is read (0: none)."""

    user: int = Field(ge=0)
    global_: int = Field(ge=0, alias="global")


class StreamOffset(_Model):
    stream: StreamName
    offset: int = Field(ge=1)


class HistoryItem(_Model):
    stream: StreamName
    epoch: Epoch
    offset: int = Field(ge=1)
    id: str = Field(description="The broadcast request id (the notification frame's id).")
    read: bool = Field(description="Whether the user has read it (on any device).")
    data: NotificationData = Field(description="The notification exactly as it was posted.")


class HistoryPageData(_Model):
    items: list[HistoryItem] = Field(description="Newest first, both streams merged.")
    part: int = Field(ge=1, description="This frame's place among the page's frames (each under 32 KB).")
    parts: int = Field(ge=1, description="How many frames the page has.")
    more: bool = Field(description="Whether older notifications are stored (ask with before).")
    before: ReadUpto = Field(description="What to send as before for the next page.")
    unread: int = Field(ge=0, description="The user's unread count over both streams.")
    readUpto: ReadUpto  # noqa: N815 - wire name


class HistoryPage(_Frame20):
    type: Literal["history"]
    data: HistoryPageData


class ReadStateData(_Model):
    unread: int = Field(ge=0, description="The user's unread count over both streams.")
    readUpto: ReadUpto  # noqa: N815 - wire name
    marked: list[StreamOffset] = Field(description="Notifications this change marked read individually.")
    timestamp: str


class ReadStateMessage(_Frame20):
    """The answer to ``read``/``read.all`` (with its id), and pushed without id to the user's other connections."""

    type: Literal["read.state"]
    data: ReadStateData


ServerMessage = Annotated[PongMessage | NotificationMessage | ErrorMessage | ResumedMessage | RefreshedMessage
                          | HistoryPage | ReadStateMessage, Field(discriminator="type")]


# --- broadcast requests (SQS) --------------------------------------------------------------------

class UserTarget(_Model):
    userIds: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(  # noqa: N815 - wire name
        min_length=1, max_length=1000)


class AllTarget(_Model):
    all: Literal[True]


class Segment(_Model):
    index: int = Field(ge=0)
    total: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _index_in_range(self) -> Segment:
        if self.index >= self.total:
            raise ValueError("segment index must be < total")
        return self


class BroadcastRequest(_Model):
    """What the web app puts on the broadcast queue. ``segment``/``cursor``/``logOffset``/``logEpoch`` are set
    by the backend itself when it splits a global broadcast into parallel-scan jobs."""

    id: Identifier
    target: UserTarget | AllTarget
    notification: Notification
    segment: Segment | None = None
    cursor: str | None = Field(default=None, max_length=1024, description="Scan position of a continuation job.")
    logOffset: int | None = Field(  # noqa: N815 - wire name
        default=None, ge=1, description="The global stream offset of a stored announcement, carried by its segment jobs.")
    logEpoch: Epoch | None = Field(  # noqa: N815 - wire name
        default=None, description="The global stream epoch of ``logOffset``.")

    @model_validator(mode="after")
    def _segments_only_for_all(self) -> BroadcastRequest:
        backend_only = (self.segment, self.cursor, self.logOffset, self.logEpoch)
        if any(value is not None for value in backend_only) and not isinstance(self.target, AllTarget):
            raise ValueError("segment, cursor, logOffset and logEpoch are only valid with target.all")
        if (self.cursor is not None or self.logOffset is not None) and self.segment is None:
            raise ValueError("cursor and logOffset need segment")
        if (self.logOffset is None) != (self.logEpoch is None):
            raise ValueError("logOffset and logEpoch go together")
        return self


# --- parsing and building ------------------------------------------------------------------------

class MessageRejected(Exception):
    def __init__(self, code: ErrorCode, message: str, version: str = VERSION):
        super().__init__(message)
        self.code = code
        self.message = message
        #: The version the error frame answers in: the client's own when it is one we speak.
        self.version = version


_CLIENT = TypeAdapter(ClientMessage)
# Built on its first use: only tests and the fuzz validate server frames, never a function (ADR 0017).
_SERVER = TypeAdapter(ServerMessage, config=ConfigDict(defer_build=True))


def nesting_depth(text: str, limit: int) -> int:
    """Depth of ``[``/``{`` nesting outside strings, stopping early once above ``limit``."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _summary(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "message"
    return f"{where}: {first.get('msg', 'invalid')}"[:200]


def parse_client_message(text: str) -> ClientFrame:
    """Parse one client frame or raise :class:`MessageRejected` with the code to answer."""
    if nesting_depth(text, MAX_NESTING_DEPTH) > MAX_NESTING_DEPTH:
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, f"nested deeper than {MAX_NESTING_DEPTH} levels")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, "message is not valid JSON") from None
    if not isinstance(document, dict):
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, "message must be a JSON object")
    version = document.get("version")
    if isinstance(version, str) and version not in SUPPORTED_VERSIONS:
        raise MessageRejected(ErrorCode.UNSUPPORTED_VERSION, "supported versions are " + ", ".join(SUPPORTED_VERSIONS))
    answer_in = version if version in SUPPORTED_VERSIONS else VERSION
    kind = document.get("type")
    if kind not in CLIENT_TYPES:
        raise MessageRejected(ErrorCode.INVALID_MESSAGE,
                              "unknown or missing type; clients may send: " + ", ".join(CLIENT_TYPES), answer_in)
    if kind != "ping" and version == VERSION:
        raise MessageRejected(ErrorCode.UNSUPPORTED_VERSION, f"{kind} needs version {VERSION_2}", answer_in)
    try:
        return _CLIENT.validate_python(document)
    except ValidationError as error:
        if kind == "refresh" and any(e["type"] == "string_too_long" and tuple(e["loc"][-2:]) == ("data", "token")
                                     for e in error.errors()):
            # A token the handshake could never carry is a refused token, not a malformed frame (issue 17).
            raise MessageRejected(ErrorCode.TOKEN_INVALID, f"token refresh rejected: token longer than "
                                  f"{MAX_TOKEN_CHARS} characters", answer_in) from None
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, _summary(error), answer_in) from None


def parse_broadcast_request(text: str) -> BroadcastRequest:
    try:
        return BroadcastRequest.model_validate_json(text)
    except ValidationError as error:
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, _summary(error)) from None


def iso_timestamp(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_seconds)) + f".{int(epoch_seconds * 1000) % 1000:03d}Z"


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def error_message(code: ErrorCode, message: str, now: float, request_id: str, version: str = VERSION) -> ErrorMessage:
    return ErrorMessage(type="error", version=version, data=ErrorData(
        code=code, message=message, timestamp=iso_timestamp(now), requestId=request_id))


def pong_message(ping: PingMessage, now: float, heads: Heads | None = None) -> PongMessage:
    """1.0: the timestamp only; 2.0: with the heads (``heads`` is required then)."""
    if ping.version == VERSION_2 and heads is None:
        raise ValueError("a 2.0 pong carries the heads")
    return PongMessage(type="pong", version=ping.version, id=ping.id, data=PongData(
        timestamp=iso_timestamp(now), heads=heads if ping.version == VERSION_2 else None))


def notification_message(request: BroadcastRequest, now: float, *, stream: StreamName, epoch: str,
                         offset: int) -> NotificationMessage:
    """The frame every target connection gets; ``now`` is when it was stored (a replay is byte-identical)."""
    data = NotificationData(**request.notification.model_dump(), timestamp=iso_timestamp(now), stream=stream,
                            epoch=epoch, offset=offset)
    return NotificationMessage(type="notification", version=VERSION, id=request.id, data=data)


def resumed_message(resume: ResumeMessage, *, recovered: bool, replayed: int, heads: Heads,
                    reason: str | None = None) -> ResumedMessage:
    return ResumedMessage(type="resumed", version=VERSION_2, id=resume.id,
                          data=ResumedData(recovered=recovered, replayed=replayed, heads=heads, reason=reason))


def refreshed_message(refresh: RefreshMessage, expires_at: int) -> RefreshedMessage:
    return RefreshedMessage(type="refreshed", version=VERSION_2, id=refresh.id,
                            data=RefreshedData(expiresAt=iso_timestamp(expires_at)))


def read_state_message(request_id: str | None, *, unread: int, read_upto: ReadUpto, marked: list[StreamOffset],
                       now: float) -> ReadStateMessage:
    return ReadStateMessage(type="read.state", version=VERSION_2, id=request_id, data=ReadStateData(
        unread=unread, readUpto=read_upto, marked=marked, timestamp=iso_timestamp(now)))


def validate_server_message(document: Any) -> Any:
    """Validate a server frame (tests and the fuzz use it to check every reply)."""
    return _SERVER.validate_python(document)
