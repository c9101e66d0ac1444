"""Property: whatever a client sends, the $default handler answers 200 and posts exactly one valid
frame — a pong, or an error with one of the documented codes (never INTERNAL_ERROR: that would be a
parser bug) — and never raises."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realtime.adapters.memory import (
    FakeClock,
    InMemoryConnectionStore,
    InMemoryNotificationLog,
    RecordingNotifier,
)
from realtime.messages import ErrorCode, validate_server_message
from realtime.ports import Connection
from realtime.services.client_messages import ClientMessageService
from realtime.services.replay import HeadReader, ReplayPlanner

from tests.handlers.conftest import LambdaContext, import_handler, load_event

CONNECTION = "BFHPhfCWIAMCKlQ="
CLIENT_ERRORS = {ErrorCode.INVALID_MESSAGE, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.MESSAGE_TOO_LARGE}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
frames = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["ping", "pong", "error", "notification", "PING", ""]) | json_values,
    "version": st.sampled_from(["1.0", "1", "2.0", "1.0 "]) | json_values,
    "id": st.from_regex(r"[A-Za-z0-9._:\-]{1,12}", fullmatch=True) | json_values,
    "data": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
    "extra": json_values,
})
bodies = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=20),  # lone surrogates
    frames.map(json.dumps),
    frames.map(lambda frame: json.dumps(frame, ensure_ascii=False)),
    json_values.map(json.dumps),
    st.integers(0, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(0, 40).map(lambda depth: '{"type":"ping","version":"1.0","data":' + '{"a":' * depth + "1"
                           + "}" * depth + "}"),
    st.integers(4000, 6000).map(lambda size: json.dumps({"type": "ping", "version": "1.0", "data": {"p": "x" * size}})),
    st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode()),
)


@pytest.fixture
def default(aws):
    module = import_handler("default")
    store = InMemoryConnectionStore()
    store.add(Connection(CONNECTION, "user-1", 0, 4_000_000_000), global_limit=10, per_user_limit=10)
    notifier = RecordingNotifier()
    log = InMemoryNotificationLog()
    module.SERVICE = ClientMessageService(store, notifier, FakeClock(), module.LOGGER, module.METRICS,
                                          max_message_bytes=4096, rate_limit_per_minute=10**9,
                                          max_rate_violations=3, heads=HeadReader(log),
                                          replay=ReplayPlanner(log, store, max_notifications=100,
                                                               budget_items=2500, budget_window_seconds=600))
    return module, notifier


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, is_base64=st.booleans())
def test_every_input_gets_exactly_one_valid_answer(default, body, is_base64):
    module, notifier = default
    event = load_event("default_message")
    event.update(body=body, isBase64Encoded=is_base64)
    before = len(notifier.messages(CONNECTION))

    response = module.handler(event, LambdaContext())

    assert response == {"statusCode": 200}
    sent = notifier.messages(CONNECTION)
    assert len(sent) == before + 1
    frame = json.loads(sent[-1])
    validate_server_message(frame)
    if frame["type"] == "error":
        assert set(frame) == {"type", "version", "data"}
        assert set(frame["data"]) == {"code", "message", "timestamp", "requestId"}
        assert ErrorCode(frame["data"]["code"]) in CLIENT_ERRORS
        assert frame["data"]["requestId"] == "BFaVtH2HoAMFZEQ="
    else:
        assert frame["type"] in ("pong", "resumed") and not is_base64
        parsed = json.loads(body)
        assert parsed["type"] == {"pong": "ping", "resumed": "resume"}[frame["type"]]
        assert parsed["version"] == frame["version"] and ("heads" in frame["data"]) == (frame["version"] == "2.0")
    assert notifier.closed == []


@pytest.mark.parametrize("body", ['{"type":"ping","version":"1.0"}', '{"type":"ping","version":"1.0","id":"a-1"}',
                                  '{"type":"ping","version":"1.0","data":{}}'])
def test_valid_pings_are_always_ponged(default, body):
    module, notifier = default
    event = load_event("default_message")
    event["body"] = body

    module.handler(event, LambdaContext())

    assert json.loads(notifier.messages(CONNECTION)[-1])["type"] == "pong"
