"""The local gateway builds the events API Gateway, SQS and EventBridge send (fast; no stack needed).

``tests/e2e/events/*.json`` are examples in the shape of the AWS documentation ("Control access to
WebSocket APIs with AWS Lambda REQUEST authorizers", "Using Lambda with Amazon SQS", "Amazon
EventBridge scheduled events"), filled with this project's values. Each builder must produce
exactly the same key paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wsctl.gateway import events

EVENTS = Path(__file__).parent / "events"


def key_paths(value, prefix=""):
    if isinstance(value, dict):
        paths = set()
        for key, item in value.items():
            # header and query names vary per request: only the container is part of the shape
            if prefix.rstrip(".").split(".")[-1] in ("headers", "multiValueHeaders", "queryStringParameters",
                                                     "multiValueQueryStringParameters", "authorizer"):
                paths.add(prefix.rstrip("."))
                continue
            paths |= key_paths(item, f"{prefix}{key}.")
        return paths or {prefix.rstrip(".")}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return key_paths(value[0], prefix.rstrip(".") + "[].")
    return {prefix.rstrip(".")}


@pytest.fixture
def client():
    return events.ClientRequest(connection_id=events.new_connection_id(), domain_name="127.0.0.1:3001", stage="local",
                                api_id="abcdef123", source_ip="127.0.0.1",
                                headers=[("Host", "127.0.0.1:3001"), ("Origin", "http://localhost:5173"),
                                         ("User-Agent", "Mozilla/5.0")],
                                query="token=abc")


AUTHORIZER = {"principalId": "u1", "integrationLatency": 0, "userId": "u1", "tokenExpiresAt": 1}


def example(name):
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_authorizer_request_event(client):
    built = events.authorizer_event(client, "arn:aws:execute-api:us-east-1:123456789012:abcdef123/local/$connect")
    assert key_paths(built) == key_paths(example("authorizer-request"))
    assert built["queryStringParameters"] == {"token": "abc"}


def test_connect_message_and_disconnect_events(client):
    assert key_paths(events.connect_event(client, AUTHORIZER)) == key_paths(example("connect"))
    message = events.message_event(client, "$default", '{"type":"ping"}', AUTHORIZER)
    assert key_paths(message) == key_paths(example("message"))
    assert key_paths(events.disconnect_event(client, 1001, "Going away", AUTHORIZER)) == key_paths(example("disconnect"))


def test_connection_ids_look_like_api_gateway_ones():
    ids = {events.new_connection_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 16 and i.endswith("=") for i in ids)


def test_sqs_event():
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "MD5OfBody": "x",
               "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "s",
                              "ApproximateFirstReceiveTimestamp": "1"}}
    built = events.sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert key_paths(built) == key_paths(example("sqs"))


def test_scheduled_event():
    built = events.scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", "123456789012", "us-east-1",
                                   "events", None)
    assert key_paths(built) == key_paths(example("scheduled"))
