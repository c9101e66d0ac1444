"""The local stack, started ONCE per pytest session for every test marked ``e2e``.

``local_stack`` (session fixture) runs ``wsctl local up`` exactly as ``make local`` does, but in its
own state directory (``.local/e2e/``, through ``REALTIME_LOCAL_DIR``) so it never collides with a
developer's running ``make local``; concurrent pytest sessions each lock their own slot
(``.local/e2e``, ``.local/e2e-1``, …), and each slot keeps its snapshot for warm starts; on free ports (or the ports of its previous snapshot when they
are free, which keeps the warm start), with the schedules and timeouts shortened for tests. It is
torn down (SIGTERM, like Ctrl-C) at the end of the session.

The object it returns (:class:`LocalStack`) offers:

* ``endpoints`` — the ``READY`` document (``ws_url``, ``connections_url``, ``region``,
  ``user_pool_id``, ``client_id``, ``jwks_url``, ``aws_endpoint``, ``dashboard_url``: the demo
  dashboard, on a free port here — the browser tests show it at the allowed origin
  ``http://localhost:5173`` through Playwright routing, see tests/e2e/web/conftest.py);
* ``outputs`` — the flattened terraform outputs (``.local/e2e/outputs.json``);
* ``local_dir`` — the state directory of this stack (what ``.local`` is for ``make local``);
* ``env`` — environment for subprocesses: ``wsctl … --env local`` run with it targets this stack;
* ``token(user)`` / ``user_id(user)`` — a real Cognito IdToken from the local pool (user created on
  first use) / the user's ``sub`` (the ``userId`` broadcasts target);
* ``mint_token(user, lifetime_seconds, issued_at=None)`` — a token signed with the emulator's key
  but with a chosen lifetime (expiry tests; the pool itself always issues 1-hour tokens);
* ``client(service)`` — a boto3 client on the emulator; ``management_api()`` — boto3's
  ``apigatewaymanagementapi`` client on the gateway's @connections endpoint;
* ``wsctl(*args)`` — run the CLI against this stack, returns ``CompletedProcess``;
* ``faults_file`` — the file the gateway's fault switch reads (``REALTIME_LOCAL_FAULTS``): write rules
  into it to make @connections posts fail, delete it to stop (tests/e2e/test_delivery_faults.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wsctl.local.token import mint_token, sign_like_the_emulator
from wsctl.local.up import free_port, port_is_free

__all__ = ["LocalStack", "local_stack", "sign_like_the_emulator"]  # the helper lives in wsctl.local.token

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_SLOTS = [REPO_ROOT / ".local" / ("e2e" if n == 0 else f"e2e-{n}") for n in range(6)]
WSCTL = [sys.executable, "-m", "wsctl.cli"]
#: What the gateway and the functions get shortened in this session (documented in docs/local.md).
TEST_SETTINGS = {
    "REALTIME_LOCAL_SCHEDULE_INTERVAL_SECONDS": "2",
    "REALTIME_LOCAL_ABRUPT_DISCONNECT_DELAY_SECONDS": "120",
    "REALTIME_LOCAL_WIRING_POLL_SECONDS": "0.5",
    # The dashboard's sign-in hands out 30-s tokens, so browser tests see refreshes (tests/e2e/web).
    "REALTIME_LOCAL_TOKEN_LIFETIME_SECONDS": "30",
}
READY_TIMEOUT_SECONDS = 420


def _lock_slot():
    """The first e2e state directory no other pytest session holds (the lock lives as long as the file)."""
    import fcntl

    for slot in E2E_SLOTS:
        slot.mkdir(parents=True, exist_ok=True)
        handle = open(slot / ".session.lock", "w")  # noqa: SIM115 - held for the whole session
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        if _running_pid(slot):  # a stack started by something that does not take the lock
            handle.close()
            continue
        return slot, handle
    pytest.fail(f"all {len(E2E_SLOTS)} e2e slots under .local/ are in use by other pytest sessions")


def _running_pid(local_dir: Path) -> int | None:
    try:
        pid = json.loads((local_dir / "local-up.pid").read_text())["pid"]
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid


def _ports(local_dir: Path) -> tuple[int, int]:
    try:
        meta = json.loads((local_dir / "moto-snapshot.json").read_text())
    except (OSError, ValueError):
        meta = {}
    gateway, aws = meta.get("gateway_port"), meta.get("aws_port")
    if isinstance(gateway, int) and isinstance(aws, int) and port_is_free(gateway) and port_is_free(aws):
        return gateway, aws
    return free_port(), free_port()


@dataclass
class LocalStack:
    endpoints: dict[str, Any]
    outputs: dict[str, Any]
    local_dir: Path
    env: dict[str, str]
    startup_seconds: float
    _users: dict[str, Any] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.endpoints["ws_url"]

    @property
    def connections_endpoint(self) -> str:
        return self.outputs["connections_endpoint"]

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoints["aws_endpoint"], region_name=self.endpoints["region"],
                            aws_access_key_id="test", aws_secret_access_key="test")

    def management_api(self):
        import boto3

        return boto3.client("apigatewaymanagementapi", endpoint_url=self.connections_endpoint,
                            region_name=self.endpoints["region"], aws_access_key_id="test",
                            aws_secret_access_key="test")

    @property
    def target(self):
        from wsctl.targets import Target

        return Target(env="local", region=self.endpoints["region"], outputs=self.outputs,
                      aws_endpoint=self.endpoints["aws_endpoint"])

    def _issued(self, user: str):
        from wsctl.local.token import issue_token

        if user not in self._users:
            self._users[user] = issue_token(user, self.target)
        return self._users[user]

    def token(self, user: str) -> str:
        return self._issued(user).token

    def user_id(self, user: str) -> str:
        return self._issued(user).sub

    def mint_token(self, user: str, lifetime_seconds: int, issued_at: int | None = None) -> str:
        """An IdToken like the pool's, signed with the emulator's (public, moto-bundled) key."""
        return mint_token(self.target, user, self.user_id(user), lifetime_seconds, issued_at)

    @property
    def faults_file(self) -> Path:
        return Path(self.env["REALTIME_LOCAL_FAULTS"])

    def wsctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*WSCTL, *args], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _tool_env(local_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(REPO_ROOT / ".cache" / "jsii"))
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    env.setdefault("TF_CLI_CONFIG_FILE", str(REPO_ROOT / ".tfcli" / "terraform.rc"))
    env["PATH"] = os.pathsep.join([str(REPO_ROOT / ".venv" / "bin"), str(REPO_ROOT / "node_modules" / ".bin"),
                                   env.get("PATH", "")])
    env["REALTIME_LOCAL_DIR"] = str(local_dir)
    env.update(TEST_SETTINGS)
    # The gateway's fault switch reads this file whenever it changes; absent = no faults (docs/local.md,
    # "Fault injection (tests only)"). A stale file from an interrupted session must not fault this one.
    (local_dir / "faults.json").unlink(missing_ok=True)
    env["REALTIME_LOCAL_FAULTS"] = str(local_dir / "faults.json")
    return env


@pytest.fixture(scope="session")
def local_stack() -> LocalStack:
    local_dir, lock = _lock_slot()
    env = _tool_env(local_dir)
    gateway_port, aws_port = _ports(local_dir)
    log_path = local_dir / "local-up.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen([*WSCTL, "local", "up", "--port", str(gateway_port), "--aws-port", str(aws_port),
                                    "--dashboard-port", str(free_port())],
                                   cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        endpoints = _wait_ready(process, log_path)
        outputs = json.loads((local_dir / "outputs.json").read_text())
        stack = LocalStack(endpoints=endpoints, outputs=outputs, local_dir=local_dir, env=env,
                           startup_seconds=round(time.monotonic() - started, 1))
        print(f"\nlocal stack READY in {stack.startup_seconds} s (log: {log_path})")
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        lock.close()


def _wait_ready(process: subprocess.Popen, log_path: Path) -> dict[str, Any]:
    import selectors

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=1):
                if process.poll() is not None:
                    break
                continue
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                return json.loads(line[len("READY "):])
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    pytest.fail("wsctl local up did not print READY:\n" + "\n".join(tail))
