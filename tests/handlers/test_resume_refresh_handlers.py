"""Protocol 2.0 through the handlers as Lambda runs them, against moto: broadcast stores, default replays
(``resume``) and verifies tokens (``refresh``) with the authorizer's variables and a real JWKS fetch."""

from __future__ import annotations

import json
import time

import pytest
from realtime.messages import validate_server_message

from tests.handlers.conftest import LambdaContext, connect_event, emf, import_handler, load_event, row
from tests.handlers.test_broadcast_sweeper_handlers import sqs_event
from tests.unit.tokens import CLIENT_ID, ISSUER, JwksServer, mint

CONNECTION = "BFHPhfCWIAMCKlQ="


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def handlers(aws, notifier, monkeypatch, jwks_server):
    monkeypatch.setenv("COGNITO_ISSUER", ISSUER)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT_ID)
    monkeypatch.setenv("COGNITO_JWKS_URL", jwks_server.url)
    connect = import_handler("connect")
    assert connect.handler(connect_event(CONNECTION, "user-1", int(time.time()) + 600), LambdaContext())["statusCode"] == 200
    default, broadcast = import_handler("default"), import_handler("broadcast")
    default.SERVICE.notifier = notifier
    broadcast.SERVICE.fan_out.notifier = notifier
    return type("Handlers", (), {"default": default, "broadcast": broadcast})


def frame_event(frame: dict) -> dict:
    event = load_event("default_message")
    event["body"] = json.dumps(frame)
    return event


def notify(handlers, request_id: str) -> None:
    body = {"id": request_id, "target": {"userIds": ["user-1"]},
            "notification": {"kind": "moc.finalized", "title": request_id}}
    assert handlers.broadcast.handler(sqs_event(json.dumps(body)), LambdaContext()) == {"batchItemFailures": []}


def frames(notifier) -> list[dict]:
    return [json.loads(payload) for payload in notifier.messages(CONNECTION)]


def test_broadcasts_are_stored_and_a_resume_replays_them_in_order(handlers, notifier, aws, capsys):
    # GIVEN N0 delivered live (the client's position: offset 1 of its epoch), then N1..N3 while it looks away
    notify(handlers, "N0")
    live = frames(notifier)[0]["data"]
    assert (live["stream"], live["offset"]) == ("user", 1)
    position = {"epoch": live["epoch"], "offset": live["offset"]}
    for request_id in ("N1", "N2", "N3"):
        notify(handlers, request_id)
    notifier.sent.clear()
    # WHEN the client resumes from that position
    response = handlers.default.handler(frame_event({"type": "resume", "version": "2.0", "id": "r-1",
                                                     "data": {"positions": {"user": position}}}), LambdaContext())
    # THEN N1..N3 (offsets 2..4), byte-identical to their stored frames, then resumed with the heads
    assert response == {"statusCode": 200}
    replies = frames(notifier)
    assert [f.get("id") for f in replies] == ["N1", "N2", "N3", "r-1"]
    assert [f["data"]["offset"] for f in replies[:3]] == [2, 3, 4]
    assert replies[-1] == {"type": "resumed", "version": "2.0", "id": "r-1", "data": {
        "recovered": True, "replayed": 3,
        "heads": {"user": {"epoch": live["epoch"], "offset": 4}, "global": {"epoch": None, "offset": 0}}}}
    for reply in replies:
        validate_server_message(reply)
    stored = aws.dynamodb.query(TableName=aws.notifications_table, KeyConditionExpression="userId = :u",
                                ExpressionAttributeValues={":u": {"S": "user-1"}})["Items"]
    entries = [item for item in stored if item["cursor"]["S"].startswith("o")]
    assert len(entries) == 4 and all(int(item["expiresAt"]["N"]) > time.time() + 86_000 for item in entries)
    assert emf(capsys.readouterr().out)["NotificationsStored"] == 4
    # WHEN the client pings in 2.0 THEN the pong carries the same user head
    handlers.default.handler(frame_event({"type": "ping", "version": "2.0", "id": "hb"}), LambdaContext())
    assert frames(notifier)[-1]["data"]["heads"]["user"] == {"epoch": live["epoch"], "offset": 4}


def test_a_frame_on_a_connection_whose_row_is_gone_is_connection_unknown_and_closed(handlers, notifier, aws):
    aws.dynamodb.delete_item(TableName=aws.table, Key={"connectionId": {"S": CONNECTION}})

    handlers.default.handler(frame_event({"type": "ping", "version": "1.0"}), LambdaContext())

    [reply] = frames(notifier)
    assert reply["type"] == "error" and reply["data"]["code"] == "CONNECTION_UNKNOWN"
    assert notifier.closed == [CONNECTION]


def test_refresh_verifies_against_the_jwks_and_moves_the_rows_expiry(handlers, notifier, aws, jwks_server, capsys):
    now = int(time.time())
    token = mint(now=now, sub="user-1", exp=now + 3000)

    handlers.default.handler(frame_event({"type": "refresh", "version": "2.0", "data": {"token": token}}),
                             LambdaContext())

    [reply] = frames(notifier)
    assert reply["type"] == "refreshed"
    assert row(aws, CONNECTION)["tokenExpiresAt"] == {"N": str(now + 3000)}
    assert jwks_server.requests == 1
    out = capsys.readouterr().out
    assert token not in out and emf(out)["TokenRefreshes"] == 1


def test_refresh_with_another_users_token_is_token_invalid(handlers, notifier, aws):
    before = row(aws, CONNECTION)["tokenExpiresAt"]

    handlers.default.handler(frame_event({"type": "refresh", "version": "2.0", "data": {
        "token": mint(now=int(time.time()), sub="user-2")}}), LambdaContext())

    [reply] = frames(notifier)
    assert reply["type"] == "error" and reply["data"]["code"] == "TOKEN_INVALID"
    assert row(aws, CONNECTION)["tokenExpiresAt"] == before and notifier.closed == []


def test_the_verifier_is_not_imported_before_the_first_refresh(aws, monkeypatch, jwks_server):
    import sys

    monkeypatch.setenv("COGNITO_JWKS_URL", jwks_server.url)
    for module in [name for name in sys.modules if name == "realtime.auth" or name.startswith("jose")]:
        monkeypatch.delitem(sys.modules, module)
    import_handler("default")
    assert "realtime.auth" not in sys.modules and "jose" not in sys.modules
