"""A scriptable @connections management API on 127.0.0.1, answering the way API Gateway does
(410 GoneException, 429 LimitExceededException, 500 InternalServerError), so the real boto3 client,
ApiGatewayNotifier and ManagementApiNotifier are exercised end to end.

Given ``credentials`` (access key -> (secret, session token)), it checks every request's SigV4
signature with botocore, as API Gateway would, and answers 403 InvalidSignatureException when it
does not verify. A scripted status of ``DROP`` closes the connection without an answer.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

ERRORS = {410: "GoneException", 429: "LimitExceededException", 500: "InternalServerError",
          403: "ForbiddenException"}
STAGE = "test"
DROP = -1
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def signature_verifies(method: str, path: str, headers, body: bytes,
                       credentials: dict[str, tuple[str, str | None]]) -> str | None:
    """The access key that signed the request, None when the signature does not verify."""
    match = _AUTHORIZATION.match(headers.get("Authorization", ""))
    if match is None:
        return None
    access_key, _day, region, service, signed, signature = match.groups()
    if access_key not in credentials or service != "execute-api":
        return None
    secret, token = credentials[access_key]
    if token is not None and headers.get("X-Amz-Security-Token") != token:
        return None
    signed_headers = {name: headers.get(name, "") for name in signed.split(";")}
    request = AWSRequest(method=method, url=f"http://{signed_headers.get('host', '')}{path}", data=body,
                         headers=signed_headers)
    request.context["timestamp"] = signed_headers.get("x-amz-date", "")
    signer = SigV4Auth(ReadOnlyCredentials(access_key, secret, token), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return access_key if hmac.compare_digest(expected, signature) else None


class ConnectionsEndpoint:
    def __init__(self, latency: float = 0.0, credentials: dict[str, tuple[str, str | None]] | None = None) -> None:
        self.open: set[str] = set()
        #: per connection id, statuses answered (in order) before the normal answer
        self.script: dict[str, list[int]] = {}
        #: per connection id, a status answered every time
        self.always: dict[str, int] = {}
        self.received: dict[str, list[dict]] = {}
        self.closed: list[str] = []
        self.requests = 0
        self.latency = latency
        #: per connection id, seconds to wait before answering
        self.delays: dict[str, float] = {}
        self.credentials = credentials
        #: access key of every request that verified, in order (only with ``credentials``)
        self.signed_by: list[str] = []
        #: TCP connections accepted (keep-alive reuse shows as fewer connections than requests)
        self.tcp_connections = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with endpoint._lock:
                    endpoint.tcp_connections += 1

            def log_message(self, *args):
                pass

            def _signed(self, body: bytes) -> bool:
                if endpoint.credentials is None:
                    return True
                signer = signature_verifies(self.command, self.path, self.headers, body, endpoint.credentials)
                if signer is None:
                    return False
                with endpoint._lock:
                    endpoint.signed_by.append(signer)
                return True

            def _answer(self, status: int, body: bytes = b"") -> None:
                if status == DROP:
                    self.close_connection = True
                    return
                self.send_response(status)
                if status in ERRORS:
                    body = json.dumps({"message": None}).encode()
                    self.send_header("x-amzn-ErrorType", ERRORS[status])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _scripted(self, connection_id: str, body: bytes = b"") -> int | None:
                if endpoint.delays.get(connection_id):
                    time.sleep(endpoint.delays[connection_id])
                if not self._signed(body):
                    return 403
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
                return unquote(self.path.rsplit("/@connections/", 1)[-1])

            def do_POST(self):  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if endpoint.latency:
                    time.sleep(endpoint.latency)
                connection_id = self._connection_id()
                status = self._scripted(connection_id, data)
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
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
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
