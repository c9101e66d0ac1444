"""The local gateway builds the events API Gateway, SQS and EventBridge send (fast; no stack needed):
the same keys and value types as the real captures in ``../shared/aws-events/`` (tests/aws_events.py
says which files are real and what may differ, and why). The handler inputs in tests/events/ are
held to the same captures, so no copy of a shape can drift from the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.aws_events import CATALOGUE, aws_events_dir, differences
from wsctl.gateway import events
from wsctl.gateway.policy import authorizer_context

HANDLER_EVENTS = Path(__file__).resolve().parents[1] / "events"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/local/$connect"


def client(user_agent: bool, query: str) -> events.ClientRequest:
    headers = [("Host", "127.0.0.1:3001"), ("Origin", "http://localhost:5173")]
    if user_agent:
        headers.append(("User-Agent", "Mozilla/5.0"))
    return events.ClientRequest(connection_id=events.new_connection_id(), domain_name="127.0.0.1:3001", stage="local",
                                api_id="abcdef123", source_ip="127.0.0.1", headers=headers, query=query)


CLIENTS = [pytest.param(client(True, "token=abc"), id="user-agent-and-query"),
           pytest.param(client(False, ""), id="neither")]
# What the gateway makes of the authorizer's answer: the map every later event carries.
AUTHORIZER = authorizer_context({"principalId": "u1", "context": {"userId": "u1", "tokenExpiresAt": 1795633200},
                                 "policyDocument": {"Version": "2012-10-17", "Statement": []}})


def test_every_capture_is_catalogued():
    assert set(CATALOGUE) == {path.name for path in aws_events_dir().glob("*.json")}


def test_a_missing_captures_folder_fails_naming_it(tmp_path, monkeypatch):
    import tests.aws_events

    missing = (tmp_path / "shared" / "aws-events", tmp_path / "work" / "shared" / "aws-events")
    monkeypatch.setattr(tests.aws_events, "CANDIDATES", missing)
    with pytest.raises(pytest.fail.Exception, match=f"expected the folder {missing[0]} \\(or {missing[1]}\\)"):
        aws_events_dir()


@pytest.mark.parametrize("request_", CLIENTS)
def test_websocket_events_have_the_real_keys_and_types(request_):
    built = {
        "authorizer": events.authorizer_event(request_, METHOD_ARN),
        "connect": events.connect_event(request_, AUTHORIZER),
        "message": events.message_event(request_, "$default", '{"type":"ping"}', AUTHORIZER),
        "disconnect": events.disconnect_event(request_, 1001, "Going away", AUTHORIZER),
    }
    assert {kind: differences(event, kind) for kind, event in built.items()} == {kind: [] for kind in built}
    # the examples issue 13 names, spelled out
    assert "headers" not in built["message"] and "multiValueHeaders" not in built["message"]
    context = built["disconnect"]["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1001, "Going away")
    assert all(isinstance(v, str) for v in built["connect"]["requestContext"]["authorizer"].values())
    assert "accountId" not in built["authorizer"]["requestContext"]
    assert context["requestId"] == context["extendedRequestId"]  # "same as $context.extendedRequestId"


def test_a_binary_message_and_a_message_without_authorizer():
    request_ = client(True, "")
    binary = events.message_event(request_, "$default", b"\x00\x01", None)
    assert differences(binary, "message") == []
    assert binary["isBase64Encoded"] is True and binary["body"] == "AAE="


def test_sqs_event_from_a_real_receive():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        queue_url = sqs.create_queue(QueueName="realtime-local-broadcast")["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody='{"id": "r1"}', MessageAttributes={
            "source": {"DataType": "String", "StringValue": "wsctl"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
        received = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"], MessageAttributeNames=["All"])
    built = events.sqs_event(received["Messages"], "arn:aws:sqs:us-east-1:123456789012:realtime-local-broadcast",
                             "us-east-1")
    assert differences(built, "sqs") == []
    json.dumps(built)  # what the worker receives: a binary attribute arrives base64, as in Lambda
    assert built["Records"][0]["messageAttributes"]["blob"]["binaryValue"] == "AAE="


@pytest.mark.parametrize(("kind", "reference"), [("events", "schedule-rule"), ("scheduler", "schedule-scheduler")])
def test_scheduled_events(kind, reference):
    built = events.scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", "123456789012", "us-east-1",
                                   kind, None)
    assert differences(built, reference) == []


@pytest.mark.parametrize(("name", "kind"), [
    ("authorizer_connect", "authorizer"), ("connect", "connect"), ("default_message", "message"),
    ("disconnect", "disconnect"), ("sqs_broadcast", "sqs"), ("sweeper_schedule", "schedule-rule")])
def test_the_handler_tests_events_have_the_real_keys_and_types(name, kind):
    assert differences(json.loads((HANDLER_EVENTS / f"{name}.json").read_text()), kind) == []


def test_connection_ids_look_like_api_gateway_ones():
    ids = {events.new_connection_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 16 and i.endswith("=") for i in ids)
