"""Message contract v1 (pydantic v2). ``python -m realtime.schema`` publishes it as JSON Schema.

Every frame is ``{"type", "version": "1.0", "id"?, "data"?}``. Clients send ``ping``; the server sends
``pong``, ``notification`` and ``error``. Broadcast requests arrive on SQS from the web app.
"""

from __future__ import annotations

import enum
import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

VERSION = "1.0"
#: Deepest JSON nesting accepted from a client, checked before parsing.
MAX_NESTING_DEPTH = 16

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class ErrorCode(enum.StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - an error code, not a secret
    INTERNAL_ERROR = "INTERNAL_ERROR"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Frame(_Model):
    version: Literal["1.0"] = Field(description="Protocol version; only 1.0 exists.")
    id: Identifier | None = Field(default=None, description="Correlation id; a pong echoes the ping's id.")


# --- client -> server ---------------------------------------------------------------------------

class PingMessage(_Frame):
    """Keep-alive. Send one at least every 5 minutes (API Gateway closes idle connections at 10; ADR 0007)."""

    type: Literal["ping"]
    data: dict[str, Any] | None = None


ClientMessage = PingMessage


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
    timestamp: str = Field(description="ISO 8601 UTC time the server sent it.")


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


ServerMessage = Annotated[PongMessage | NotificationMessage | ErrorMessage, Field(discriminator="type")]


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
    cursor: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _segments_only_for_all(self) -> BroadcastRequest:
        if (self.segment is not None or self.cursor is not None) and not isinstance(self.target, AllTarget):
            raise ValueError("segment and cursor are only valid with target.all")
        if self.cursor is not None and self.segment is None:
            raise ValueError("cursor needs segment")
        return self


# --- parsing and building ------------------------------------------------------------------------

class MessageRejected(Exception):
    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_CLIENT = TypeAdapter(ClientMessage)
_SERVER = TypeAdapter(ServerMessage)


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


def parse_client_message(text: str) -> PingMessage:
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
    if isinstance(version, str) and version != VERSION:
        raise MessageRejected(ErrorCode.UNSUPPORTED_VERSION, f"supported version is {VERSION}")
    if document.get("type") not in ("ping",):
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, "unknown or missing type; clients may send: ping")
    try:
        return _CLIENT.validate_python(document)
    except ValidationError as error:
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, _summary(error)) from None


def parse_broadcast_request(text: str) -> BroadcastRequest:
    try:
        return BroadcastRequest.model_validate_json(text)
    except ValidationError as error:
        raise MessageRejected(ErrorCode.INVALID_MESSAGE, _summary(error)) from None


def iso_timestamp(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_seconds)) + f".{int(epoch_seconds * 1000) % 1000:03d}Z"


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def error_message(code: ErrorCode, message: str, now: float, request_id: str) -> ErrorMessage:
    return ErrorMessage(type="error", version=VERSION, data=ErrorData(
        code=code, message=message, timestamp=iso_timestamp(now), requestId=request_id))


def pong_message(ping: PingMessage, now: float) -> PongMessage:
    return PongMessage(type="pong", version=VERSION, id=ping.id, data=PongData(timestamp=iso_timestamp(now)))


def notification_message(request: BroadcastRequest, now: float) -> NotificationMessage:
    data = NotificationData(**request.notification.model_dump(), timestamp=iso_timestamp(now))
    return NotificationMessage(type="notification", version=VERSION, id=request.id, data=data)


def validate_server_message(document: Any) -> Any:
    """Validate a server frame (tests and the fuzz use it to check every reply)."""
    return _SERVER.validate_python(document)
