"""schemas/messages.v1.json is generated from the models; this fails when it is stale."""

from __future__ import annotations

import json

import jsonschema
from realtime.schema import DEFAULT_PATH, build_schema, render


def test_committed_schema_matches_the_models():
    assert DEFAULT_PATH.read_text() == render(), "stale: run `cd lambda_src && python -m realtime.schema`"


def test_schema_is_self_contained_and_valid_draft_2020_12():
    schema = build_schema()

    jsonschema.Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(schema)


def test_schema_accepts_real_frames_and_rejects_wrong_ones():
    validator = jsonschema.Draft202012Validator(build_schema())
    good = [
        {"type": "ping", "version": "1.0"},
        {"type": "pong", "version": "1.0", "id": "a", "data": {"timestamp": "2025-01-01T00:00:00.000Z"}},
        {"type": "error", "version": "1.0", "data": {"code": "TOKEN_EXPIRED", "message": "m",
                                                      "timestamp": "t", "requestId": "r"}},
        {"type": "notification", "version": "1.0", "id": "n", "data": {"kind": "set.created", "title": "t",
                                                                         "timestamp": "t", "stream": "user",
                                                                         "epoch": "e1", "offset": 1}},
        {"type": "pong", "version": "2.0", "data": {"timestamp": "t", "heads": {
            "user": {"epoch": None, "offset": 0}, "global": {"epoch": "g1", "offset": 7}}}},
        {"type": "resume", "version": "2.0", "data": {"positions": {"user": {"epoch": "e1", "offset": 3}}}},
    ]
    bad = [
        {"type": "ping", "version": "1.1"},
        {"type": "notification", "version": "1.0", "id": "n", "data": {"kind": "set.created", "title": "t",
                                                                         "timestamp": "t", "cursor": "c"}},
        {"type": "resume", "version": "2.0", "data": {"positions": {"user": {"offset": 3}}}},
        {"type": "error", "version": "1.0", "data": {"code": "NOPE", "message": "m", "timestamp": "t",
                                                      "requestId": "r"}},
        {"type": "notification", "version": "1.0", "data": {"kind": "set.created"}},
    ]
    assert [validator.is_valid(frame) for frame in good] == [True] * len(good)
    assert [validator.is_valid(frame) for frame in bad] == [False] * len(bad)
    broadcast = jsonschema.Draft202012Validator(build_schema()["$defs"]["BroadcastRequest"])
    assert broadcast.is_valid({"id": "a", "target": {"all": True},
                               "notification": {"kind": "system.announcement", "title": "t"}})
    assert not broadcast.is_valid({"id": "a", "target": {"everyone": True},
                                   "notification": {"kind": "system.announcement", "title": "t"}})
