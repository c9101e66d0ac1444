"""End-to-end: the realtime-local stack applied to moto and served by the local gateway.

Every test talks to the stack the way a browser, the web app's server or an operator would:
real tokens from the local Cognito pool, real WebSocket clients (websockets, and wscat which no one
here wrote), SQS SendMessage for broadcasts, and boto3's apigatewaymanagementapi client.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import botocore.exceptions
import pytest
import websockets
from botocore.credentials import Credentials
from realtime.adapters.management_api import ManagementApiNotifier
from realtime.errors import StaleConnection

from tests.e2e.conftest import sign_like_the_emulator
from tests.e2e.support import (
    PING,
    connection_ids,
    enqueue_broadcast,
    handshake_status,
    open_ws,
    receive_json,
    unique_user,
    wait_until,
)

pytestmark = pytest.mark.e2e
REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED_ORIGIN = "http://localhost:5173"
FOREIGN_ORIGIN = "http://evil.example"
DELIVERY_BUDGET_SECONDS = 2.0


def test_connect_with_a_token_and_ping_pong(local_stack):
    # GIVEN a user of the local pool WHEN the browser connects from an allowed origin and pings
    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token("alice"), ALLOWED_ORIGIN) as ws:
            await ws.send(PING)
            return await receive_json(ws)

    pong = asyncio.run(scenario())
    # THEN it gets a pong echoing the ping's id
    assert pong["type"] == "pong" and pong["id"] == "ping-1" and pong["version"] == "1.0"


def test_wscat_connects_and_gets_a_pong(local_stack):
    # GIVEN wscat (npm) WHEN it connects with a token and sends a ping
    url = f"{local_stack.ws_url}?token={local_stack.token('wscat-user')}"
    # wscat quits as soon as its stdin closes: keep the pipe open until it exits on its own (-w).
    process = subprocess.Popen(["node_modules/.bin/wscat", "-c", url, "-x", PING, "-w", "2"], cwd=REPO_ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=local_stack.env)
    process.wait(timeout=30)
    out, err = process.stdout.read(), process.stderr.read()
    process.stdin.close()
    # THEN it prints the pong
    assert process.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["type"] == "pong"


def test_wscat_without_token_sees_401(local_stack):
    process = subprocess.Popen(["node_modules/.bin/wscat", "-c", local_stack.ws_url], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=local_stack.env)
    process.wait(timeout=30)
    err = process.stderr.read()
    process.stdin.close()
    assert process.returncode != 0
    assert "401" in err


@pytest.mark.parametrize("case", ["missing", "invalid", "expired", "wrong-audience"])
def test_handshake_without_a_valid_token_is_401(local_stack, case):
    # GIVEN a token that is absent, garbage, expired or for another app client
    if case == "missing":
        token = None
    elif case == "invalid":
        token = "not-a-jwt"
    elif case == "expired":
        token = local_stack.mint_token("alice", lifetime_seconds=300, issued_at=int(time.time()) - 3600)
    else:
        from jose import jwt as jose_jwt

        claims = jose_jwt.get_unverified_claims(local_stack.mint_token("alice", 300))
        token = sign_like_the_emulator({**claims, "aud": "some-other-client"})
    # WHEN the handshake is attempted THEN API Gateway answers 401
    assert asyncio.run(handshake_status(local_stack.ws_url, token)) == 401


def test_foreign_origin_is_403_and_allowed_origins_connect(local_stack):
    token = local_stack.token("alice")
    assert asyncio.run(handshake_status(local_stack.ws_url, token, FOREIGN_ORIGIN)) == 403
    for origin in ("http://localhost:5173", "http://localhost:3000"):
        assert asyncio.run(handshake_status(local_stack.ws_url, token, origin)) == 101


def test_malformed_messages_get_an_error_and_the_connection_survives(local_stack):
    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token("malformed")) as ws:
            answers = []
            for frame in ("not json", json.dumps({"type": "nope", "version": "1.0"}),
                          json.dumps({"type": "ping", "version": "9.9"}), "[]"):
                await ws.send(frame)
                answers.append(await receive_json(ws))
            await ws.send(PING)
            answers.append(await receive_json(ws))
            return answers

    answers = asyncio.run(scenario())
    assert [a["type"] for a in answers] == ["error", "error", "error", "error", "pong"]
    assert answers[0]["data"]["code"] == "INVALID_MESSAGE"
    assert answers[2]["data"]["code"] in ("UNSUPPORTED_VERSION", "INVALID_MESSAGE")


def test_a_130_kb_message_closes_the_connection_with_1009(local_stack):
    user = unique_user("big")

    async def scenario():
        ws = await open_ws(local_stack.ws_url, local_stack.token(user))
        await ws.send(json.dumps({"type": "ping", "version": "1.0", "data": {"pad": "x" * (130 * 1024)}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        return closed.value

    closed = asyncio.run(scenario())
    # THEN API Gateway's 128 KB limit closes it with 1009 (message too big) and $disconnect ran
    assert closed.rcvd is not None and closed.rcvd.code == 1009
    assert wait_until(lambda: connection_ids(local_stack, local_stack.user_id(user)) == [], timeout=5)


def test_broadcast_to_a_user_arrives_within_2_s_and_only_to_that_user(local_stack):
    target, bystander = unique_user("target"), unique_user("bystander")

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(target)) as ws_target, \
                await open_ws(local_stack.ws_url, local_stack.token(bystander)) as ws_other:
            started = time.monotonic()
            request_id = enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(target)]}, title="for you")
            message = await receive_json(ws_target, timeout=5)
            elapsed = time.monotonic() - started
            with pytest.raises(TimeoutError):
                await receive_json(ws_other, timeout=0.5)
            return message, elapsed, request_id

    message, elapsed, request_id = asyncio.run(scenario())
    assert message["type"] == "notification" and message["id"] == request_id
    assert message["data"]["title"] == "for you"
    assert elapsed <= DELIVERY_BUDGET_SECONDS, f"delivered after {elapsed:.2f} s"


def test_broadcast_to_all_arrives_within_2_s(local_stack):
    users = [unique_user("everyone") for _ in range(3)]

    async def scenario():
        sockets = [await open_ws(local_stack.ws_url, local_stack.token(u)) for u in users]
        try:
            started = time.monotonic()
            request_id = enqueue_broadcast(local_stack, {"all": True}, kind="moc.finalized", title="to all")
            messages = await asyncio.gather(*(receive_json(ws, timeout=5) for ws in sockets))
            return messages, time.monotonic() - started, request_id
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

    messages, elapsed, request_id = asyncio.run(scenario())
    assert all(m["type"] == "notification" and m["id"] == request_id for m in messages)
    assert elapsed <= DELIVERY_BUDGET_SECONDS, f"last delivery after {elapsed:.2f} s"


def test_wsctl_broadcast_reaches_the_user_and_rejects_unknown_kinds(local_stack):
    user = unique_user("cli")

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            # the local user name, not the sub: --env local resolves it through the pool
            result = await asyncio.to_thread(local_stack.wsctl, "broadcast", "--env", "local", "--user", user,
                                             "--kind", "moc.upload.completed", "--title", "Upload done",
                                             "--body", "3 files")
            assert result.returncode == 0, result.stderr
            return result, await receive_json(ws, timeout=5)

    result, message = asyncio.run(scenario())
    assert message["data"]["kind"] == "moc.upload.completed" and message["data"]["body"] == "3 files"
    assert result.stdout.splitlines()[1] == "open connections of the target: 1"
    nobody = local_stack.wsctl("broadcast", "--env", "local", "--user", unique_user("nobody"), "--kind", "set.created",
                               "--title", "x")
    assert nobody.returncode == 1 and "no local user" in nobody.stderr and not nobody.stdout
    refused = local_stack.wsctl("broadcast", "--env", "local", "--all", "--kind", "cat.pictures", "--title", "x")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "unknown kind" in refused.stderr


def test_a_vanished_client_becomes_a_gone_row_that_the_next_broadcast_removes(local_stack):
    user = unique_user("vanish")
    user_id = local_stack.user_id(user)

    async def vanish():
        ws = await open_ws(local_stack.ws_url, local_stack.token(user))
        ws.transport.abort()  # no close frame: the network just went away

    asyncio.run(vanish())
    rows = connection_ids(local_stack, user_id)
    # GIVEN its row is still stored (the $disconnect of a lost client comes late, if at all)
    assert len(rows) == 1
    # AND API Gateway already answers Gone for it
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        local_stack.management_api().get_connection(ConnectionId=rows[0])
    assert gone.value.response["Error"]["Code"] == "GoneException"
    # WHEN, once it is older than a connection still inside $connect could be (ADR 0016), the next
    # broadcast addresses that user THEN the broadcast removes the row
    local_stack.client("dynamodb").update_item(
        TableName=local_stack.outputs["connections_table_name"], Key={"connectionId": {"S": rows[0]}},
        UpdateExpression="SET connectedAt = :t", ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 60)}})
    enqueue_broadcast(local_stack, {"userIds": [user_id]})
    assert wait_until(lambda: connection_ids(local_stack, user_id) == [], timeout=5)


def test_management_api_with_boto3_post_get_delete_and_gone(local_stack):
    user = unique_user("mgmt")
    api = local_stack.management_api()

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            (connection_id,) = connection_ids(local_stack, local_stack.user_id(user))
            api.post_to_connection(ConnectionId=connection_id, Data=b'{"hello":"world"}')
            received = await receive_json(ws)
            info = api.get_connection(ConnectionId=connection_id)
            api.delete_connection(ConnectionId=connection_id)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return connection_id, received, info

    connection_id, received, info = asyncio.run(scenario())
    assert received == {"hello": "world"}
    assert info["Identity"]["SourceIp"] == "127.0.0.1" and "ConnectedAt" in info and "LastActiveAt" in info
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=connection_id, Data=b"late")
    with pytest.raises(api.exceptions.GoneException):
        api.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")


def test_the_runtime_notifier_posts_gets_and_deletes_through_the_gateway(local_stack):
    # GIVEN the notifier the default/broadcast/sweeper functions use, on the gateway's @connections API
    user = unique_user("lean")
    api = ManagementApiNotifier(local_stack.connections_endpoint, Credentials("test", "test"),
                                local_stack.endpoints["region"])

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            (connection_id,) = connection_ids(local_stack, local_stack.user_id(user))
            # WHEN it posts, reads the connection and deletes it (each call off the event loop)
            await asyncio.to_thread(api.send, connection_id, b'{"hello":"lean"}')
            received = await receive_json(ws)
            info = await asyncio.to_thread(api.get, connection_id)
            await asyncio.to_thread(api.close, connection_id)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return connection_id, received, info

    connection_id, received, info = asyncio.run(scenario())
    # THEN the client got the frame, the info is the gateway's, and the closed connection is gone
    assert received == {"hello": "lean"}
    assert info.source_ip == "127.0.0.1" and info.last_active_at >= info.connected_at > 0
    with pytest.raises(StaleConnection):
        api.send(connection_id, b"late")
    with pytest.raises(StaleConnection):
        api.get("AAAAAAAAAAAAAAA=")


def test_disconnect_removes_the_row(local_stack):
    user = unique_user("bye")

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)):
            return connection_ids(local_stack, local_stack.user_id(user))

    assert len(asyncio.run(scenario())) == 1
    assert wait_until(lambda: connection_ids(local_stack, local_stack.user_id(user)) == [], timeout=5)


def test_token_expiry_sends_token_expired_then_closes(local_stack):
    # GIVEN a connection whose token expires in 3 s (the sweeper runs every 2 s in this session)
    user = unique_user("expiring")

    async def scenario():
        ws = await open_ws(local_stack.ws_url, local_stack.mint_token(user, lifetime_seconds=3))
        message = await receive_json(ws, timeout=15)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return message

    message = asyncio.run(scenario())
    # THEN it is told TOKEN_EXPIRED and closed
    assert message["type"] == "error" and message["data"]["code"] == "TOKEN_EXPIRED"


def _function_name(stack, fn: str) -> str:
    return f"realtime-local-{fn}"


class FunctionEnvironment:
    """Change a deployed function's environment in the emulator (like the console would) and put it back."""

    def __init__(self, stack, fn: str):
        self.lambda_client = stack.client("lambda")
        self.name = _function_name(stack, fn)
        self.original = self.lambda_client.get_function_configuration(FunctionName=self.name)["Environment"]["Variables"]

    def set(self, variables: dict[str, str]) -> None:
        self.lambda_client.update_function_configuration(FunctionName=self.name, Environment={"Variables": variables})
        time.sleep(1.5)  # the gateway re-reads the wiring every 0.5 s in this session

    def restore(self) -> None:
        self.set(self.original)


def test_connection_limit_refuses_with_503(local_stack):
    # GIVEN the connect function's global limit lowered to one more than the open connections
    connect = FunctionEnvironment(local_stack, "connect")
    table = local_stack.outputs["connections_table_name"]
    time.sleep(2.5)  # one sweeper run reconciles the counter with the rows
    counter = local_stack.client("dynamodb").get_item(TableName=table, Key={"connectionId": {"S": "#counter"}})
    active = int(counter.get("Item", {}).get("active", {}).get("N", "0"))
    connect.set({**connect.original, "GLOBAL_CONNECTION_LIMIT": str(active + 1)})
    try:
        async def scenario():
            first = await open_ws(local_stack.ws_url, local_stack.token(unique_user("limit")))
            try:
                return await handshake_status(local_stack.ws_url, local_stack.token(unique_user("limit")))
            finally:
                await first.close()

        # THEN the next connection beyond it is refused with 503
        assert asyncio.run(scenario()) == 503
    finally:
        connect.restore()


def test_per_user_limit_refuses_with_429(local_stack):
    # GIVEN one user holding as many connections as the deployed per-user limit allows
    connect = local_stack.client("lambda").get_function_configuration(FunctionName=_function_name(local_stack, "connect"))
    limit = int(connect["Environment"]["Variables"]["PER_USER_CONNECTION_LIMIT"])
    user = unique_user("tabs")
    token = local_stack.token(user)

    async def scenario():
        sockets = [await open_ws(local_stack.ws_url, token) for _ in range(limit)]
        try:
            return await handshake_status(local_stack.ws_url, token)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

    # THEN one more tab is refused with 429
    assert asyncio.run(scenario()) == 429


def test_wiring_drift_a_removed_env_var_fails_like_aws(local_stack):
    # GIVEN the $default function loses CONNECTIONS_TABLE in the emulator (drift from the stack)
    default = FunctionEnvironment(local_stack, "default")
    drifted = {k: v for k, v in default.original.items() if k != "CONNECTIONS_TABLE"}

    async def ping_once():
        async with await open_ws(local_stack.ws_url, local_stack.token("drift")) as ws:
            await ws.send(PING)
            return await receive_json(ws)

    default.set(drifted)
    try:
        # WHEN a client pings THEN the function fails at init and API Gateway answers its error frame
        answer = asyncio.run(ping_once())
        assert answer["message"] == "Internal server error" and "connectionId" in answer
    finally:
        default.restore()
    # AND restoring the configuration repairs it
    assert asyncio.run(ping_once())["type"] == "pong"


def test_wiring_drift_a_wrong_handler_fails_the_handshake(local_stack):
    lam = local_stack.client("lambda")
    name = _function_name(local_stack, "connect")
    handler = lam.get_function_configuration(FunctionName=name)["Handler"]
    lam.update_function_configuration(FunctionName=name, Handler="handlers.connekt.handler")
    time.sleep(1.5)
    try:
        assert asyncio.run(handshake_status(local_stack.ws_url, local_stack.token("alice"))) == 500
    finally:
        lam.update_function_configuration(FunctionName=name, Handler=handler)
        time.sleep(1.5)
    assert asyncio.run(handshake_status(local_stack.ws_url, local_stack.token("alice"))) == 101
