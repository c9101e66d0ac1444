"""Keep-alive HTTP/1.1 exchanges with one origin over a pool of urllib3 connections.

urllib3 (a botocore dependency, so present in every Lambda Python runtime) opens the connections:
DNS, TCP_NODELAY, timeouts, TLS with certificate and host name verification. What it would add per
request on top — URL re-encoding, header validation, the email-parser response, retry and timeout
objects — costs more CPU than the whole signed request when a broadcast posts thousands of small
frames (bench/RESULTS.md), so the exchange itself is written here: one ``sendall`` of head and
body, then a bounded read of the status line, headers and a Content-Length or chunked body.

Safe to share between threads: a connection is used by one request at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.wait import wait_for_read

#: Limits on what a peer may send back: the @connections API answers with a few hundred bytes.
MAX_LINE_BYTES = 8192
MAX_HEADERS = 100
MAX_BODY_BYTES = 1 << 20
#: An idle connection older than this is closed rather than reused: the peer (or a NAT on the
#: way) may have dropped it silently, and a write into it would only fail after the read timeout.
MAX_IDLE_SECONDS = 60.0
_NO_BODY_STATUSES = frozenset({204, 304})
URLLIB3_1 = urllib3.__version__.startswith("1.")


class HttpError(Exception):
    """The exchange failed below HTTP: connect, TLS, timeout, reset or a malformed response."""


class _NoResponse(HttpError):
    """The peer closed the connection before sending a byte of the response."""


@dataclass(frozen=True)
class Response:
    status: int
    #: Header names in lower case; a repeated header keeps its last value.
    headers: Mapping[str, str]
    body: bytes


def host_header(url: str) -> str:
    """The Host value for ``url``: its host, plus the port unless it is the scheme's default
    (what botocore signs, so the signed and the sent Host always agree)."""
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ValueError(f"no host in {url!r}")
    default_port = 443 if parts.scheme == "https" else 80
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if parts.port in (None, default_port) else f"{host}:{parts.port}"


class _Connection:
    def __init__(self, connection: HTTPConnection, read_timeout: float):
        self.connection = connection
        connection.connect()
        self.sock = connection.sock
        self.sock.settimeout(read_timeout)
        self.reader = self.sock.makefile("rb")
        self.idle_since = time.monotonic()

    def usable(self, now: float) -> bool:
        # Readable while idle means the peer closed it (or sent something unasked): either way it is done.
        return now - self.idle_since < MAX_IDLE_SECONDS and not wait_for_read(self.sock, timeout=0.0)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.connection.close()


class KeepAlivePool:
    """Requests to the origin of ``base_url`` (scheme, host, port); idle connections are reused."""

    def __init__(self, base_url: str, *, max_idle: int = 10, connect_timeout: float = 2.0,
                 read_timeout: float = 5.0, ca_certs: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = parts.scheme
        self.host = host_header(base_url)
        self._hostname = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._max_idle = max(1, max_idle)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._ca_certs = ca_certs
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def _new(self) -> _Connection:
        if self.scheme == "https" and URLLIB3_1:
            # urllib3 1.26 (which a Lambda runtime's botocore may bring) takes them through set_cert().
            connection: HTTPConnection = HTTPSConnection(self._hostname, self._port, timeout=self._connect_timeout)
            connection.set_cert(cert_reqs="CERT_REQUIRED", ca_certs=self._ca_certs)
        elif self.scheme == "https":
            connection = HTTPSConnection(self._hostname, self._port, timeout=self._connect_timeout,
                                         cert_reqs="CERT_REQUIRED", ca_certs=self._ca_certs)
        else:
            connection = HTTPConnection(self._hostname, self._port, timeout=self._connect_timeout)
        try:
            return _Connection(connection, self._read_timeout)
        except (OSError, ValueError, Urllib3Error) as error:  # refused, DNS, timeout, TLS verification
            connection.close()
            raise HttpError(f"connect to {self.host}: {type(error).__name__}") from None

    def _acquire(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while True:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                return self._new(), False
            if pooled.usable(now):
                return pooled, True
            pooled.close()

    def _release(self, pooled: _Connection) -> None:
        pooled.idle_since = time.monotonic()
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(pooled)
                return
        pooled.close()

    def request(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Response:
        """One exchange. A reused connection the peer had already closed (nothing came back) is
        replaced once by a new one; every other failure raises :class:`HttpError`."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH", "DELETE"):
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines)
        if head.count("\r") != len(lines) - 1 or head.count("\n") != len(lines) - 1 or "\0" in head:
            raise ValueError("CR, LF or NUL in the request line or a header")
        data = (head + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            pooled, reused = self._acquire()
            try:
                response, keep = _exchange(pooled, data, head_only=method == "HEAD")
            except _NoResponse:
                pooled.close()
                if reused and attempt == 1:
                    continue
                raise
            except HttpError:
                pooled.close()
                raise
            except (OSError, ValueError) as error:
                pooled.close()
                reason = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
                raise HttpError(f"{method} {self.host}: {reason}") from None
            if keep:
                self._release(pooled)
            else:
                pooled.close()
            return response
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            pooled.close()


def _exchange(pooled: _Connection, data: bytes, *, head_only: bool) -> tuple[Response, bool]:
    reader = pooled.reader
    try:
        pooled.sock.sendall(data)
        line = reader.readline(MAX_LINE_BYTES + 1)
    except TimeoutError:
        raise
    except OSError:  # reset, broken pipe, TLS EOF: the peer was gone before it answered
        line = b""
    if not line:
        raise _NoResponse("connection closed by the peer before it answered")
    version, status = _status(line)
    headers = _headers(reader)
    while 100 <= status < 200:  # interim responses (100 Continue, 103 Early Hints) precede the real one
        version, status = _status(reader.readline(MAX_LINE_BYTES + 1))
        headers = _headers(reader)
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if head_only or status in _NO_BODY_STATUSES:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _chunked(reader)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise HttpError(f"bad Content-Length {headers['content-length']!r}") from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise HttpError(f"response body of {length} bytes")
        body = _exactly(reader, length)
    else:  # delimited by the end of the connection
        body = reader.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise HttpError("response body too large")
        keep = False
    return Response(status, headers, body), keep


def _status(line: bytes) -> tuple[str, int]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(line) > MAX_LINE_BYTES:
        raise HttpError(f"malformed status line {line[:80]!r}")
    return parts[0].decode("ascii"), int(parts[1])


def _headers(reader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = reader.readline(MAX_LINE_BYTES + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):
            raise HttpError("response headers cut short")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name.strip():
            raise HttpError(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise HttpError(f"more than {MAX_HEADERS} response headers")


def _exactly(reader, length: int) -> bytes:
    body = reader.read(length) if length else b""
    if len(body) != length:
        raise HttpError(f"response body cut short ({len(body)} of {length} bytes)")
    return body


def _chunked(reader) -> bytes:
    chunks = []
    total = 0
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(f"malformed chunk size {line[:40]!r}") from None
        if size == 0:
            _headers(reader)  # trailers, up to the empty line
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise HttpError("response body too large")
        chunks.append(_exactly(reader, size))
        if reader.readline(3) not in (b"\r\n", b"\n"):
            raise HttpError("chunk not followed by CRLF")
