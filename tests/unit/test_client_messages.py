"""$default on in-memory adapters: one answer per frame, rate limit, expired token, abuse closes."""

from __future__ import annotations

import json

import pytest
from realtime.errors import StoreUnavailable
from realtime.messages import validate_server_message
from realtime.ports import Connection
from realtime.services.client_messages import ClientMessageService

from tests.unit.tokens import NOW

PING = '{"type":"ping","version":"1.0","id":"p1"}'


@pytest.fixture
def service(store, notifier, clock, telemetry):
    store.add(Connection("c1", "user-1", NOW - 60, NOW + 3600), global_limit=10, per_user_limit=10)
    return ClientMessageService(store, notifier, clock, telemetry.logger, telemetry.metrics,
                                max_message_bytes=1024, rate_limit_per_minute=5, max_rate_violations=2)


def frames(notifier, connection_id="c1"):
    return [json.loads(payload) for payload in notifier.messages(connection_id)]


def test_ping_gets_a_pong_with_the_same_id(service, notifier, telemetry):
    reply = service.handle("c1", PING, False, "req-1")

    assert reply.code is None
    [pong] = frames(notifier)
    assert pong["type"] == "pong" and pong["id"] == "p1"
    validate_server_message(pong)
    assert telemetry.metric_values() == {"MessagesReceived": 1}


@pytest.mark.parametrize("body, base64, code", [
    ("{", False, "INVALID_MESSAGE"),
    ('{"type":"ping","version":"9.9"}', False, "UNSUPPORTED_VERSION"),
    ('{"type":"ping","version":"1.0","id":"' + "a" * 2000 + '"}', False, "MESSAGE_TOO_LARGE"),
    ("aGVsbG8=", True, "INVALID_MESSAGE"),
    (None, False, "INVALID_MESSAGE"),
])
def test_invalid_frames_get_an_error_and_stay_open(service, notifier, telemetry, body, base64, code):
    service.handle("c1", body, base64, "req-7")

    [error] = frames(notifier)
    assert error["type"] == "error" and error["data"]["code"] == code and error["data"]["requestId"] == "req-7"
    assert set(error) == {"type", "version", "data"}
    assert notifier.closed == []
    assert telemetry.metric_values()["InvalidMessages"] == 1


def test_rate_limit_answers_rate_limited_then_recovers_next_minute(service, notifier, clock):
    for _ in range(7):
        service.handle("c1", PING, False, "r")

    codes = [frame["type"] if frame["type"] == "pong" else frame["data"]["code"] for frame in frames(notifier)]
    assert codes == ["pong"] * 5 + ["RATE_LIMITED"] * 2
    assert notifier.closed == []

    clock.advance(60)
    service.handle("c1", PING, False, "r")
    assert frames(notifier)[-1]["type"] == "pong"


def test_sustained_abuse_closes_the_connection(service, store, notifier, clock, telemetry):
    for _minute in range(2):
        for _ in range(8):
            service.handle("c1", PING, False, "r")
        clock.advance(60)

    assert notifier.closed == ["c1"]
    assert store.rows["c1"].rate_violations == 2
    assert telemetry.metric_values()["RateLimited"] == 6


def test_expired_token_gets_token_expired_and_is_closed(service, notifier, clock, telemetry):
    clock.advance(3601)

    service.handle("c1", PING, False, "r")

    assert frames(notifier)[0]["data"]["code"] == "TOKEN_EXPIRED"
    assert notifier.closed == ["c1"]
    assert telemetry.metric_values()["TokensExpired"] == 1


def test_store_failure_answers_internal_error(service, store, notifier):
    def broken(*args, **kwargs):
        raise StoreUnavailable("InternalServerError")

    store.count_message = broken

    reply = service.handle("c1", PING, False, "req-9")

    assert frames(notifier)[0]["data"] == {**frames(notifier)[0]["data"], "code": "INTERNAL_ERROR",
                                           "requestId": "req-9"}
    assert reply.closed is False and notifier.closed == []


def test_client_gone_before_the_reply_is_not_an_error(service, notifier):
    notifier.gone.add("c1")

    reply = service.handle("c1", PING, False, "r")

    assert reply.code is None and notifier.messages("c1") == []


def test_a_frame_on_a_connection_whose_row_is_gone_is_told_to_reconnect_and_closed(service, notifier):
    # GIVEN a connection API Gateway still holds but whose row is gone (TTL, sweeper, a restored emulator)
    # WHEN it pings
    reply = service.handle("not-registered", PING, False, "r")

    # THEN it gets CONNECTION_UNKNOWN instead of a pong, and is closed (it would get no broadcast)
    # (negative control: answering a pong when count_message returns None fails both asserts)
    [frame] = frames(notifier, "not-registered")
    assert frame["type"] == "error" and frame["data"]["code"] == "CONNECTION_UNKNOWN"
    assert reply.closed and notifier.closed == ["not-registered"]
