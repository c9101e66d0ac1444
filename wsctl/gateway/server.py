"""The local API Gateway: one asyncio server on 127.0.0.1 serving the WebSocket stage at
``ws://127.0.0.1:<port>/<stage>`` and, on the same port, the @connections management API at
``http://127.0.0.1:<port>/<stage>/@connections/<connectionId>``.

The WebSocket protocol is websockets' Sans-I/O ``ServerProtocol``; this module owns the sockets,
so it decides the handshake status (authorizer, ``$connect``), the close codes and when
``$disconnect`` runs, the way API Gateway does. Plain HTTP requests with a body cannot go through
websockets' handshake parser, which is why the first request head is read here and routed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from websockets.exceptions import SecurityError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from wsctl.gateway import events
from wsctl.gateway.faults import FaultSwitch
from wsctl.gateway.policy import AuthorizerResponseError, authorizer_context, is_allowed
from wsctl.gateway.wiring import EventSourceSpec, FunctionSpec, ScheduleSpec, Wiring
from wsctl.gateway.workers import (
    BrokenFunction,
    CodeNotFound,
    CodeStore,
    FunctionPool,
    InvocationResult,
    platform_environment,
)

log = logging.getLogger("wsctl.gateway")

API_GATEWAY_MAX_MESSAGE_BYTES = 128 * 1024
#: API Gateway's WebSocket quota "Length, in characters, of the URL for a WebSocket API" (applied
#: to the request target: path and query string, where the token travels). Above it: 414.
MAX_URL_CHARS = 4096
#: The whole request head (request line and headers). API Gateway documents no such quota for
#: WebSocket APIs (HTTP APIs: 10240 bytes); this is the local gateway's own bound. Above it: 431.
MAX_HEAD_BYTES = 16 * 1024
#: The stream buffer's limit: larger than MAX_HEAD_BYTES so an oversized head is still read and answered.
READ_LIMIT = MAX_HEAD_BYTES * 4
CLOSE_HANDSHAKE_TIMEOUT = 2.0
#: How long a refused request's unread bytes are drained before the socket closes (closing with
#: unread input sends a TCP reset, which can destroy the response before the client reads it).
DRAIN_SECONDS = 2.0
REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           410: "Gone", 413: "Payload Too Large", 414: "URI Too Long", 426: "Upgrade Required",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}

#: What an injected fault answers (the error shapes of the @connections API).
INJECTED = {"500": (500, {"message": "Internal server error"}, "InternalServerErrorException"),
            "429": (429, {"message": "Too Many Requests"}, "LimitExceededException")}


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class GatewaySettings:
    """Knobs of the local gateway; the defaults are API Gateway's quotas.

    Tests shorten the timeouts through the ``REALTIME_LOCAL_*`` variables read by ``from_env``.
    """

    port: int
    host: str = "127.0.0.1"
    #: API Gateway closes a connection without client messages for 10 minutes.
    idle_timeout_seconds: float = 600.0
    #: API Gateway closes every connection after 2 hours.
    max_connection_seconds: float = 7200.0
    max_message_bytes: int = API_GATEWAY_MAX_MESSAGE_BYTES
    #: ``$disconnect`` is best effort in AWS and arrives late after a network loss; > 0 delays it
    #: for connections that vanished without a close frame (their @connections id is Gone at once).
    abrupt_disconnect_delay_seconds: float = 0.0
    #: Execution environments (worker processes) per function.
    function_concurrency: int = 1
    #: Overrides every schedule's rate (a test runs the sweeper every few seconds).
    schedule_interval_seconds: float | None = None
    #: How often the deployed wiring is re-read (a changed function configuration gets new workers).
    wiring_poll_seconds: float = 2.0
    #: ``REALTIME_LOCAL_FAULTS``: @connections POSTs answering 500, 429 or timing out, for tests only
    #: (wsctl/gateway/faults.py; docs/local.md "Fault injection (tests only)"). Nothing deployed has it.
    faults: str | None = None

    @classmethod
    def from_env(cls, port: int) -> GatewaySettings:
        schedule = os.environ.get("REALTIME_LOCAL_SCHEDULE_INTERVAL_SECONDS")
        return cls(
            port=port,
            idle_timeout_seconds=_env_float("REALTIME_LOCAL_IDLE_TIMEOUT_SECONDS", 600.0),
            max_connection_seconds=_env_float("REALTIME_LOCAL_MAX_CONNECTION_SECONDS", 7200.0),
            abrupt_disconnect_delay_seconds=_env_float("REALTIME_LOCAL_ABRUPT_DISCONNECT_DELAY_SECONDS", 0.0),
            function_concurrency=int(_env_float("REALTIME_LOCAL_FUNCTION_CONCURRENCY", 1)),
            schedule_interval_seconds=float(schedule) if schedule else None,
            wiring_poll_seconds=_env_float("REALTIME_LOCAL_WIRING_POLL_SECONDS", 2.0),
            faults=os.environ.get("REALTIME_LOCAL_FAULTS") or None,
        )


@dataclass
class Connection:
    request: events.ClientRequest
    protocol: ServerProtocol
    writer: asyncio.StreamWriter
    authorizer: dict[str, Any] | None
    opened: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    last_active_wall: float = field(default_factory=time.time)
    fragments: list[bytes] = field(default_factory=list)
    fragment_opcode: Opcode | None = None
    closing_since: float | None = None
    gone: bool = False

    @property
    def connection_id(self) -> str:
        return self.request.connection_id


def _head(raw: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return method, target, headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _target_too_long(head: bytes) -> bool:
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return len(parts) >= 2 and len(parts[1]) > MAX_URL_CHARS


async def _read_head(reader: asyncio.StreamReader) -> bytes | int:
    """The request head, or the status refusing a head over the limits: 414 when the request
    target is longer than API Gateway's URL quota, 431 when the head is larger than ours."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        try:
            line = await reader.readuntil(b"\r\n")  # the request line tells which limit was crossed
        except asyncio.LimitOverrunError:
            return 414  # the request line alone is over READ_LIMIT
        return 414 if _target_too_long(line) else 431
    if _target_too_long(head):
        return 414
    return 431 if len(head) > MAX_HEAD_BYTES else head


def _handshake_failure(error: Exception | None) -> int:
    """The status for a head websockets could not parse: a too long header line or too many
    headers is 431 (the request line was bounded before), anything else 400."""
    too_large = isinstance(error, SecurityError) or isinstance(getattr(error, "__cause__", None), SecurityError)
    return 431 if too_large else 400


def select_route_key(expression: str, body: str | bytes) -> str | None:
    """Evaluate ``$request.body.<path>`` against a JSON message; None means ``$default``.

    API Gateway sends a message its route selection expression cannot be evaluated against to
    ``$default`` ("Create routes for WebSocket APIs"): not JSON, not an object on the path, a value
    that is not a string, or JSON nested deeper than the parser goes (RecursionError).
    """
    prefix = "$request.body."
    if not expression.startswith(prefix) or isinstance(body, bytes):
        return None
    try:
        value: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    for part in expression[len(prefix):].split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, str) else None


class Gateway:
    def __init__(self, *, settings: GatewaySettings, read_wiring: Callable[[], Wiring], session: Any,
                 aws_endpoint: str, code_store: CodeStore, log_dir: Path):
        self.settings, self._read_wiring, self.session = settings, read_wiring, session
        self.aws_endpoint, self.code_store, self.log_dir = aws_endpoint, code_store, log_dir
        self.wiring: Wiring | None = None
        #: Raises FaultSpecError at start for an invalid inline spec: a test never runs on a typo.
        self.faults = FaultSwitch.from_env(settings.faults)
        if self.faults is not None:
            log.warning("fault injection is ON (REALTIME_LOCAL_FAULTS): @connections posts may fail on purpose")
        self.functions: dict[str, FunctionPool | BrokenFunction] = {}
        self.connections: dict[str, Connection] = {}
        self._server: asyncio.Server | None = None
        self._background: dict[tuple[str, str], asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        wiring = await asyncio.to_thread(self._read_wiring)
        for note in wiring.notes:
            log.warning("wiring: %s", note)
        await self._apply_wiring(wiring)
        self._server = await asyncio.start_server(self._handle_client, self.settings.host, self.settings.port,
                                                  limit=READ_LIMIT, backlog=4096)
        self._spawn(self._watch_wiring(), key=("watch", "wiring"))

    @property
    def stage_path(self) -> str:
        assert self.wiring is not None
        return f"/{self.wiring.stage_name}"

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task in list(self._background.values()):
            task.cancel()
        for connection in list(self.connections.values()):
            self._start_close(connection, 1001, "Going away")
        await asyncio.sleep(0.05 if self.connections else 0)
        deadline = time.monotonic() + CLOSE_HANDSHAKE_TIMEOUT
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in list(self._background.values()) + pending:
            task.cancel()
        await asyncio.gather(*(pool.stop() for pool in self.functions.values()), return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1)

    def close_connections(self, code: int, reason: str) -> int:
        """Close every open connection (their clients reconnect); returns how many were open.
        The local stack does this after restoring a dead emulator, whose snapshot may lack their rows."""
        open_now = [c for c in self.connections.values() if c.closing_since is None]
        for connection in open_now:
            self._start_close(connection, code, reason)
        return len(open_now)

    def _spawn(self, coroutine, key: tuple[str, str] | None = None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        if key is None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._background[key] = task
        return task

    # ---- wiring and functions -------------------------------------------------------------

    async def _apply_wiring(self, wiring: Wiring) -> None:
        old_functions = self.functions
        new_functions: dict[str, FunctionPool | BrokenFunction] = {}
        starting = []
        for name, spec in wiring.functions.items():
            current = old_functions.get(name)
            if current is not None and current.spec == spec:
                new_functions[name] = current
                continue
            pool = self._pool_for(spec, wiring)
            new_functions[name] = pool
            starting.append(pool.start())
            if current is not None:
                log.info("function %s changed in the emulator: new execution environments", name)
        await asyncio.gather(*starting)
        self.wiring, self.functions = wiring, new_functions
        for name, pool in old_functions.items():
            if new_functions.get(name) is not pool:
                self._spawn(pool.stop())
        self._sync_background(wiring)

    def _pool_for(self, spec: FunctionSpec, wiring: Wiring) -> FunctionPool | BrokenFunction:
        try:
            code_dir = self.code_store.directory_for(spec.code_sha256)
        except CodeNotFound as error:
            return BrokenFunction(spec, f"deployed code of {spec.name} not found locally: {error}")
        env = {**spec.env, **platform_environment(spec, region=wiring.region, aws_endpoint=self.aws_endpoint,
                                                  code_dir=code_dir)}
        return FunctionPool(spec, code_dir, env, self.log_dir, self.settings.function_concurrency)

    async def invoke(self, function_name: str, event: Any) -> InvocationResult:
        pool = self.functions.get(function_name)
        if pool is None:
            return InvocationResult("", error={"errorType": "ResourceNotFoundException",
                                               "errorMessage": f"Function not found: {function_name}"})
        return await pool.invoke(event)

    async def _watch_wiring(self) -> None:
        failing = False
        while not self._stopping:
            await asyncio.sleep(self.settings.wiring_poll_seconds)
            try:
                wiring = await asyncio.to_thread(self._read_wiring)
            except Exception as error:  # noqa: BLE001 - keep serving the last good wiring
                if not failing:
                    log.error("cannot re-read the wiring from the emulator: %s", error)
                failing = True
                continue
            failing = False
            if wiring != self.wiring:
                await self._apply_wiring(wiring)

    def _sync_background(self, wiring: Wiring) -> None:
        wanted: dict[tuple[str, str], Any] = {}
        for source in wiring.event_sources:
            wanted[("sqs", f"{source.uuid}:{source.function_name}:{source.batch_size}:{source.report_batch_item_failures}")] = source
        for schedule in wiring.schedules:
            wanted[("schedule", f"{schedule.name}:{schedule.function_name}:{schedule.interval_seconds}")] = schedule
        for key in list(self._background):
            if key[0] in ("sqs", "schedule") and key not in wanted:
                self._background.pop(key).cancel()
        for key, spec in wanted.items():
            if key not in self._background:
                runner = self._poll_queue(spec) if key[0] == "sqs" else self._run_schedule(spec)
                self._spawn(runner, key=key)

    # ---- SQS event source mapping and schedules -------------------------------------------

    async def _poll_queue(self, source: EventSourceSpec) -> None:
        sqs = self.session.client("sqs", endpoint_url=self.aws_endpoint)
        assert self.wiring is not None
        region = self.wiring.region
        while not self._stopping:
            try:
                response = await asyncio.to_thread(
                    sqs.receive_message, QueueUrl=source.queue_url, MaxNumberOfMessages=min(10, source.batch_size),
                    WaitTimeSeconds=1, AttributeNames=["All"], MessageAttributeNames=["All"])
            except Exception as error:  # noqa: BLE001 - the emulator may be going away; retry
                log.warning("polling %s failed: %s", source.queue_url.rsplit("/", 1)[-1], error)
                await asyncio.sleep(1)
                continue
            messages = response.get("Messages") or []
            if not messages:
                continue
            result = await self.invoke(source.function_name, events.sqs_event(messages, source.queue_arn, region))
            done = _succeeded_records(messages, result, source.report_batch_item_failures)
            if done:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(sqs.delete_message_batch, QueueUrl=source.queue_url, Entries=entries)

    async def _run_schedule(self, schedule: ScheduleSpec) -> None:
        interval = self.settings.schedule_interval_seconds or schedule.interval_seconds
        while not self._stopping:
            await asyncio.sleep(interval)
            assert self.wiring is not None
            event = events.scheduled_event(schedule.source_arn, self.wiring.account_id, self.wiring.region,
                                           schedule.kind, schedule.input)
            await self.invoke(schedule.function_name, event)

    # ---- connections -----------------------------------------------------------------------

    async def _handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await _read_head(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        try:
            if isinstance(head, int):
                await self._refuse(reader, writer, head)
                return
            try:
                method, target, headers = _head(head)
            except ValueError:
                await self._refuse(reader, writer, 400)
                return
            path = target.split("?", 1)[0]
            if path.startswith(self.stage_path + "/@connections/"):
                await self._serve_management(head, reader, writer)
            elif (_header(headers, "upgrade") or "").lower() == "websocket" and path.rstrip("/") == self.stage_path:
                await self._serve_websocket(head, reader, writer)
            else:
                status = 426 if path.rstrip("/") == self.stage_path else 403
                await self._respond(writer, status, {"message": REASONS[status]}, close=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("gateway error")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_websocket(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.wiring is not None
        protocol = ServerProtocol(max_size=self.settings.max_message_bytes)
        protocol.receive_data(head)
        request = next((e for e in protocol.events_received() if isinstance(e, Request)), None)
        if request is None:
            await self._refuse(reader, writer, _handshake_failure(protocol.handshake_exc))
            return
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        client = events.ClientRequest(
            connection_id=events.new_connection_id(), domain_name=f"127.0.0.1:{self.settings.port}",
            stage=self.wiring.stage_name, api_id=self.wiring.api_id, source_ip=peer[0],
            headers=list(request.headers.raw_items()), query=request.path.partition("?")[2])
        status, body, authorizer, extra_headers = await self._admit(client)
        if status < 200 or status >= 300:
            response = protocol.reject(status, body)
            # reject() adds text/plain; API Gateway answers JSON, with one Content-Type.
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            protocol.send_response(response)
            self._write(writer, protocol)
            log.info("connect refused %s (%s)", status, client.connection_id)
            return
        response = protocol.accept(request)
        if response.status_code == 101:
            for name, value in extra_headers.items():
                if name.lower() == "sec-websocket-protocol":
                    response.headers[name] = value
        protocol.send_response(response)
        self._write(writer, protocol)
        if response.status_code != 101:
            return
        connection = Connection(client, protocol, writer, authorizer)
        self.connections[client.connection_id] = connection
        log.info("connected %s", client.connection_id)
        try:
            await self._read_loop(connection, reader)
        finally:
            self._finish(connection)

    async def _admit(self, client: events.ClientRequest) -> tuple[int, str, dict | None, dict]:
        """Authorizer then ``$connect``: (status, body, authorizer context, response headers)."""
        assert self.wiring is not None
        route = self.wiring.routes.get("$connect")
        if route is None:
            return 200, "", None, {}
        authorizer_ctx = None
        if route.authorizer is not None and route.authorization_type == "CUSTOM":
            for source in route.authorizer.identity_sources:
                if not _identity_value(source, client):
                    return 401, json.dumps({"message": "Unauthorized"}), None, {}
            method_arn = self.wiring.method_arn("$connect")
            result = await self.invoke(route.authorizer.function_name, events.authorizer_event(client, method_arn))
            if not result.ok:
                if (result.error or {}).get("errorMessage") == "Unauthorized":
                    return 401, json.dumps({"message": "Unauthorized"}), None, {}
                return 500, json.dumps({"message": "Internal server error"}), None, {}
            try:
                allowed = is_allowed((result.result or {}).get("policyDocument"), method_arn)
                authorizer_ctx = authorizer_context(result.result)
            except (AuthorizerResponseError, AttributeError) as error:
                log.warning("authorizer response rejected: %s", error)
                return 500, json.dumps({"message": "Internal server error"}), None, {}
            if not allowed:
                return 403, json.dumps({"message": "Forbidden"}), None, {}
        if route.function_name is None:
            return 500, json.dumps({"message": "Internal server error"}), None, {}
        result = await self.invoke(route.function_name, events.connect_event(client, authorizer_ctx))
        if not result.ok:
            return 500, json.dumps({"message": "Internal server error"}), None, {}
        response = result.result if isinstance(result.result, dict) else {}
        status = response.get("statusCode", 200)
        if not isinstance(status, int):
            return 502, json.dumps({"message": "Internal server error"}), None, {}
        body = response.get("body") or ""
        return status, body if isinstance(body, str) else json.dumps(body), authorizer_ctx, response.get("headers") or {}

    async def _read_loop(self, connection: Connection, reader: asyncio.StreamReader) -> None:
        protocol, settings = connection.protocol, self.settings
        while True:
            now = time.monotonic()
            if connection.closing_since is not None:
                timeout = connection.closing_since + CLOSE_HANDSHAKE_TIMEOUT - now
                reason = None
            else:
                idle_at = connection.last_active + settings.idle_timeout_seconds
                max_at = connection.opened + settings.max_connection_seconds
                timeout = min(idle_at, max_at) - now
                reason = "Going away"
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout=max(timeout, 0.001))
            except TimeoutError:
                if reason is None:
                    return  # the client never answered our close frame
                self._start_close(connection, 1001, reason)
                continue
            except ConnectionError:
                data = b""
            if not data:
                protocol.receive_eof()
                self._write(connection.writer, protocol)
                return
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame):
                    self._on_frame(connection, event)
            self._write(connection.writer, protocol)
            if protocol.state is State.CLOSED or protocol.eof_sent:
                return

    def _on_frame(self, connection: Connection, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            connection.fragment_opcode, connection.fragments = frame.opcode, [frame.data]
        elif frame.opcode is Opcode.CONT and connection.fragment_opcode is not None:
            connection.fragments.append(frame.data)
        else:
            return  # ping/pong are answered by the protocol; close is handled by the read loop
        if not frame.fin:
            return
        data = b"".join(connection.fragments)
        opcode, connection.fragments, connection.fragment_opcode = connection.fragment_opcode, [], None
        connection.last_active, connection.last_active_wall = time.monotonic(), time.time()
        body: str | bytes = data.decode("utf-8", errors="replace") if opcode is Opcode.TEXT else data
        self._spawn(self._route_message(connection, body))

    async def _route_message(self, connection: Connection, body: str | bytes) -> None:
        assert self.wiring is not None
        route_key = select_route_key(self.wiring.route_selection_expression, body)
        route = self.wiring.routes.get(route_key) if route_key and not route_key.startswith("$") else None
        route = route or self.wiring.routes.get("$default")
        if route is None:
            self._send_error(connection, "Forbidden")
            return
        if route.function_name is None:
            self._send_error(connection, "Internal server error")
            return
        event = events.message_event(connection.request, route.route_key, body, connection.authorizer)
        result = await self.invoke(route.function_name, event)
        if not result.ok:
            self._send_error(connection, "Internal server error", result.request_id)
        elif route.returns_response and isinstance(result.result, dict) and result.result.get("body"):
            self.post(connection.connection_id, str(result.result["body"]).encode())

    def _send_error(self, connection: Connection, message: str, request_id: str | None = None) -> None:
        payload = {"message": message, "connectionId": connection.connection_id,
                   "requestId": request_id or events.request_id()}
        self.post(connection.connection_id, json.dumps(payload).encode())

    def _write(self, writer: asyncio.StreamWriter, protocol: ServerProtocol) -> None:
        for data in protocol.data_to_send():
            if data:
                writer.write(data)
            elif writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()

    def _start_close(self, connection: Connection, code: int, reason: str) -> None:
        if connection.closing_since is not None or connection.protocol.state is not State.OPEN:
            return
        connection.closing_since = time.monotonic()
        connection.gone = True
        connection.protocol.send_close(code, reason)
        self._write(connection.writer, connection.protocol)

    def _finish(self, connection: Connection) -> None:
        """The connection is over, whichever side ended it: its id is Gone, ``$disconnect`` runs."""
        if self.connections.pop(connection.connection_id, None) is None:
            return
        connection.gone = True
        protocol = connection.protocol
        if protocol.close_rcvd is not None and (protocol.close_sent is None or protocol.close_rcvd_then_sent):
            code, reason, abrupt = protocol.close_rcvd.code, protocol.close_rcvd.reason, False
        elif protocol.close_sent is not None:
            code, reason, abrupt = protocol.close_sent.code, protocol.close_sent.reason, False
        else:
            code, reason, abrupt = 1006, "Connection was closed abnormally", True
        with contextlib.suppress(Exception):
            connection.writer.close()
        log.info("disconnected %s (%s)", connection.connection_id, code)
        delay = self.settings.abrupt_disconnect_delay_seconds if abrupt else 0.0
        self._spawn(self._disconnect(connection, code, reason or "", delay))

    async def _disconnect(self, connection: Connection, code: int, reason: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        assert self.wiring is not None
        route = self.wiring.routes.get("$disconnect")
        if route is not None and route.function_name is not None:
            await self.invoke(route.function_name,
                              events.disconnect_event(connection.request, code, reason, connection.authorizer))

    # ---- @connections management API ------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or connection.gone or connection.protocol.state is not State.OPEN:
            return False
        try:
            connection.protocol.send_text(data.decode("utf-8").encode())
        except UnicodeDecodeError:
            connection.protocol.send_binary(data)
        self._write(connection.writer, connection.protocol)
        return True

    async def _serve_management(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            method, target, headers = _head(head)
            length = int(_header(headers, "content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            path = target.split("?", 1)[0]
            close = (_header(headers, "connection") or "").lower() == "close"
            prefix = self.stage_path + "/@connections/"
            connection_id = unquote(path[len(prefix):]) if path.startswith(prefix) else ""
            fault = (self.faults.for_post(connection_id)
                     if self.faults is not None and method == "POST" and connection_id in self.connections else None)
            if fault is not None and fault.kind == "timeout":
                await asyncio.sleep(fault.hold_seconds)
                return  # no answer: the caller's read timeout fires; the socket closes
            if fault is not None:
                status, payload, error_type = INJECTED[fault.kind]
            else:
                status, payload, error_type = self._manage(method, connection_id, body)
            await self._respond(writer, status, payload, error_type=error_type, close=close)
            if close:
                return
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return

    def _manage(self, method: str, connection_id: str, body: bytes) -> tuple[int, Any, str | None]:
        if not connection_id or "/" in connection_id:
            return 403, {"message": "Forbidden"}, "ForbiddenException"
        connection = self.connections.get(connection_id)
        if connection is None or connection.gone:
            return 410, {}, "GoneException"
        if method == "POST":
            if len(body) > self.settings.max_message_bytes:
                return 413, {"message": "Message too long"}, "PayloadTooLargeException"
            return (200, None, None) if self.post(connection_id, body) else (410, {}, "GoneException")
        if method == "GET":
            # GetConnection's wire names (boto3 exposes them as ConnectedAt, Identity.SourceIp, …)
            return 200, {"connectedAt": _iso(connection.request.connected_at_ms / 1000),
                         "identity": {"sourceIp": connection.request.source_ip,
                                      "userAgent": connection.request.user_agent or ""},
                         "lastActiveAt": _iso(connection.last_active_wall)}, None
        if method == "DELETE":
            self._start_close(connection, 1000, "")
            return 204, None, None
        return 403, {"message": "Forbidden"}, "ForbiddenException"

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int) -> None:
        """Answer a request that is not served (an oversized or unparsable head), then drain what
        the client still sends until it closes, so the answer is not lost to a TCP reset."""
        log.info("request refused with %s", status)
        await self._respond(writer, status, {"message": REASONS[status]}, close=True)
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
        deadline = time.monotonic() + DRAIN_SECONDS
        with contextlib.suppress(TimeoutError, ConnectionError):
            while time.monotonic() < deadline:
                if not await asyncio.wait_for(reader.read(65536), timeout=max(deadline - time.monotonic(), 0.001)):
                    break

    async def _respond(self, writer: asyncio.StreamWriter, status: int, payload: Any, *, error_type: str | None = None,
                       close: bool = False) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"Date: {events.http_date()}",
                   "Content-Type: application/json", f"Content-Length: {len(body)}",
                   f"x-amzn-RequestId: {events.request_id()}",
                   f"Connection: {'close' if close else 'keep-alive'}"]
        if error_type:
            headers.append(f"x-amzn-ErrorType: {error_type}")
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
        await writer.drain()


def _identity_value(source: str, client: events.ClientRequest) -> str | None:
    kind, _, name = source.removeprefix("route.request.").partition(".")
    if kind == "querystring":
        single, _ = client.query_maps()
        return (single or {}).get(name) or None
    if kind == "header":
        return _header(client.headers, name) or None
    return "present"  # stage variables / context identity sources are always resolvable locally


def _succeeded_records(messages: list[dict], result: InvocationResult, partial: bool) -> list[dict]:
    """Which records the event source mapping deletes after an invocation."""
    if not result.ok:
        return []
    if not partial:
        return messages
    response = result.result
    if response is None or (isinstance(response, dict) and not response.get("batchItemFailures")):
        return messages
    if not isinstance(response, dict) or not isinstance(response.get("batchItemFailures"), list):
        return []
    failed = set()
    ids = {m["MessageId"] for m in messages}
    for item in response["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return []  # an invalid report fails the whole batch, as Lambda does
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]
