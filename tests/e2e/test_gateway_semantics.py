"""API Gateway semantics of the local gateway, against stub functions (fast: no terraform).

The stubs run exactly like the stack's functions (worker processes, code from a zip found by its
CodeSha256, configured environment), so these tests pin the gateway's behaviour independently of
the runtime: identity sources, Allow/Deny, authorizer context, $connect status, route selection,
$disconnect codes, idle/maximum duration, SQS batch item failures and schedules.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import time
import zipfile

import pytest
import websockets
import websockets.sync.client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realtime.config import MAX_TOKEN_CHARS

from wsctl.gateway.server import MAX_HEAD_BYTES, MAX_URL_CHARS, Gateway, GatewaySettings, select_route_key
from wsctl.gateway.wiring import (
    AuthorizerSpec,
    EventSourceSpec,
    FunctionSpec,
    RouteSpec,
    ScheduleSpec,
    Wiring,
)
from wsctl.gateway.workers import CodeStore

STUB = r'''
import json, os, urllib.request

def _record(name, event):
    with open(os.environ["STUB_LOG"], "a") as log:
        log.write(json.dumps({"fn": name, "event": event}) + "\n")

def authorizer(event, context):
    _record("authorizer", event)
    token = event["queryStringParameters"].get("token")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    effect = "Deny" if token == "deny" else "Allow"
    return {"principalId": "user-1", "context": {"userId": "user-1", "tokenExpiresAt": 123},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": effect, "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]}}

def connect(event, context):
    _record("connect", event)
    status = (event.get("queryStringParameters") or {}).get("status", "200")
    return {"statusCode": int(status), "body": "refused" if status != "200" else ""}

def echo(event, context):
    _record(event["requestContext"]["routeKey"], event)
    url = os.environ["CONNECTIONS_ENDPOINT"] + "/@connections/" + event["requestContext"]["connectionId"]
    reply = json.dumps({"route": event["requestContext"]["routeKey"], "authorizer": event["requestContext"].get("authorizer")})
    urllib.request.urlopen(urllib.request.Request(url, data=reply.encode(), method="POST"), timeout=5)
    return {"statusCode": 200}

def disconnect(event, context):
    _record("disconnect", event)

def batch(event, context):
    _record("batch", event)
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]}

def tick(event, context):
    _record("tick", event)
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def world(tmp_path, moto_endpoint):
    """Everything a Gateway needs, wired to the stubs; ``start(**settings)`` runs one."""
    import boto3

    code = tmp_path / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("stub.py", STUB)
    sha = base64.b64encode(hashlib.sha256(code.read_bytes()).digest()).decode()
    log_path = tmp_path / "invocations.jsonl"
    log_path.touch()
    port = _free_port()
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    queue_url = sqs.create_queue(QueueName=f"q-{port}", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    env = (("CONNECTIONS_ENDPOINT", f"http://127.0.0.1:{port}/local"), ("STUB_LOG", str(log_path)))

    def fn(name: str) -> FunctionSpec:
        return FunctionSpec(name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                            handler=f"stub.{name}", runtime="python3.12", timeout_seconds=10, memory_mb=128,
                            environment=env, code_sha256=sha)

    authorizer = AuthorizerSpec("auth1", "token", "REQUEST", "authorizer", ("route.request.querystring.token",))
    routes = {
        "$connect": RouteSpec("$connect", "r1", "connect", "CUSTOM", authorizer, False),
        "$disconnect": RouteSpec("$disconnect", "r2", "disconnect", "NONE", None, False),
        "$default": RouteSpec("$default", "r3", "echo", "NONE", None, False),
        "custom": RouteSpec("custom", "r4", "echo", "NONE", None, False),
    }

    class World:
        gateway: Gateway

        def __init__(self):
            self.url = f"ws://127.0.0.1:{port}/local"
            self.sqs, self.queue_url = sqs, queue_url

        def wiring(self, schedules=(), sources=()) -> Wiring:
            return Wiring(region="us-east-1", account_id="123456789012", api_id="api1", api_name="stub-ws",
                          route_selection_expression="$request.body.action", stage_name="local", routes=routes,
                          functions={n: fn(n) for n in ("authorizer", "connect", "echo", "disconnect", "batch", "tick")},
                          event_sources=tuple(sources), schedules=tuple(schedules))

        def invocations(self, name: str | None = None) -> list[dict]:
            rows = [json.loads(line) for line in log_path.read_text().splitlines() if line]
            return [r["event"] for r in rows if name is None or r["fn"] == name]

        async def start(self, wiring: Wiring | None = None, **settings) -> Gateway:
            wiring = wiring or self.wiring()
            self.gateway = Gateway(settings=GatewaySettings(port=port, **settings), read_wiring=lambda: wiring,
                                   session=session, aws_endpoint=moto_endpoint,
                                   code_store=CodeStore([tmp_path], tmp_path / "cache"), log_dir=tmp_path / "logs")
            await self.gateway.start()
            return self.gateway

    return World()


async def _status(url: str) -> int:
    try:
        async with websockets.connect(url, open_timeout=10):
            return 101
    except websockets.InvalidStatus as error:
        return error.response.status_code


def test_identity_source_policy_and_connect_status(world):
    async def scenario():
        gateway = await world.start()
        try:
            return [await _status(world.url), await _status(world.url + "?token=deny"),
                    await _status(world.url + "?token=unauthorized"), await _status(world.url + "?token=ok&status=429"),
                    await _status(world.url + "?token=ok")]
        finally:
            await gateway.stop()

    statuses = asyncio.run(scenario())
    # missing identity source → 401 without invoking; Deny → 403; "Unauthorized" → 401; $connect status wins
    assert statuses == [401, 403, 401, 429, 101]
    authorized = world.invocations("authorizer")
    assert len(authorized) == 4
    assert authorized[0]["methodArn"] == "arn:aws:execute-api:us-east-1:123456789012:api1/local/$connect"
    connects = world.invocations("connect")
    assert len(connects) == 2  # only the allowed handshakes reach $connect
    assert connects[-1]["requestContext"]["authorizer"]["principalId"] == "user-1"
    assert connects[-1]["requestContext"]["authorizer"]["userId"] == "user-1"
    assert connects[-1]["requestContext"]["authorizer"]["tokenExpiresAt"] == "123"  # stringified, as in AWS


def test_route_selection_authorizer_context_and_disconnect_code(world):
    async def scenario():
        gateway = await world.start()
        try:
            async with websockets.connect(world.url + "?token=ok") as ws:
                answers = []
                for frame in ('{"action": "custom"}', '{"action": "nope"}', "not json", '{"action": 7}'):
                    await ws.send(frame)
                    answers.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
                await ws.close(4000, "bye")
            await asyncio.sleep(0.5)
            return answers
        finally:
            await gateway.stop()

    answers = asyncio.run(scenario())
    assert [a["route"] for a in answers] == ["custom", "$default", "$default", "$default"]
    assert answers[0]["authorizer"]["userId"] == "user-1"
    (disconnect,) = world.invocations("disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 4000
    assert disconnect["requestContext"]["disconnectReason"] == "bye"
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"


@pytest.mark.parametrize("settings", [{"idle_timeout_seconds": 0.5}, {"max_connection_seconds": 0.8}])
def test_idle_timeout_and_maximum_duration_close_with_1001(world, settings):
    async def scenario():
        gateway = await world.start(**settings)
        try:
            async with websockets.connect(world.url + "?token=ok") as ws:
                if "max_connection_seconds" in settings:
                    for _ in range(4):  # activity does not extend the maximum duration
                        await ws.send('{"action": "custom"}')
                        await asyncio.wait_for(ws.recv(), 5)
                        await asyncio.sleep(0.15)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
            await asyncio.sleep(0.3)
            return closed.value
        finally:
            await gateway.stop()

    closed = asyncio.run(scenario())
    assert closed.rcvd.code == 1001
    assert world.invocations("disconnect")[0]["requestContext"]["disconnectStatusCode"] == 1001


def test_sqs_batch_item_failures_delete_only_succeeded_records(world):
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:" + world.queue_url.rsplit("/", 1)[1]
    source = EventSourceSpec("esm-1", "batch", queue_arn, world.queue_url, 10, True)
    for body in ("ok-1", "fail", "ok-2"):
        world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=body)

    async def scenario():
        gateway = await world.start(world.wiring(sources=[source]))
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not world.invocations("batch"):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
        finally:
            await gateway.stop()

    asyncio.run(scenario())
    batches = world.invocations("batch")
    bodies = sorted(r["body"] for event in batches for r in event["Records"])
    assert bodies == ["fail", "ok-1", "ok-2"]
    record = batches[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queue_arn
    attributes = world.sqs.get_queue_attributes(QueueUrl=world.queue_url, AttributeNames=["All"])["Attributes"]
    # the failed record is in flight again after its visibility timeout; the others are deleted
    assert int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1


def test_schedules_run_on_their_rate_shortened_for_tests(world):
    schedule = ScheduleSpec("sweeper-every-minute", "tick", "rate(1 minute)", 60,
                            "arn:aws:events:us-east-1:123456789012:rule/sweeper-every-minute", "events")

    async def scenario():
        gateway = await world.start(world.wiring(schedules=[schedule]), schedule_interval_seconds=0.3)
        try:
            await asyncio.sleep(1.5)
        finally:
            await gateway.stop()

    asyncio.run(scenario())
    ticks = world.invocations("tick")
    assert len(ticks) >= 2
    assert ticks[0]["detail-type"] == "Scheduled Event" and ticks[0]["resources"] == [schedule.source_arn]


def test_route_selection_expression():
    assert select_route_key("$request.body.type", '{"type": "ping"}') == "ping"
    assert select_route_key("$request.body.a.b", '{"a": {"b": "deep"}}') == "deep"
    assert select_route_key("$request.body.type", "[1]") is None
    assert select_route_key("$request.body.type", b"\x00binary") is None


def test_route_selection_survives_json_nested_beyond_the_parser():
    deep = "[" * 100_000 + "]" * 100_000
    assert select_route_key("$request.body.action", deep) is None
    assert select_route_key("$request.body.action", '{"action": "custom", "x": ' + deep + "}") is None


# --- route selection through the gateway, as a property -----------------------------------------
# The stub's routes: "custom" and $default (every route echoes its routeKey). A frame selects
# "custom" only when it is a JSON object whose top-level "action" is the string "custom"; every
# other frame goes to $default, as API Gateway sends what its expression cannot evaluate there.

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
actions = st.sampled_from(["custom", "$default", "$connect", "$disconnect", "nope", "Custom", "custom "]) | json_values


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def expected_route(action) -> str:
    return "custom" if action == "custom" and isinstance(action, str) else "$default"


#: (frame, the route API Gateway selects for it). Depths stay clear of the parser's limit (~1,000):
#: up to 100 levels parse; from 5,000 levels (10-40 KB, under the 128 KiB frame limit) they cannot.
routed_frames = st.one_of(
    st.tuples(actions, st.dictionaries(st.text(max_size=8).filter(lambda k: k != "action"), json_values,
                                       max_size=3))
    .map(lambda pair: (json.dumps({**pair[1], "action": pair[0]}), expected_route(pair[0]))),
    st.tuples(actions, st.integers(1, 100))
    .map(lambda pair: (f'{{"action": {json.dumps(pair[0])}, "deep": {nested(pair[1])}}}', expected_route(pair[0]))),
    st.integers(5_000, 10_000).map(lambda depth: (f'{{"action": "custom", "deep": {nested(depth)}}}', "$default")),
    st.integers(5_000, 20_000).map(lambda depth: ("[" * depth + "]" * depth, "$default")),
    json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: (json.dumps(v), "$default")),
    st.fixed_dictionaries({"data": st.fixed_dictionaries({"action": st.just("custom")})})
    .map(lambda v: (json.dumps(v), "$default")),  # only the top-level "action" is the expression's
    st.text(max_size=50).map(lambda t: ("not json " + t, "$default")),
    st.binary(max_size=50).map(lambda b: (b, "$default")),
)


def test_route_selection_through_the_gateway_is_total(world):
    """Whatever a client sends, exactly one route runs and answers: never a silent drop."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    gateway = asyncio.run_coroutine_threadsafe(world.start(), loop).result(60)
    try:
        with websockets.sync.client.connect(world.url + "?token=ok", open_timeout=10, max_size=None) as ws:
            @settings(max_examples=80, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(routed_frames)
            def routes(case):
                frame, route = case
                ws.send(frame)
                assert json.loads(ws.recv(timeout=10))["route"] == route

            routes()
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- handshakes the gateway refuses -------------------------------------------------------------

def _raw_handshake(port: int, target: str, extra_headers: list[str] = ()) -> tuple[str, list[tuple[str, str]], bytes]:
    """Send one upgrade request byte for byte; (status line, headers, body) of the answer."""
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", *extra_headers]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = raw.recv(65536)
            assert chunk, f"connection closed without an answer after {answer!r}"
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [(name.strip(), value.strip()) for name, _, value in (h.partition(":") for h in header_lines)]
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        while len(body) < length:
            chunk = raw.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def test_oversized_handshakes_are_answered_414_or_431(world):
    port = int(world.url.split(":")[2].split("/")[0])
    long_token = "a" * 20_000  # a 20 KB token in the query string: over API Gateway's 4,096-character URL quota
    cases = {
        "token-20kb": ("/local?token=" + long_token, []),
        # issue 17: the 12,310-character token `refresh` used to accept (now TOKEN_INVALID there too)
        "token-12310": ("/local?token=" + "a" * 12_310, []),
        "url-one-over": ("/local?token=" + "a" * (MAX_URL_CHARS - len("/local?token=") + 1), []),
        "url-70kb": ("/local?token=" + "a" * 70_000, []),  # over the stream buffer's limit as well
        "header-over-head-limit": ("/local?token=ok", [f"X-Big: {'b' * MAX_HEAD_BYTES}"]),
        "header-line-9kb": ("/local?token=ok", [f"X-Big: {'b' * 9_000}"]),
        "too-many-headers": ("/local?token=ok", [f"X-H{i}: v" for i in range(200)]),
        "head-70kb": ("/local?token=ok", [f"X-H{i}: {'c' * 7_000}" for i in range(10)]),
    }

    async def scenario():
        gateway = await world.start()
        try:
            answers = {name: await asyncio.to_thread(_raw_handshake, port, target, headers)
                       for name, (target, headers) in cases.items()}
            at_the_limit = await asyncio.to_thread(
                _raw_handshake, port, "/local?token=unauthorized&pad=" + "a" * (MAX_URL_CHARS - 31))
            token_at_the_bound = await asyncio.to_thread(_raw_handshake, port, "/local?token=" + "a" * MAX_TOKEN_CHARS)
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(f"{world.url}?token={long_token}", open_timeout=10):
                    pass
            return answers, at_the_limit, token_at_the_bound, refused.value.response.status_code
        finally:
            await gateway.stop()

    answers, at_the_limit, token_at_the_bound, client_status = asyncio.run(scenario())
    assert {name: status for name, (status, _, _) in answers.items()} == {
        "token-20kb": "HTTP/1.1 414 URI Too Long",
        "token-12310": "HTTP/1.1 414 URI Too Long",
        "url-one-over": "HTTP/1.1 414 URI Too Long",
        "url-70kb": "HTTP/1.1 414 URI Too Long",
        "header-over-head-limit": "HTTP/1.1 431 Request Header Fields Too Large",
        "header-line-9kb": "HTTP/1.1 431 Request Header Fields Too Large",
        "too-many-headers": "HTTP/1.1 431 Request Header Fields Too Large",
        "head-70kb": "HTTP/1.1 431 Request Header Fields Too Large",
    }
    assert all(json.loads(body) == {"message": status.split(" ", 2)[2]} for status, _, body in answers.values())
    assert client_status == 414  # what a websockets client sees for the 20 KB token
    # a URL of exactly 4,096 characters is within the quota: it reaches the authorizer
    assert at_the_limit[0] == "HTTP/1.1 401 Unauthorized"
    # a token of MAX_TOKEN_CHARS (the authorizer's and refresh's bound) fits the handshake: the stub authorizer
    # allows it and the connection opens
    assert token_at_the_bound[0] == "HTTP/1.1 101 Switching Protocols"
    assert len(world.invocations("authorizer")) == 2


@pytest.mark.parametrize(("query", "status"), [
    ("", 401), ("?token=unauthorized", 401), ("?token=deny", 403), ("?token=ok&status=429", 429),
    ("?token=ok&status=503", 503)])
def test_a_refused_handshake_carries_one_content_type(world, query, status):
    port = int(world.url.split(":")[2].split("/")[0])

    async def scenario():
        gateway = await world.start()
        try:
            return await asyncio.to_thread(_raw_handshake, port, "/local" + query)
        finally:
            await gateway.stop()

    status_line, headers, body = asyncio.run(scenario())
    assert status_line.split(" ")[1] == str(status)
    assert [v for k, v in headers if k.lower() == "content-type"] == ["application/json"]
    assert [v for k, v in headers if k.lower() == "content-length"] == [str(len(body))]
