"""Every handler accepts the real events of its kind: the third-party captures and AWS's documented
example in ``../shared/aws-events/`` (read there; tests/aws_events.py files each one), plus the
synthetic ones, which only have to be tolerated. Foreign events (REST or TOKEN authorizer inputs)
must be refused cleanly, never crash.

Where a capture lacks what this stack's API always adds, the test adds it the way API Gateway does
and says so: the authorizer's map on the routes (the captured APIs had no authorizer), and the
token in the query string (ADR 0003) for the authorizer.
"""

from __future__ import annotations

import json
import time

import pytest
from realtime.auth import Unauthorized

from tests.aws_events import load, names
from tests.handlers.conftest import LambdaContext, import_handler, load_event, row
from tests.unit.tokens import mint

ACCEPTED = ("reference", "tolerated")


def with_authorizer(event: dict, user_id: str = "user-1", expires_at: int | None = None) -> dict:
    """What API Gateway adds to every route's event once $connect has our authorizer: its map,
    every value stringified."""
    expires_at = expires_at or int(time.time()) + 3600
    context = event.setdefault("requestContext", {})
    context["authorizer"] = {**(context.get("authorizer") or {}), "principalId": user_id, "userId": user_id,
                             "tokenExpiresAt": str(expires_at)}
    return event


@pytest.mark.parametrize("name", names("authorizer", *ACCEPTED))
def test_authorizer_accepts_the_real_request_events(authorizer, monkeypatch, name):
    monkeypatch.setenv("ALLOW_MISSING_ORIGIN", "true")  # the captured clients sent no Origin
    module = import_handler("authorizer")
    event = load(name)
    # GIVEN the capture with a valid token where this stack's clients put it (ADR 0003)
    token = mint(now=int(time.time()), sub="user-7")
    event["queryStringParameters"] = {**(event.get("queryStringParameters") or {}), "token": token}
    origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
    # WHEN the authorizer runs THEN it answers a policy for the token's user on the event's methodArn
    response = module.handler(event, LambdaContext())
    assert response["principalId"] == "user-7"
    (statement,) = response["policyDocument"]["Statement"]
    assert statement["Resource"] == event["methodArn"]
    assert statement["Effect"] == ("Allow" if origin in (None, "https://dev.brickhub.example") else "Deny")
    assert response["context"]["userId"] == "user-7"


@pytest.mark.parametrize("name", names("authorizer", "foreign"))
def test_authorizer_refuses_foreign_events_with_a_401(authorizer, name):
    module, _ = authorizer
    with pytest.raises(Unauthorized):  # no token in the query string: REST/TOKEN inputs carry none we read
        module.handler(load(name), LambdaContext())


@pytest.mark.parametrize("name", names("connect", *ACCEPTED))
def test_connect_accepts_the_real_connect_events(aws, name):
    connect = import_handler("connect")
    event = with_authorizer(load(name), "user-9")
    response = connect.handler(event, LambdaContext())
    assert response["statusCode"] == 200
    stored = row(aws, event["requestContext"]["connectionId"])
    assert stored["userId"] == {"S": "user-9"}


@pytest.mark.parametrize("name", names("connect", "reference"))
def test_connect_refuses_a_capture_without_authorizer_context(aws, name):
    # As captured (an API without authorizer): refused, nothing stored, no crash.
    response = import_handler("connect").handler(load(name), LambdaContext())
    assert response["statusCode"] == 401
    assert row(aws, load(name)["requestContext"]["connectionId"]) is None


@pytest.mark.parametrize("name", names("message", *ACCEPTED))
def test_default_answers_every_real_message_once(aws, notifier, name):
    event = with_authorizer(load(name))
    connection_id = event["requestContext"]["connectionId"]
    connect_event = with_authorizer(load_event("connect"))
    connect_event["requestContext"]["connectionId"] = connection_id
    assert import_handler("connect").handler(connect_event, LambdaContext())["statusCode"] == 200
    default = import_handler("default")
    default.SERVICE.notifier = notifier
    response = default.handler(event, LambdaContext())
    assert response == {"statusCode": 200}
    (frame,) = [json.loads(payload) for payload in notifier.messages(connection_id)]
    # none of the captured bodies is a frame of this protocol: each gets a client error, never INTERNAL_ERROR
    assert frame["type"] == "error" and frame["data"]["code"] == "INVALID_MESSAGE"


@pytest.mark.parametrize("name", names("disconnect", *ACCEPTED))
def test_disconnect_accepts_the_real_disconnect_events(aws, name):
    event = load(name)
    connect_event = with_authorizer(load_event("connect"))
    connect_event["requestContext"]["connectionId"] = event["requestContext"]["connectionId"]
    import_handler("connect").handler(connect_event, LambdaContext())
    assert import_handler("disconnect").handler(event, LambdaContext()) == {"statusCode": 200}
    assert row(aws, event["requestContext"]["connectionId"]) is None


@pytest.mark.parametrize("name", names("sqs", *ACCEPTED))
def test_broadcast_accepts_the_real_sqs_events(aws, notifier, name):
    broadcast = import_handler("broadcast")
    broadcast.SERVICE.fan_out.notifier = notifier
    captured = load(name)
    ids = [record["messageId"] for record in captured["Records"]]
    # As captured, the bodies are not broadcast requests: each record is reported failed (to the DLQ).
    assert broadcast.handler(captured, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
    # The same envelopes carrying broadcast requests are processed.
    for index, record in enumerate(captured["Records"]):
        record["body"] = json.dumps({"id": f"real-{name}-{index}", "target": {"userIds": ["nobody"]},
                                     "notification": {"kind": "set.created", "title": "x"}})
    assert broadcast.handler(captured, LambdaContext()) == {"batchItemFailures": []}


@pytest.mark.parametrize("name", names("schedule-rule", *ACCEPTED) + names("schedule-scheduler", *ACCEPTED))
def test_sweeper_accepts_the_real_scheduled_events(aws, notifier, name):
    sweeper = import_handler("sweeper")
    sweeper.SERVICE.notifier = notifier
    report = sweeper.handler(load(name), LambdaContext())
    assert {"closed", "drift", "active"} <= set(report)
