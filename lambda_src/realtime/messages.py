"""Message contract v1 (pydantic v2). ``python -m realtime.schema`` publishes it as JSON Schema.

Every frame is ``{"type", "version", "id"?, "data"?}``. Version 1.0: clients send ``ping``; the server
sends ``pong``, ``notification`` and ``error``. Version 1.1 adds ``resume`` (replay the notifications
missed since a cursor; answered by ``resumed``) and ``refresh`` (a new token for the open connection;
answered by ``refreshed``), and every ``notification`` carries ``data.cursor`` (ADR 0016). Notification
frames keep ``version: "1.0"`` because the fan-out cannot know a connection's version: the cursor is an
additive field. Broadcast requests arrive on SQS from the web app.
"""

from __future__ import annotations

import enum
import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from realtime.config import MAX_TOKEN_CHARS

VERSION = "1.0"
VERSION_1_1 = "1.1"
SUPPORTED_VERSIONS = (VERSION, VERSION_1_1)
Version = Literal["1.0", "1.1"]
#: Deepest JSON nesting accepted from a client, checked before parsing.
MAX_NESTING_DEPTH = 16
CLIENT_TYPES = ("ping", "resume", "refresh")

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
#: Position in a user's notification stream (ADR 0016): ordered, the same on every tab and replay.
#: Opaque to clients; the server parses its own format (realtime.cursors).
Cursor = Annotated[str, Field(min_length=1, max_length=64, description=(
    "Opaque position of this notification in the user's stream; send the last one you received as "
    "`resume.data.after`."))]


class ErrorCode(enum.StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - an error code, not a secret
    TOKEN_INVALID = "TOKEN_INVALID"  # noqa: S105 - an error code, not a secret
    INTERNAL_ERROR = "INTERNAL_ERROR"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Frame(_Model):
    version: Version = Field(description="Protocol version: 1.0, or 1.1 for resume/refresh and their answers.")
    id: Identifier | None = Field(default=None, description="Correlation id; an answer echoes its request's id.")


class _Frame11(_Frame):
    version: Literal["1.1"] = Field(description="Protocol version 1.1.")


# --- client -> server ---------------------------------------------------------------------------

class PingMessage(_Frame):
    """Keep-alive. Send one at least every 5 minutes (API Gateway closes idle connections at 10; ADR 0007)."""

    type: Literal["ping"]
    data: dict[str, Any] | None = None


class ResumeData(_Model):
    after: str = Field(description="The cursor of the last notification this client received. An unknown, "
                                   "malformed or expired cursor is answered with `recovered: false`.")


class ResumeMessage(_Frame11):
    """Replay the notifications sent after ``data.after`` (user-targeted and global, in cursor order), each
    as a normal ``notification`` frame, then a ``resumed`` frame. Send it after every reconnect."""

    type: Literal["resume"]
    data: ResumeData


class RefreshData(_Model):
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS,
                       description="A fresh Cognito token of the connection's own user.")


class RefreshMessage(_Frame11):
    """Replace the connection's token before it expires, so the connection is not closed at its expiry."""

    type: Literal["refresh"]
    data: RefreshData


ClientMessage = Annotated[PingMessage | ResumeMessage | RefreshMessage, Field(discriminator="type")]


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
    timestamp: str = Field(description="ISO 8601 UTC time the server first sent it (the same on a replay).")
    cursor: Cursor | None = None


class PongData(_Model):
    timestamp: str


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
    recovered: bool = Field(description="True when every notification after the cursor was replayed; false "
                                        "when the client must refetch its state from the REST API.")
    replayed: int = Field(ge=0, description="How many notification frames preceded this one.")


class ResumedMessage(_Frame11):
    type: Literal["resumed"]
    data: ResumedData


class RefreshedData(_Model):
    expiresAt: str = Field(description="ISO 8601 UTC expiry of the new token: the connection's new expiry.")  # noqa: N815 - wire name


class RefreshedMessage(_Frame11):
    type: Literal["refreshed"]
    data: RefreshedData


ServerMessage = Annotated[PongMessage | NotificationMessage | ErrorMessage | ResumedMessage | RefreshedMessage,
                          Field(discriminator="type")]


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
    """What the web app puts on the broadcast queue. ``segment``/``cursor`` are set by the backend
    itself when it splits a global broadcast into parallel-scan jobs."""

    id: Identifier
    target: UserTarget | AllTarget
    notification: Notification
    segment: Segment | None = None
    cursor: str | None = Field(default=None, max_length=1024, description="Scan position of a continuation job.")
    logCursor: Cursor | None = Field(  # noqa: N815 - wire name
        default=None, description="The notification-log cursor of a global broadcast, carried by its segment jobs.")

    @model_validator(mode="after")
    def _segments_only_for_all(self) -> BroadcastRequest:
        backend_only = (self.segment, self.cursor, self.logCursor)
        if any(value is not None for value in backend_only) and not isinstance(self.target, AllTarget):
            raise ValueError("segment, cursor and logCursor are only valid with target.all")
        if (self.cursor is not None or self.logCursor is not None) and self.segment is None:
            raise ValueError("cursor and logCursor need segment")
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


def parse_client_message(text: str) -> PingMessage | ResumeMessage | RefreshMessage:
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
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, f"{kind} needs version {VERSION_1_1}", answer_in)
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


def pong_message(ping: PingMessage, now: float) -> PongMessage:
    return PongMessage(type="pong", version=ping.version, id=ping.id, data=PongData(timestamp=iso_timestamp(now)))


def notification_message(request: BroadcastRequest, now: float, cursor: str | None = None) -> NotificationMessage:
    """The frame every target connection gets; ``now`` is when it was stored (a replay is byte-identical)."""
    data = NotificationData(**request.notification.model_dump(), timestamp=iso_timestamp(now), cursor=cursor)
    return NotificationMessage(type="notification", version=VERSION, id=request.id, data=data)


def resumed_message(resume: ResumeMessage, *, recovered: bool, replayed: int) -> ResumedMessage:
    return ResumedMessage(type="resumed", version=VERSION_1_1, id=resume.id,
                          data=ResumedData(recovered=recovered, replayed=replayed))


def refreshed_message(refresh: RefreshMessage, expires_at: int) -> RefreshedMessage:
    return RefreshedMessage(type="refreshed", version=VERSION_1_1, id=refresh.id,
                            data=RefreshedData(expiresAt=iso_timestamp(expires_at)))


def validate_server_message(document: Any) -> Any:
    """Validate a server frame (tests and the fuzz use it to check every reply)."""
    return _SERVER.validate_python(document)
