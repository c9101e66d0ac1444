"""`wsctl local …` failures are one clear line and a non-zero exit (no stack needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_wsctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, REALTIME_LOCAL_DIR=str(tmp_path / "local"))
    return subprocess.run([sys.executable, "-m", "wsctl.cli", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_local_up_on_a_busy_port_fails_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_wsctl(tmp_path, "local", "up", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"port {port}" in result.stderr and "busy" in result.stderr
    assert not (tmp_path / "local" / "local-up.pid").exists()


def test_local_down_and_token_without_a_running_stack_fail_in_one_line(tmp_path):
    for args in (("local", "down"), ("local", "token", "--user", "alice"),
                 ("broadcast", "--env", "local", "--all", "--kind", "set.created", "--title", "x")):
        result = run_wsctl(tmp_path, *args)
        assert result.returncode == 1, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "nothing running" in result.stderr


class SlowGateway:
    """Stands in for the gateway: listens only after a while, like one whose workers take time."""

    def __init__(self, port: int, fail: bool = False):
        self.settings = type("Settings", (), {"port": port})()
        self.fail, self.server = fail, None

    async def start(self) -> None:
        import asyncio

        await asyncio.sleep(0.5)
        if self.fail:
            raise OSError(98, "Address already in use")
        self.server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1",
                                                 self.settings.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_endpoints_file_appears_only_once_the_gateway_accepts_connections(tmp_path, monkeypatch, capsys):
    import asyncio
    import json
    import threading
    import time

    from wsctl.local import paths, stack, up

    monkeypatch.setattr(paths, "ENDPOINTS_FILE", tmp_path / "endpoints.json")
    monkeypatch.setattr(paths, "PID_FILE", tmp_path / "local-up.pid")
    port = up.free_port()
    endpoints = {"ws_url": f"ws://127.0.0.1:{port}/local", "aws_endpoint": "http://127.0.0.1:4566"}
    seen: dict = {}

    def wait_for_the_file_then_connect():
        # GIVEN a tool that polls for endpoints.json and connects the moment it exists
        deadline = time.monotonic() + 10
        while not paths.ENDPOINTS_FILE.exists():
            assert time.monotonic() < deadline, "endpoints.json never appeared"
            time.sleep(0.001)
        seen["document"] = json.loads(paths.ENDPOINTS_FILE.read_text())  # complete at first sight
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            seen["connected"] = True
        except OSError as error:
            seen["connected"] = error

    async def scenario():
        gateway = SlowGateway(port)
        watcher = threading.Thread(target=wait_for_the_file_then_connect)
        watcher.start()
        try:
            await up.open_gateway(gateway, endpoints, stack.Phases(), "warm")
            await asyncio.to_thread(watcher.join, 15)
        finally:
            await gateway.stop()

    # WHEN the gateway opens THEN the tool's first connection succeeds and READY follows the file
    asyncio.run(scenario())
    assert seen == {"document": endpoints, "connected": True}
    assert capsys.readouterr().out == "READY " + json.dumps(endpoints) + "\n"
    assert json.loads(paths.PID_FILE.read_text())["state"] == "ready"


def test_a_gateway_that_cannot_listen_writes_no_endpoints_file(tmp_path, monkeypatch):
    import asyncio

    import pytest

    from wsctl.errors import WsctlError
    from wsctl.local import paths, stack, up

    monkeypatch.setattr(paths, "ENDPOINTS_FILE", tmp_path / "endpoints.json")
    monkeypatch.setattr(paths, "PID_FILE", tmp_path / "local-up.pid")
    with pytest.raises(WsctlError, match=r"^the gateway cannot listen on 127\.0\.0\.1:\d+: Address already in use$"):
        asyncio.run(up.open_gateway(SlowGateway(up.free_port(), fail=True), {"aws_endpoint": "http://127.0.0.1:1"},
                                    stack.Phases(), "cold"))
    assert not paths.ENDPOINTS_FILE.exists() and not paths.PID_FILE.exists()
