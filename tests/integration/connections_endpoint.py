"""A scriptable @connections management API on 127.0.0.1, answering the way API Gateway does
(410 GoneException, 429 LimitExceededException, 500 InternalServerError), so the real boto3 client
and ApiGatewayNotifier are exercised end to end."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {410: "GoneException", 429: "LimitExceededException", 500: "InternalServerError",
          403: "ForbiddenException"}
STAGE = "test"


class ConnectionsEndpoint:
    def __init__(self, latency: float = 0.0) -> None:
        self.open: set[str] = set()
        #: per connection id, statuses answered (in order) before the normal answer
        self.script: dict[str, list[int]] = {}
        #: per connection id, a status answered every time
        self.always: dict[str, int] = {}
        self.received: dict[str, list[dict]] = {}
        self.closed: list[str] = []
        self.requests = 0
        self.latency = latency
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                if status in ERRORS:
                    body = json.dumps({"message": None}).encode()
                    self.send_header("x-amzn-ErrorType", ERRORS[status])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _scripted(self, connection_id: str) -> int | None:
                with endpoint._lock:
                    endpoint.requests += 1
                    if connection_id in endpoint.always:
                        return endpoint.always[connection_id]
                    pending = endpoint.script.get(connection_id)
                    if pending:
                        return pending.pop(0)
                    if connection_id not in endpoint.open:
                        return 410
                return None

            def _connection_id(self) -> str:
                return self.path.rsplit("/@connections/", 1)[-1]

            def do_POST(self):  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if endpoint.latency:
                    time.sleep(endpoint.latency)
                connection_id = self._connection_id()
                status = self._scripted(connection_id)
                if status is not None:
                    return self._answer(status)
                with endpoint._lock:
                    endpoint.received.setdefault(connection_id, []).append(json.loads(data))
                self._answer(200)

            def do_GET(self):  # noqa: N802 - GetConnection, which `wsctl connections purge-stale` probes with
                connection_id = self._connection_id()
                status = self._scripted(connection_id)
                if status is not None:
                    return self._answer(status)
                self._answer(200, json.dumps({"connectedAt": "2026-11-25T17:00:00Z", "lastActiveAt": "2026-11-25T17:05:00Z",
                                              "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest"}}).encode())

            def do_DELETE(self):  # noqa: N802
                connection_id = self._connection_id()
                status = self._scripted(connection_id)
                if status is not None:
                    return self._answer(status)
                with endpoint._lock:
                    endpoint.open.discard(connection_id)
                    endpoint.closed.append(connection_id)
                self._answer(204)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{STAGE}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ConnectionsEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
