"""Message v1 parsing: every invalid frame maps to one error code, never an exception."""

from __future__ import annotations

import json

import pytest
from realtime.messages import (
    MAX_NESTING_DEPTH,
    BroadcastRequest,
    ErrorCode,
    Head,
    Heads,
    MessageRejected,
    Position,
    encode,
    error_message,
    nesting_depth,
    notification_message,
    parse_broadcast_request,
    parse_client_message,
    pong_message,
    resumed_message,
    validate_server_message,
)


def test_ping_parses_and_pong_echoes_its_id():
    ping = parse_client_message('{"type":"ping","version":"1.0","id":"p-1"}')

    pong = json.loads(encode(pong_message(ping, 1_750_000_000.25)))

    assert pong == {"type": "pong", "version": "1.0", "id": "p-1", "data": {"timestamp": "2025-06-15T15:06:40.250Z"}}
    validate_server_message(pong)


@pytest.mark.parametrize("text, code", [
    ("", ErrorCode.INVALID_MESSAGE),
    ("not json", ErrorCode.INVALID_MESSAGE),
    ("[1,2]", ErrorCode.INVALID_MESSAGE),
    ('"ping"', ErrorCode.INVALID_MESSAGE),
    ("NaN", ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping"}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":"3.0"}', ErrorCode.UNSUPPORTED_VERSION),
    # 1.1's cursor resume is retired (ADR 0018): every 1.1 frame is refused by version.
    ('{"type":"ping","version":"1.1"}', ErrorCode.UNSUPPORTED_VERSION),
    ('{"type":"resume","version":"1.1","data":{"after":"c"}}', ErrorCode.UNSUPPORTED_VERSION),
    ('{"type":"resume","version":"2.0","data":{"after":"c"}}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"resume","version":"2.0","data":{"positions":{"user":{"epoch":"a b","offset":1}}}}',
     ErrorCode.INVALID_MESSAGE),
    ('{"type":"resume","version":"2.0","data":{"positions":{"user":{"epoch":"e","offset":-1}}}}',
     ErrorCode.INVALID_MESSAGE),
    ('{"type":"resume","version":"2.0","data":{"positions":{"other":{"epoch":"e","offset":1}}}}',
     ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":1.0}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"subscribe","version":"1.0"}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"pong","version":"1.0"}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":"1.0","id":42}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":"1.0","id":"has space"}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":"1.0","data":[]}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":"1.0","extra":true}', ErrorCode.INVALID_MESSAGE),
    ('{"type":"ping","version":"1.0","data":' + "[" * 40 + "]" * 40 + "}", ErrorCode.INVALID_MESSAGE),
    ("[" * 100_000, ErrorCode.INVALID_MESSAGE),
])
def test_invalid_frames_are_rejected_with_their_code(text, code):
    with pytest.raises(MessageRejected) as rejected:
        parse_client_message(text)
    assert rejected.value.code is code
    assert len(rejected.value.message) <= 200


def test_nesting_depth_ignores_brackets_inside_strings():
    assert nesting_depth('{"a":"[[[[{{{{\\"[[["}', MAX_NESTING_DEPTH) == 1
    assert nesting_depth('{"a":[{"b":[]}]}', MAX_NESTING_DEPTH) == 4


def test_rejection_messages_do_not_echo_client_input():
    with pytest.raises(MessageRejected) as rejected:
        parse_client_message('{"type":"ping","version":"1.0","id":"secret value!"}')
    assert "secret" not in rejected.value.message


def test_error_frame_has_exactly_the_documented_shape():
    frame = json.loads(encode(error_message(ErrorCode.RATE_LIMITED, "slow down", 0.0, "req-1")))

    assert frame == {"type": "error", "version": "1.0", "data": {
        "code": "RATE_LIMITED", "message": "slow down", "timestamp": "1970-01-01T00:00:00.000Z", "requestId": "req-1"}}
    validate_server_message(frame)


def test_broadcast_request_to_users_and_notification_frame():
    request = parse_broadcast_request(json.dumps({
        "id": "evt-1", "target": {"userIds": ["u1", "u2"]},
        "notification": {"kind": "moc.finalized", "title": "Your MOC is ready", "severity": "success",
                         "link": "/mocs/42", "resource": {"type": "moc", "id": "42"}}}))

    frame = json.loads(encode(notification_message(request, 0.0, stream="user", epoch="e1", offset=3)))

    assert frame["type"] == "notification" and frame["id"] == "evt-1"
    assert frame["data"] == {"kind": "moc.finalized", "title": "Your MOC is ready", "severity": "success",
                             "link": "/mocs/42", "resource": {"type": "moc", "id": "42"},
                             "timestamp": "1970-01-01T00:00:00.000Z", "stream": "user", "epoch": "e1", "offset": 3}
    validate_server_message(frame)


@pytest.mark.parametrize("document", [
    {"id": "x", "target": {"userIds": []}, "notification": {"kind": "set.created", "title": "t"}},
    {"id": "x", "target": {"all": False}, "notification": {"kind": "set.created", "title": "t"}},
    {"id": "x", "target": {"all": True}, "notification": {"kind": "unknown.kind", "title": "t"}},
    {"id": "x#y", "target": {"all": True}, "notification": {"kind": "set.created", "title": "t"}},
    {"id": "x", "target": {"all": True}, "notification": {"kind": "set.created", "title": ""}},
    {"id": "x", "target": {"all": True}, "notification": {"kind": "set.created", "title": "t",
                                                          "link": "javascript:alert(1)"}},
    {"id": "x", "target": {"userIds": ["u"]}, "notification": {"kind": "set.created", "title": "t"},
     "segment": {"index": 0, "total": 2}},
    {"id": "x", "target": {"all": True}, "notification": {"kind": "set.created", "title": "t"},
     "segment": {"index": 2, "total": 2}},
    {"id": "x", "target": {"all": True}, "notification": {"kind": "set.created", "title": "t"}, "cursor": "c"},
    {"id": "x", "target": {"all": True}, "notification": {"kind": "set.created", "title": "t"},
     "segment": {"index": 0, "total": 2}, "logOffset": 3},
    {"id": "x", "target": {"userIds": ["u"]}, "notification": {"kind": "set.created", "title": "t"},
     "logOffset": 3, "logEpoch": "e"},
])
def test_invalid_broadcast_requests_are_rejected(document):
    with pytest.raises(MessageRejected):
        parse_broadcast_request(json.dumps(document))


def test_global_segment_job_round_trips():
    request = BroadcastRequest.model_validate({
        "id": "ann-1", "target": {"all": True}, "segment": {"index": 1, "total": 4}, "cursor": '{"k":"v"}',
        "logOffset": 7, "logEpoch": "a81f0c", "notification": {"kind": "system.announcement", "title": "Maintenance at 22:00"}})

    assert parse_broadcast_request(request.model_dump_json()) == request


HEADS = Heads(user=Head(epoch="u1", offset=4), global_=Head(epoch=None, offset=0))


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_answers_carry_the_version_of_the_frame_they_answer(version):
    ping = parse_client_message(json.dumps({"type": "ping", "version": version, "id": "p"}))
    pong = json.loads(encode(pong_message(ping, 0.0, HEADS)))
    assert pong["version"] == version
    # 1.0 pongs are unchanged; 2.0 pongs carry the heads (the wire name of the global stream is "global")
    if version == "1.0":
        assert pong["data"] == {"timestamp": "1970-01-01T00:00:00.000Z"}
    else:
        assert pong["data"]["heads"] == {"user": {"epoch": "u1", "offset": 4}, "global": {"epoch": None, "offset": 0}}
    validate_server_message(pong)
    with pytest.raises(MessageRejected) as rejected:
        parse_client_message(json.dumps({"type": "subscribe", "version": version}))
    assert rejected.value.version == version


def test_resume_and_refresh_exist_only_in_version_2_0():
    resume = {"positions": {"user": {"epoch": "k3x9q2", "offset": 41}, "global": {"epoch": None, "offset": 0}}}
    for kind, data in (("resume", resume), ("refresh", {"token": "t"})):
        assert parse_client_message(json.dumps({"type": kind, "version": "2.0", "data": data})).type == kind
        with pytest.raises(MessageRejected) as rejected:
            parse_client_message(json.dumps({"type": kind, "version": "1.0", "data": data}))
        assert rejected.value.code is ErrorCode.UNSUPPORTED_VERSION and "needs version 2.0" in rejected.value.message
    parsed = parse_client_message(json.dumps({"type": "resume", "version": "2.0", "data": resume}))
    assert parsed.data.positions.global_ == Position(epoch=None, offset=0)
    assert parse_client_message('{"type":"resume","version":"2.0","data":{"positions":{}}}').data.positions.user is None


def test_a_notification_frame_carries_its_stream_position_and_stays_version_1_0():
    request = parse_broadcast_request(json.dumps({"id": "n", "target": {"userIds": ["u"]},
                                                  "notification": {"kind": "set.created", "title": "t"}}))
    frame = json.loads(encode(notification_message(request, 0.0, stream="global", epoch="a81f0c", offset=7)))
    assert frame["version"] == "1.0"
    assert (frame["data"]["stream"], frame["data"]["epoch"], frame["data"]["offset"]) == ("global", "a81f0c", 7)
    validate_server_message(frame)


def test_resumed_carries_heads_and_a_reason_only_when_not_recovered():
    resume = parse_client_message('{"type":"resume","version":"2.0","id":"r-3","data":{"positions":{}}}')
    recovered = json.loads(encode(resumed_message(resume, recovered=True, replayed=2, heads=HEADS)))
    failed = json.loads(encode(resumed_message(resume, recovered=False, replayed=0, heads=HEADS, reason="epoch")))
    assert recovered == {"type": "resumed", "version": "2.0", "id": "r-3", "data": {
        "recovered": True, "replayed": 2,
        "heads": {"user": {"epoch": "u1", "offset": 4}, "global": {"epoch": None, "offset": 0}}}}
    assert failed["data"]["reason"] == "epoch"
    validate_server_message(recovered)
    validate_server_message(failed)
