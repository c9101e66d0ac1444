"""End-to-end: @connections posts that fail to a live connection (ADR 0019), through the local stack.

The gateway's fault switch (``REALTIME_LOCAL_FAULTS``, docs/local.md "Fault injection (tests only)";
the session points it at ``local_stack.faults_file``) makes posts to one tab of a user answer 500 or
time out; a second tab of the same user is the control. The broadcast function's own log
(``<state dir>/logs/realtime-local-broadcast.log``: ``broadcast done`` with ``{sent, gone, failed,
retried}``, ``delivery failed`` per connection, the EMF metrics) says what it did.

* 500 twice, or one timeout (held past the notifier's 5 s read timeout) → the retries deliver it, once.
* 500 on every attempt → the connection is given up after ``max_unavailable_attempts`` (3), counted in
  ``DeliveryFailures`` and logged with its connection id (never the payload); the tab stays connected
  and the notification stays stored, for the tab's gap detection — which needs protocol 2.0's pong heads:
  tests/e2e/test_delivery_gap_detection.py (runs after branch i17a is merged).
* The broadcast worker killed mid fan-out → the requests it never started are processed at once (batch
  size 1) and the one it started comes back after the visibility timeout (360 s); opt-in because of that
  wait: ``REALTIME_E2E_CRASH_ROUNDS=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.support import (
    connection_ids,
    enqueue_broadcast,
    open_ws,
    receive_json,
    unique_user,
    wait_until,
)

pytestmark = pytest.mark.e2e

BROADCAST_FUNCTION = "realtime-local-broadcast"
#: RetryPolicy().max_unavailable_attempts (lambda_src/realtime/services/fan_out.py).
UNAVAILABLE_ATTEMPTS = 3


def broadcast_log(stack) -> list[dict]:
    path = Path(stack.local_dir) / "logs" / f"{BROADCAST_FUNCTION}.log"
    lines = []
    for raw in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            document = json.loads(raw)
        except ValueError:
            continue
        if isinstance(document, dict):
            lines.append(document)
    return lines


def broadcast_done(stack, request_id: str) -> dict | None:
    return next((line for line in broadcast_log(stack)
                 if line.get("message") == "broadcast done" and line.get("requestId") == request_id), None)


def metric_total(stack, name: str, since: int) -> float:
    return sum(line.get(name, 0) for line in broadcast_log(stack)[since:] if "_aws" in line)


def set_faults(stack, rules: list[dict] | None) -> None:
    if rules is None:
        stack.faults_file.unlink(missing_ok=True)
    else:
        stack.faults_file.write_text(json.dumps(rules))


async def two_tabs(stack, user: str):
    """Two open tabs of ``user``, and their connection ids (tab A first)."""
    tab_a = await open_ws(stack.ws_url, stack.token(user))
    before = set(connection_ids(stack, stack.user_id(user)))
    tab_b = await open_ws(stack.ws_url, stack.token(user))
    assert wait_until(lambda: len(connection_ids(stack, stack.user_id(user))) == len(before) + 1, 5)
    [id_b] = set(connection_ids(stack, stack.user_id(user))) - before
    [id_a] = before
    return tab_a, tab_b, id_a, id_b


async def nothing_more(ws, seconds: float) -> bool:
    try:
        frame = await receive_json(ws, timeout=seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {frame}")


@pytest.mark.parametrize("fault, count, expected_retries", [("500", 2, 2), ("timeout", 1, 1)])
def test_a_post_failing_to_a_live_connection_is_retried_and_delivered_once(local_stack, fault, count,
                                                                           expected_retries):
    user = unique_user(f"retry-{fault}")
    since = len(broadcast_log(local_stack))

    async def scenario():
        tab_a, tab_b, id_a, _ = await two_tabs(local_stack, user)
        try:
            # GIVEN posts to tab A failing `count` times
            set_faults(local_stack, [{"fault": fault, "connections": [id_a], "count": count}])
            # WHEN a notification is broadcast to the user
            started = time.monotonic()
            request_id = enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title="retried")
            # THEN both tabs get it, exactly once
            frame_b = await receive_json(tab_b, timeout=15)
            frame_a = await receive_json(tab_a, timeout=20)
            elapsed = time.monotonic() - started
            assert await nothing_more(tab_a, 1.0) and await nothing_more(tab_b, 0.1)
            return request_id, frame_a, frame_b, elapsed
        finally:
            set_faults(local_stack, None)
            await tab_a.close()
            await tab_b.close()

    request_id, frame_a, frame_b, elapsed = asyncio.run(scenario())
    assert frame_a["id"] == frame_b["id"] == request_id
    assert wait_until(lambda: broadcast_done(local_stack, request_id) is not None, 10)
    done = broadcast_done(local_stack, request_id)
    # AND the broadcast function says it retried and nothing failed
    assert (done["sent"], done["failed"], done["retried"]) == (2, 0, expected_retries), done
    assert metric_total(local_stack, "DeliveryRetried", since) >= expected_retries
    assert metric_total(local_stack, "DeliveryRecovered", since) >= 1
    print(f"\n{fault} x{count}: delivered to the faulted tab {elapsed:.1f} s after the enqueue, "
          f"{done['retried']} retries")


def test_a_post_that_fails_every_retry_is_counted_logged_and_left_to_the_tab(local_stack):
    user = unique_user("retry-exhausted")
    since = len(broadcast_log(local_stack))

    async def scenario():
        tab_a, tab_b, id_a, id_b = await two_tabs(local_stack, user)
        try:
            # GIVEN posts to tab A answering 500 more often than the fan-out tries
            set_faults(local_stack, [{"fault": "500", "connections": [id_a], "count": 20}])
            request_id = enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]},
                                           title="never-delivered-title")
            frame_b = await receive_json(tab_b, timeout=15)
            # THEN tab A gets nothing, and stays connected (a ping is still answered)
            assert await nothing_more(tab_a, 3.0)
            set_faults(local_stack, None)
            await tab_a.send(json.dumps({"type": "ping", "version": "1.0", "id": "still-here"}))
            pong = await receive_json(tab_a, timeout=5)
            return request_id, frame_b, pong, id_a
        finally:
            set_faults(local_stack, None)
            await tab_a.close()
            await tab_b.close()

    request_id, frame_b, pong, id_a = asyncio.run(scenario())
    assert frame_b["id"] == request_id and pong["type"] == "pong"
    assert wait_until(lambda: broadcast_done(local_stack, request_id) is not None, 10)
    done = broadcast_done(local_stack, request_id)
    # AND the function tried it max_unavailable_attempts times, counted it failed, logged the connection id
    assert (done["sent"], done["failed"], done["retried"]) == (1, 1, UNAVAILABLE_ATTEMPTS - 1), done
    failures = [line for line in broadcast_log(local_stack)[since:] if line.get("message") == "delivery failed"]
    assert [(line["connectionId"], line["attempts"]) for line in failures] == [(id_a, UNAVAILABLE_ATTEMPTS)]
    assert metric_total(local_stack, "DeliveryFailures", since) >= 1
    log_text = "\n".join(json.dumps(line) for line in broadcast_log(local_stack)[since:])
    assert "never-delivered-title" not in log_text  # never the payload
    # AND it stays stored for the user: the tab's gap detection (protocol 2.0) can replay it
    listed = local_stack.wsctl("notifications", "list", "--env", "local", "--user", local_stack.user_id(user))
    assert listed.returncode == 0, listed.stderr
    assert request_id in listed.stdout


# --- a broadcast worker killed mid fan-out (opt-in: ~6 minutes) --------------------------------------

CRASH_ROUNDS = int(os.environ.get("REALTIME_E2E_CRASH_ROUNDS", "0") or 0)


def _worker_pids(stack, handler: str = "handlers.broadcast.handler") -> list[int]:
    """The broadcast function's execution environments: children of this stack's `wsctl local up` whose
    argv carries the handler (wsctl/gateway/workers.py starts them as ``python -u -c BOOTSTRAP <handler>``)."""
    up_pid = json.loads((Path(stack.local_dir) / "local-up.pid").read_text())["pid"]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == up_pid and handler.encode() in argv:
            found.append(int(proc.name))
    return found


def _gateway_log_mentions(stack, text: str, since: int) -> bool:
    return text in (Path(stack.local_dir) / "local-up.log").read_text(errors="replace")[since:]


@pytest.mark.skipif(CRASH_ROUNDS < 1, reason="opt-in, ~6 minutes a round: REALTIME_E2E_CRASH_ROUNDS=N")
def test_a_broadcast_worker_killed_mid_fan_out_holds_only_the_request_it_started(local_stack):
    rounds = []
    for _ in range(CRASH_ROUNDS):
        rounds.append(_crash_round(local_stack))
    for number, (others, started) in enumerate(rounds, 1):
        print(f"\nround {number}: requests never started complete {others:.1f} s after the kill; "
              f"the started one {started:.1f} s after it")
    # THEN every connection completed; the never-started requests right away, the started one within the
    # visibility timeout (360 s) plus a poll
    assert all(others < 30 for others, _ in rounds)
    assert all(started < 360 + 30 for _, started in rounds)


def _crash_round(stack) -> tuple[float, float]:
    users = [unique_user(f"crash{index}") for index in range(5)]
    log_offset = len((Path(stack.local_dir) / "local-up.log").read_text(errors="replace"))

    async def scenario():
        tabs = [await open_ws(stack.ws_url, stack.token(user)) for user in users]
        try:
            [victim] = connection_ids(stack, stack.user_id(users[0]))
            # GIVEN posts to the first user's tab hanging (the fan-out is then mid-flight for seconds)
            set_faults(stack, [{"fault": "timeout", "connections": [victim], "count": 3, "hold_seconds": 6}])
            requests = [enqueue_broadcast(stack, {"userIds": [stack.user_id(user)]}, title=f"crash {index}")
                        for index, user in enumerate(users)]
            # WHEN the worker is killed while it waits on that post
            assert await asyncio.to_thread(wait_until, lambda: _gateway_log_mentions(
                stack, f"fault injected timeout for {victim}", log_offset), 60, 0.05)
            pids = _worker_pids(stack)
            assert pids, "no broadcast worker process found"
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            set_faults(stack, None)
            # THEN every tab gets its notification; measure when
            arrival: dict[int, float] = {}

            async def wait_tab(index: int):
                frame = await receive_json(tabs[index], timeout=420)
                assert frame["id"] == requests[index]
                arrival[index] = time.monotonic() - killed

            await asyncio.gather(*(wait_tab(index) for index in range(len(users))))
            return max(arrival[index] for index in range(1, len(users))), arrival[0]
        finally:
            set_faults(stack, None)
            for tab in tabs:
                await tab.close()

    return asyncio.run(scenario())
