"""Read-only typed views over the Lambda events this backend receives.

Shapes follow real API Gateway events (tests/handlers/test_real_events.py feeds every handler the
third-party captures in ../shared/aws-events/; tests/events/*.json are held to them). Views copy only the
fields the domain needs, so nothing downstream can log a whole event or a query string by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            return value
    return None


@dataclass(frozen=True)
class AuthorizerRequest:
    """A REQUEST authorizer event on ``$connect``."""

    method_arn: str
    token: str | None
    origin: str | None
    connection_id: str | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> AuthorizerRequest:
        event = _mapping(event)
        headers = _mapping(event.get("headers"))
        query = _mapping(event.get("queryStringParameters"))
        # ADR 0003: the token travels in the query string only; Sec-WebSocket-Protocol is ignored.
        token = query.get("token")
        return cls(
            method_arn=str(event.get("methodArn") or ""),
            token=token if isinstance(token, str) and token else None,
            origin=_header(headers, "Origin"),
            connection_id=_mapping(event.get("requestContext")).get("connectionId"),
        )


@dataclass(frozen=True)
class WebSocketRequest:
    """A ``$connect``, ``$disconnect`` or ``$default`` proxy-integration event."""

    connection_id: str
    route_key: str
    request_id: str
    body: str | None
    is_base64_encoded: bool
    user_id: str | None
    token_expires_at: int | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WebSocketRequest:
        event = _mapping(event)
        context = _mapping(event.get("requestContext"))
        authorizer = _mapping(context.get("authorizer"))
        connection_id = context.get("connectionId")
        if not isinstance(connection_id, str) or not connection_id:
            raise ValueError("event has no requestContext.connectionId")
        user_id = authorizer.get("userId")
        body = event.get("body")
        return cls(
            connection_id=connection_id,
            route_key=str(context.get("routeKey") or ""),
            request_id=str(context.get("requestId") or ""),
            body=body if isinstance(body, str) else None,
            is_base64_encoded=bool(event.get("isBase64Encoded")),
            user_id=user_id if isinstance(user_id, str) and user_id else None,
            token_expires_at=_int_or_none(authorizer.get("tokenExpiresAt")),
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class QueueMessage:
    """One SQS record of an event-source-mapping batch."""

    message_id: str
    body: str
    receive_count: int


def queue_messages(event: Mapping[str, Any]) -> list[QueueMessage]:
    records = _mapping(event).get("Records")
    messages = []
    for record in records if isinstance(records, list) else []:
        record = _mapping(record)
        attributes = _mapping(record.get("attributes"))
        messages.append(QueueMessage(
            message_id=str(record.get("messageId") or ""),
            body=record.get("body") if isinstance(record.get("body"), str) else "",
            receive_count=_int_or_none(attributes.get("ApproximateReceiveCount")) or 1,
        ))
    return messages
