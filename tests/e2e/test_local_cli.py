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
