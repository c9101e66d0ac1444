"""Protocol 1.1 through the handlers as Lambda runs them, against moto: broadcast stores, default replays
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
    # GIVEN N0 delivered live (the client keeps its cursor), then N1..N3 while the client looks away
    notify(handlers, "N0")
    after = frames(notifier)[0]["data"]["cursor"]
    for request_id in ("N1", "N2", "N3"):
        time.sleep(0.002)
        notify(handlers, request_id)
    notifier.sent.clear()
    # WHEN the client resumes from N0's cursor
    response = handlers.default.handler(frame_event({"type": "resume", "version": "1.1", "id": "r-1",
                                                     "data": {"after": after}}), LambdaContext())
    # THEN N1..N3, byte-identical to their stored frames, then resumed
    assert response == {"statusCode": 200}
    replies = frames(notifier)
    assert [f.get("id") for f in replies] == ["N1", "N2", "N3", "r-1"]
    assert replies[-1] == {"type": "resumed", "version": "1.1", "id": "r-1", "data": {"recovered": True, "replayed": 3}}
    for reply in replies:
        validate_server_message(reply)
    stored = aws.dynamodb.query(TableName=aws.notifications_table, KeyConditionExpression="userId = :u",
                                ExpressionAttributeValues={":u": {"S": "user-1"}})["Items"]
    assert len(stored) == 4 and all(int(item["expiresAt"]["N"]) > time.time() + 86_000 for item in stored)
    assert emf(capsys.readouterr().out)["NotificationsStored"] == 4


def test_refresh_verifies_against_the_jwks_and_moves_the_rows_expiry(handlers, notifier, aws, jwks_server, capsys):
    now = int(time.time())
    token = mint(now=now, sub="user-1", exp=now + 3000)

    handlers.default.handler(frame_event({"type": "refresh", "version": "1.1", "data": {"token": token}}),
                             LambdaContext())

    [reply] = frames(notifier)
    assert reply["type"] == "refreshed"
    assert row(aws, CONNECTION)["tokenExpiresAt"] == {"N": str(now + 3000)}
    assert jwks_server.requests == 1
    out = capsys.readouterr().out
    assert token not in out and emf(out)["TokenRefreshes"] == 1


def test_refresh_with_another_users_token_is_token_invalid(handlers, notifier, aws):
    before = row(aws, CONNECTION)["tokenExpiresAt"]

    handlers.default.handler(frame_event({"type": "refresh", "version": "1.1", "data": {
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
