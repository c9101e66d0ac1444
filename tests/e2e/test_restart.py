"""End-to-end: the local stack keeps what the developer did across a clean stop and start, and
survives its emulator dying (wsctl/local/lifecycle.py, docs/local.md "Stopping and starting again").

These tests stop and start a stack, so they run their own (``.local/e2e-restart``), not the
session's ``local_stack``. Its first run is a cold start (~2 min); later runs start warm.

Negative controls, run while writing them:
* without the snapshot on stop (``save_on_stop`` returning False) the restarted stack refuses
  ``wsctl broadcast --user <name>`` ("no local user") and the resume answers ``recovered: false``;
* without the drain (``stop_in_order`` skipping it) the broadcasts enqueued just before the stop do
  not reach the open tab before its 1001 close;
* without the supervisor (``Supervisor.run`` returning at once) connects answer 500 after the kill.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import websockets

from tests.e2e.conftest import REPO_ROOT, WSCTL, LocalStack, _ports, _tool_env, _wait_ready
from tests.e2e.support import (
    PING,
    connection_ids,
    enqueue_broadcast,
    open_ws,
    receive_json,
    unique_user,
    wait_until,
)
from wsctl.local.up import free_port

pytestmark = pytest.mark.e2e

LOCAL_DIR = REPO_ROOT / ".local" / "e2e-restart"


class RestartableStack:
    """One ``wsctl local up`` in its own state directory, which the test stops and starts."""

    def __init__(self, local_dir: Path):
        self.local_dir = local_dir
        self.env = _tool_env(local_dir)
        self.process: subprocess.Popen | None = None
        self.stack: LocalStack | None = None
        self.timings: dict[str, float] = {}

    @property
    def log_path(self) -> Path:
        return self.local_dir / "local-up.log"

    def start(self, label: str) -> LocalStack:
        gateway_port, aws_port = _ports(self.local_dir)
        started = time.monotonic()
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([*WSCTL, "local", "up", "--port", str(gateway_port), "--aws-port",
                                             str(aws_port), "--dashboard-port", str(free_port())],
                                            cwd=REPO_ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
        endpoints = _wait_ready(self.process, self.log_path)
        outputs = json.loads((self.local_dir / "outputs.json").read_text())
        self.timings[label] = round(time.monotonic() - started, 1)
        self.stack = LocalStack(endpoints=endpoints, outputs=outputs, local_dir=self.local_dir, env=self.env,
                                startup_seconds=self.timings[label])
        return self.stack

    def stop(self, label: str) -> subprocess.CompletedProcess:
        """``wsctl local down`` (SIGTERM): drain, close, snapshot, exit."""
        started = time.monotonic()
        down = subprocess.Popen([*WSCTL, "local", "down"], cwd=REPO_ROOT, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert self.process is not None
        self.process.wait(timeout=60)
        stdout, stderr = down.communicate(timeout=30)
        self.timings[label] = round(time.monotonic() - started, 1)
        return subprocess.CompletedProcess(down.args, down.returncode, stdout, stderr)

    def pid_file(self) -> dict:
        return json.loads((self.local_dir / "local-up.pid").read_text())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def restartable():
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(LOCAL_DIR / ".session.lock", "w")  # noqa: SIM115 - held for the module
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pytest.fail(f"{LOCAL_DIR} is in use by another pytest session")
    (LOCAL_DIR / "local-up.log").write_text("")
    controller = RestartableStack(LOCAL_DIR)
    controller.start("first start")
    try:
        yield controller
    finally:
        controller.close()
        print(f"\nrestart e2e timings (s): {controller.timings}")
        lock.close()


def resume_frame(positions: dict) -> str:
    return json.dumps({"type": "resume", "version": "2.0", "id": "resume-restart", "data": {"positions": positions}})


async def resume_and_assert_recovered(ws, positions: dict, expected_ids: list[str]) -> None:
    """The 2.0 ``resume`` from the tab's positions (docs/messages.md): exactly the missed notifications
    are replayed in offset order, then ``resumed`` says ``recovered: true`` with the head after them.
    (One place to adapt when the resume protocol changes.)"""
    await ws.send(resume_frame(positions))
    replayed = []
    while True:
        frame = await receive_json(ws, timeout=10)
        if frame["type"] == "resumed":
            break
        assert frame["type"] == "notification", frame
        replayed.append(frame["id"])
    assert replayed == expected_ids
    assert frame["data"]["recovered"] is True and frame["data"]["replayed"] == len(expected_ids), frame
    user = positions["user"]
    assert frame["data"]["heads"]["user"] == {"epoch": user["epoch"], "offset": user["offset"] + len(expected_ids)}


def position_of(frame: dict) -> dict:
    """What a tab remembers of the last notification it saw: its stream's epoch and offset (2.0)."""
    data = frame["data"]
    return {data["stream"]: {"epoch": data["epoch"], "offset": data["offset"]}}


def broadcast_ids(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.split("enqueued broadcast ", 1)[1].split(" ", 1)[0]


def test_a_signed_in_user_resumes_after_a_stop_and_start(restartable):
    stack = restartable.stack
    user = unique_user("restart")
    token = stack.token(user)  # signs the user up and in (the local pool)

    def broadcast(title: str) -> subprocess.CompletedProcess:
        return stack.wsctl("broadcast", "--env", "local", "--user", user, "--kind", "set.created", "--title", title)

    async def before_the_stop():
        # GIVEN a tab that saw the first of three notifications, then lost its network
        ws = await open_ws(stack.ws_url, token)
        first = broadcast_ids(broadcast("before the stop 0"))
        frame = await receive_json(ws, timeout=10)
        assert frame["id"] == first
        ws.transport.abort()
        missed = [broadcast_ids(broadcast(f"before the stop {n}")) for n in (1, 2)]
        return position_of(frame), missed

    position, missed = asyncio.run(before_the_stop())
    # stored in the user's notification log before the stop begins
    assert wait_until(lambda: len(stack.wsctl("notifications", "list", "--env", "local", "--json", "--user",
                                              stack.user_id(user)).stdout.strip().splitlines()) >= 3, timeout=10)
    # WHEN the stack stops (wsctl local down) and starts again
    stopped = restartable.stop("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "saved the emulator for the next start" in restartable.log_text()
    stack = restartable.start("warm start after stop")
    assert "warm start" in restartable.log_text().rsplit("stopped in", 1)[1]

    async def after_the_start():
        async with await open_ws(stack.ws_url, token) as ws:  # the tab reconnects with its old token
            # THEN it resumes from its position: the two it missed are replayed, recovered: true
            await resume_and_assert_recovered(ws, position, missed)
            # AND the user is still known by name: wsctl broadcast --user <name> reaches the tab
            result = broadcast("after the start")
            frame = await receive_json(ws, timeout=10)
            assert frame["id"] == broadcast_ids(result)

    asyncio.run(after_the_start())
    # AND the row of the socket that was lost before the stop (its $disconnect never ran: delayed 120 s
    # in these tests) is cleaned as in AWS: the broadcast's post to it is Gone, which deletes it
    assert wait_until(lambda: len(connection_ids(stack, stack.user_id(user))) == 1, timeout=10)


def test_broadcasts_queued_when_the_stop_begins_reach_the_open_tab_first(restartable):
    stack = restartable.stack
    user = unique_user("drain")
    token = stack.token(user)

    async def scenario():
        ws = await open_ws(stack.ws_url, token)
        # GIVEN five broadcasts still in the queue when the stop begins (delayed 3 s, so the gateway's
        # poller cannot have taken them before)
        queued = [enqueue_broadcast(stack, {"userIds": [stack.user_id(user)]}, title=f"queued {n}", delay_seconds=3)
                  for n in range(5)]
        stopping = asyncio.create_task(asyncio.to_thread(restartable.stop, "stop with 5 queued"))
        received = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                received.append((await receive_json(ws, timeout=20))["id"])
        await stopping
        return queued, received, closed.value.rcvd.code if closed.value.rcvd else None

    queued, received, close_code = asyncio.run(scenario())
    assert close_code == 1001  # Going away: the tab reconnects by itself
    assert "drained 5 queued broadcasts" in restartable.log_text()
    # THEN all five arrived before the gateway closed the connection (none dropped, none left over)
    assert sorted(received) == sorted(queued)
    restartable.start("warm start")


def test_a_killed_emulator_is_restored_and_the_stack_works_again(restartable):
    stack = restartable.stack
    user = unique_user("kill")
    token = stack.token(user)

    async def open_tab():
        ws = await open_ws(stack.ws_url, token)
        await ws.send(PING)
        assert (await receive_json(ws))["type"] == "pong"
        return ws

    async def scenario():
        ws = await open_tab()
        emulator_pid = restartable.pid_file()["emulator_pid"]
        # WHEN the moto process dies
        os.kill(emulator_pid, signal.SIGKILL)
        killed = time.monotonic()
        # THEN the open tab is told to reconnect (1001) once the emulator is back
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await receive_json(ws, timeout=30)
        # AND a new connect and a broadcast to it work again
        while True:
            try:
                ws = await open_ws(stack.ws_url, token)
                break
            except (websockets.InvalidStatus, OSError):
                assert time.monotonic() - killed < 30, "no connect within 30 s of the kill"
                await asyncio.sleep(0.2)
        sent = enqueue_broadcast(stack, {"userIds": [stack.user_id(user)]}, title="after the kill")
        frame = await receive_json(ws, timeout=10)
        recovered_in = round(time.monotonic() - killed, 1)
        await ws.close()
        return closed.value.rcvd.code if closed.value.rcvd else None, frame, sent, recovered_in, emulator_pid

    close_code, frame, sent, recovered_in, old_pid = asyncio.run(scenario())
    restartable.timings["kill to connect+broadcast"] = recovered_in
    assert close_code == 1001
    assert frame["id"] == sent
    assert recovered_in < 20
    # one log line says what happened, and the pid file names the new emulator
    restored = [line for line in restartable.log_text().splitlines() if "restored from its last snapshot" in line]
    assert len(restored) == 1 and "killed by signal 9" in restored[0], restored
    assert wait_until(lambda: restartable.pid_file()["emulator_pid"] not in (None, old_pid), timeout=5)
