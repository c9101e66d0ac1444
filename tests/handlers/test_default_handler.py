"""$default handler: answers through @connections, always 200."""

from __future__ import annotations

import base64
import json
import time

import pytest
from realtime.adapters.memory import FakeClock
from realtime.messages import validate_server_message

from tests.handlers.conftest import LambdaContext, connect_event, emf, import_handler, load_event, row


@pytest.fixture
def default(aws, notifier):
    connect = import_handler("connect")
    event = connect_event(expires_at=int(time.time()) + 3600)
    assert connect.handler(event, LambdaContext())["statusCode"] == 200
    module = import_handler("default")
    module.SERVICE.notifier = notifier
    return module


def message(body: str | None, is_base64: bool = False) -> dict:
    event = load_event("default_message")
    event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


def replies(notifier) -> list[dict]:
    return [json.loads(payload) for payload in notifier.messages("BFHPhfCWIAMCKlQ=")]


def test_ping_event_gets_a_pong(default, notifier, aws, capsys):
    response = default.handler(load_event("default_message"), LambdaContext())

    assert response == {"statusCode": 200}
    [pong] = replies(notifier)
    assert pong["type"] == "pong" and pong["id"] == "ping-1"
    validate_server_message(pong)
    assert row(aws, "BFHPhfCWIAMCKlQ=")["rateCount"] == {"N": "1"}
    assert emf(capsys.readouterr().out)["MessagesReceived"] == 1


@pytest.mark.parametrize("body, is_base64, code", [
    ("hello", False, "INVALID_MESSAGE"),
    ('{"type":"ping","version":"0.9"}', False, "UNSUPPORTED_VERSION"),
    ("x" * 5000, False, "MESSAGE_TOO_LARGE"),
    (base64.b64encode(b"\x00\x01").decode(), True, "INVALID_MESSAGE"),
])
def test_bad_frames_get_an_error_and_200(default, notifier, body, is_base64, code):
    response = default.handler(message(body, is_base64), LambdaContext())

    assert response == {"statusCode": 200}
    [error] = replies(notifier)
    assert error["data"]["code"] == code and error["data"]["requestId"] == "BFaVtH2HoAMFZEQ="
    assert notifier.closed == []


def test_rate_limit_over_the_real_table(default, notifier, aws):
    default.SERVICE.clock = FakeClock(60 * (int(time.time()) // 60) + 1)  # all 32 frames in one minute

    for _ in range(32):  # MESSAGE_RATE_LIMIT_PER_MINUTE=30
        default.handler(load_event("default_message"), LambdaContext())

    kinds = [reply["type"] if reply["type"] == "pong" else reply["data"]["code"] for reply in replies(notifier)]
    assert kinds == ["pong"] * 30 + ["RATE_LIMITED"] * 2
    stored = row(aws, "BFHPhfCWIAMCKlQ=")
    assert (stored["rateCount"], stored["rateViolations"]) == ({"N": "32"}, {"N": "1"})
    assert notifier.closed == []


def test_expired_token_is_told_and_closed(aws, notifier):
    connect = import_handler("connect")
    connect.handler(connect_event(expires_at=int(time.time()) - 5), LambdaContext())
    default = import_handler("default")
    default.SERVICE.notifier = notifier

    response = default.handler(load_event("default_message"), LambdaContext())

    assert response == {"statusCode": 200}
    assert [reply["data"]["code"] for reply in replies(notifier)] == ["TOKEN_EXPIRED"]
    assert notifier.closed == ["BFHPhfCWIAMCKlQ="]
