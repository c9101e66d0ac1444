"""The demo dashboard of ``wsctl local up`` (docs/web.md): the @moc-realtime/client React components on an
allowed local origin (``http://localhost:5173`` by default), with a local sign-in that gets a token of
the local Cognito pool. Local only: nothing like it exists in a deployed stack (no route, no function,
no credentials), and it listens on 127.0.0.1 only.

Routes: ``GET /`` (the page), its static files from ``clients/dashboard/dist/`` (``make clients``),
``GET /config.json`` (``ws_url``) and ``POST /local/token`` with ``{"user": "<name>"}``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wsctl.errors import WsctlError
from wsctl.local import paths
from wsctl.targets import Target

log = logging.getLogger("wsctl.local.dashboard")

DIST = paths.REPO_ROOT / "clients" / "dashboard" / "dist"
#: Tests shorten the dashboard's tokens (refresh tests); unset, the pool's own 1-hour tokens are used.
TOKEN_LIFETIME_ENV = "REALTIME_LOCAL_TOKEN_LIFETIME_SECONDS"  # noqa: S105 - a variable name, not a secret
LOCAL_HOSTS = ("localhost", "127.0.0.1")
USER_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
MAX_BODY_BYTES = 4096
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".map": "application/json"}


def allowed_local_ports() -> list[int]:
    """Ports of the local env's allowed ``http://localhost:N`` origins, in the file's order (5173, 3000)."""
    from stacks.config import load_env

    ports = []
    for origin in load_env("local", overrides={}).origins.allowed:
        parts = urlsplit(origin)
        if parts.scheme == "http" and parts.hostname == "localhost" and parts.port:
            ports.append(parts.port)
    return ports


def choose_dashboard_port(requested: int | None) -> int:
    """``--dashboard-port`` must be free; otherwise the first free allowed origin's port, else any free
    port (with a warning: the page's origin is then not allowed, so its WebSocket gets 403)."""
    from wsctl.local.up import choose_port, free_port, port_is_free

    if requested is not None:
        return choose_port(requested, requested, "dashboard", "--dashboard-port")
    allowed = allowed_local_ports()
    for port in allowed:
        if port_is_free(port):
            return port
    port = free_port()
    log.warning("ports %s of the allowed origins are busy: the dashboard uses %d, whose origin the local "
                "stack refuses (403); free one or pass --dashboard-port", allowed, port)
    return port


def token_lifetime() -> int | None:
    raw = os.environ.get(TOKEN_LIFETIME_ENV)
    if not raw:
        return None
    if not raw.isdigit() or not 10 <= int(raw) <= 3600:
        raise WsctlError(f"{TOKEN_LIFETIME_ENV} must be whole seconds between 10 and 3600, got {raw!r}")
    return int(raw)


def require_built(dist: Path = DIST) -> None:
    if not (dist / "index.html").is_file():
        raise WsctlError(f"the dashboard is not built ({dist}): run `make clients` (`make local` does)")


class Dashboard:
    def __init__(self, port: int, target: Target, ws_url: str, dist: Path = DIST):
        require_built(dist)
        self.port = port
        self.target = target
        self.ws_url = ws_url
        self.dist = dist
        self.lifetime = token_lifetime()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        handler = type("DashboardHandler", (_Handler,), {"dashboard": self})
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        except OSError as error:
            raise WsctlError(f"the dashboard cannot listen on 127.0.0.1:{self.port}: {error.strerror or error}") from None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def issue(self, user: str) -> dict[str, Any]:
        from wsctl.local.token import issue_short_lived, issue_token

        issued = (issue_token(user, self.target) if self.lifetime is None
                  else issue_short_lived(user, self.lifetime, self.target))
        return {"user": issued.user, "userId": issued.sub, "token": issued.token, "expiresIn": issued.expires_in}


class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
    server_version = "wsctl-dashboard"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # The default logs the request line; keep paths only (no query strings), never bodies or tokens.
        log.debug("%s %s", self.command, urlsplit(self.path).path)

    def _host_allowed(self) -> bool:
        # A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own Host.
        return urlsplit(f"//{self.headers.get('Host', '')}").hostname in LOCAL_HOSTS

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._host_allowed():
            return self._json(HTTPStatus.MISDIRECTED_REQUEST, {"error": "unknown Host"})
        path = urlsplit(self.path).path
        if path == "/config.json":
            return self._json(HTTPStatus.OK, {"ws_url": self.dashboard.ws_url})
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        # Only the built files themselves: no subfolders, no traversal.
        file = self.dashboard.dist / name
        if "/" in name or not name or not file.is_file():
            return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        self._send(HTTPStatus.OK, file.read_bytes(), CONTENT_TYPES.get(file.suffix, "application/octet-stream"))

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if not self._host_allowed():
            return self._json(HTTPStatus.MISDIRECTED_REQUEST, {"error": "unknown Host"})
        if urlsplit(self.path).path != "/local/token":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).hostname not in LOCAL_HOSTS:
            return self._json(HTTPStatus.FORBIDDEN, {"error": "the local sign-in only answers the dashboard's own page"})
        user = self._user()
        if user is None:
            return
        try:
            issued = self.dashboard.issue(user)
        except WsctlError as error:
            return self._json(HTTPStatus.BAD_GATEWAY, {"error": str(error)})
        self._json(HTTPStatus.OK, issued)

    def _user(self) -> str | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY_BYTES:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f'send a JSON body {{"user": "<name>"}} of at most {MAX_BODY_BYTES} bytes'})
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, str) or not USER_RE.match(user.strip()):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "User must be 1-64 letters, digits or . _ @ + -"})
            return None
        return user.strip()
