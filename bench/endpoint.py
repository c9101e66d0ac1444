"""A local API Gateway ``@connections`` endpoint with injected latency (asyncio, its own process).

``POST /<stage>/@connections/<id>`` answers 200 after ``--latency`` seconds; ids starting with
``gone`` answer 410 with ``x-amzn-ErrorType: GoneException`` (what API Gateway returns for a closed
connection), so stale rows can be planted by name. ``GET /__stats`` returns counters (posts, ok,
gone, peak in-flight), ``POST /__reset`` zeroes them. Only 127.0.0.1; the process exits by itself
after ``--max-seconds``.

Run in a separate process so that serving never competes for the benchmark's GIL:
``python -m bench.endpoint --latency 0.02`` prints ``LISTENING <port>`` and serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import urllib.request
from urllib.parse import unquote

from bench.common import REPO_ROOT

GONE_PREFIX = "gone"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.posts = self.ok = self.gone = self.deletes = self.inflight = self.peak_inflight = 0
        self.bytes = 0

    def as_dict(self) -> dict[str, int]:
        return {"posts": self.posts, "ok": self.ok, "gone": self.gone, "deletes": self.deletes,
                "peak_inflight": self.peak_inflight, "bytes": self.bytes}


def _response(status: int, reason: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Content-Type: application/json",
            "x-amzn-RequestId: bench"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float,
                            stats: Stats) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, _version = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await reader.readexactly(length) if length else b""
            path = unquote(target.split("?", 1)[0])
            if path == "/__stats":
                writer.write(_response(200, "OK", json.dumps(stats.as_dict()).encode()))
            elif path == "/__reset":
                stats.reset()
                writer.write(_response(200, "OK", b"{}"))
            elif "/@connections/" in path:
                connection_id = path.rsplit("/@connections/", 1)[1]
                stats.inflight += 1
                stats.peak_inflight = max(stats.peak_inflight, stats.inflight)
                try:
                    if latency:
                        await asyncio.sleep(latency)
                finally:
                    stats.inflight -= 1
                if method == "POST":
                    stats.posts += 1
                    stats.bytes += len(body)
                elif method == "DELETE":
                    stats.deletes += 1
                if connection_id.startswith(GONE_PREFIX):
                    stats.gone += 1
                    writer.write(_response(410, "Gone", b'{"message":null}', {"x-amzn-ErrorType": "GoneException"}))
                else:
                    stats.ok += 1
                    writer.write(_response(200 if method != "DELETE" else 204, "OK"))
            else:
                writer.write(_response(404, "Not Found", b'{"message":"Not Found"}'))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _main(port: int, latency: float, max_seconds: float) -> None:
    stats = Stats()
    server = await asyncio.start_server(lambda r, w: _serve_connection(r, w, latency, stats), "127.0.0.1", port,
                                        backlog=4096)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.serve_forever(), timeout=max_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every @connections call")
    parser.add_argument("--max-seconds", type=float, default=1800, help="exit by itself after this long")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.port, args.latency, args.max_seconds))
    return 0


class Endpoint:
    """Starts the endpoint in a child process; ``url(stage)`` is the management API base URL."""

    def __init__(self, latency: float, max_seconds: float = 1800):
        self.latency = latency
        self.max_seconds = max_seconds
        self.process: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> Endpoint:
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "bench.endpoint", "--latency", str(self.latency), "--max-seconds",
             str(self.max_seconds)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("LISTENING "):
            self.__exit__()
            raise RuntimeError(f"endpoint did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            if self.process.stdout:
                self.process.stdout.close()
            self.process = None

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def url(self, stage: str = "bench") -> str:
        return f"http://127.0.0.1:{self.port}/{stage}"

    def _call(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - 127.0.0.1
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("/__stats")

    def reset(self) -> None:
        self._call("/__reset", "POST")


if __name__ == "__main__":
    raise SystemExit(main())
