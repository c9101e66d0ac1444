"""Event payloads as API Gateway, SQS and EventBridge deliver them to Lambda.

Shapes follow the AWS documentation ("Control access to WebSocket APIs with AWS Lambda REQUEST
authorizers", "WebSocket API mapping template reference", "Using Lambda with Amazon SQS", "Using
Lambda with EventBridge") and the third-party captures in ``../shared/aws-events/``, which
tests/e2e/test_event_shapes.py holds every builder to (same keys, same value types).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs


def new_connection_id() -> str:
    # API Gateway ids look like 'L0SM9cOFvHcCIhw=': 11 random bytes, URL-safe base64 with padding.
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def request_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(11)).decode().rstrip("=")


def _request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


@dataclass
class ClientRequest:
    """What API Gateway knows about the handshake of one connection."""

    connection_id: str
    domain_name: str
    stage: str
    api_id: str
    source_ip: str
    headers: list[tuple[str, str]]
    query: str
    connected_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def user_agent(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "user-agent"), None)

    def header_maps(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for key, value in self.headers:
            single[key] = value
            multi.setdefault(key, []).append(value)
        return single, multi

    def query_maps(self) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
        parsed = parse_qs(self.query, keep_blank_values=True)
        if not parsed:
            return None, None
        return {k: v[-1] for k, v in parsed.items()}, parsed

    def request_context(self, route_key: str, event_type: str, **extra: Any) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        # "$context.requestId: same as $context.extendedRequestId" (WebSocket mapping template reference).
        request = request_id()
        # Real captures carry userAgent only when the client sent one.
        identity = {"userAgent": self.user_agent} if self.user_agent is not None else {}
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request,
            "requestTime": _request_time(now_ms),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": now_ms,
            "identity": {**identity, "sourceIp": self.source_ip},
            "requestId": request,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        }
        context.update(extra)
        return context


def authorizer_event(request: ClientRequest, method_arn: str) -> dict[str, Any]:
    headers, multi_headers = request.header_maps()
    query, multi_query = request.query_maps()
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or {},
        "multiValueQueryStringParameters": multi_query or {},
        "stageVariables": {},
        "requestContext": request.request_context("$connect", "CONNECT"),
    }


def connect_event(request: ClientRequest, authorizer: dict[str, Any] | None) -> dict[str, Any]:
    headers, multi_headers = request.header_maps()
    query, multi_query = request.query_maps()
    extra = {"authorizer": authorizer} if authorizer is not None else {}
    event: dict[str, Any] = {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": request.request_context("$connect", "CONNECT", **extra),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    return event


def message_event(request: ClientRequest, route_key: str, body: str | bytes,
                  authorizer: dict[str, Any] | None) -> dict[str, Any]:
    is_binary = isinstance(body, bytes)
    extra: dict[str, Any] = {"messageId": request_id()}
    if authorizer is not None:
        extra["authorizer"] = authorizer
    return {
        "requestContext": request.request_context(route_key, "MESSAGE", **extra),
        "body": base64.b64encode(body).decode() if is_binary else body,
        "isBase64Encoded": is_binary,
    }


def disconnect_event(request: ClientRequest, status_code: int, reason: str,
                     authorizer: dict[str, Any] | None) -> dict[str, Any]:
    headers = {"Host": request.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    extra: dict[str, Any] = {"disconnectStatusCode": status_code, "disconnectReason": reason}
    if authorizer is not None:
        extra["authorizer"] = authorizer
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": request.request_context("$disconnect", "DISCONNECT", **extra),
        "isBase64Encoded": False,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """One SQS message attribute as Lambda delivers it: only the value it has (a binary one base64)."""
    delivered: dict[str, Any] = {}
    if "StringValue" in value:
        delivered["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        binary = value["BinaryValue"]
        delivered["binaryValue"] = base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary
    return {**delivered, "stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {key: attributes[key] for key in (
                "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader") if key in attributes},
            "messageAttributes": {name: _message_attribute(value)
                                  for name, value in (message.get("MessageAttributes") or {}).items()},
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append({**record, "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return {"Records": records}


def scheduled_event(source_arn: str, account_id: str, region: str, kind: str, input_: str | None) -> Any:
    if input_ is not None:
        import json

        return json.loads(input_)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events" if kind == "events" else "aws.scheduler",
        "account": account_id,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [source_arn],
        # An EventBridge rule sends the object {}; EventBridge Scheduler the JSON text "{}".
        "detail": {} if kind == "events" else "{}",
    }


def http_date() -> str:
    return formatdate(usegmt=True)
