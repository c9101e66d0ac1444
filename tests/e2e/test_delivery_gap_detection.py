"""End-to-end, protocol 2.0: a notification whose every post to a live tab failed is found by the tab within
one heartbeat, through the heads of a 2.0 ``pong``, and recovered exactly (docs/messages.md "Streams,
offsets and epochs", ADR 0018; the fan-out side is ADR 0019).

NEEDS BOTH BRANCHES OF ISSUE 17: this file is written against the protocol as docs/messages.md specifies it
(2.0 ``ping`` → ``pong`` with ``data.heads``; ``resume`` with ``positions``; notifications with ``stream``,
``epoch``, ``offset``), which branch i17a implements. On branch i17b alone (fan-out retries and the fault
switch, 1.1 server) these tests fail at the first 2.0 frame (``UNSUPPORTED_VERSION``); run them after the
merge:  .venv/bin/python -m pytest tests/e2e/test_delivery_gap_detection.py
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.e2e.support import (
    connection_ids,
    enqueue_broadcast,
    open_ws,
    receive_json,
    unique_user,
    wait_until,
)
from tests.e2e.test_delivery_faults import UNAVAILABLE_ATTEMPTS, broadcast_done, set_faults

pytestmark = pytest.mark.e2e

#: The test's heartbeat (the reference client pings every 3.5 minutes; the guarantee is "within one").
HEARTBEAT_SECONDS = 1.0


def frame(kind: str, frame_id: str, data: dict | None = None) -> str:
    message = {"type": kind, "version": "2.0", "id": frame_id}
    if data is not None:
        message["data"] = data
    return json.dumps(message)


async def answer_to(ws, frame_id: str, timeout: float = 10.0) -> tuple[list[dict], dict]:
    """The notification frames received before the frame answering ``frame_id``, and that answer (an
    ``error`` carries no ``id``: it is the answer too)."""
    before = []
    while True:
        received = await receive_json(ws, timeout=timeout)
        if received["type"] == "error" or (received.get("id") == frame_id and received["type"] != "notification"):
            return before, received
        before.append(received)


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_tab_finds_a_notification_no_post_reached_within_one_heartbeat(local_stack, fault):
    user = unique_user(f"gap-{fault}")

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as tab:
            [connection_id] = connection_ids(local_stack, local_stack.user_id(user))
            # GIVEN a fresh tab that adopted the heads as its positions
            await tab.send(frame("resume", "r0", {"positions": {}}))
            _, resumed = await answer_to(tab, "r0")
            assert resumed["type"] == "resumed", resumed
            positions = resumed["data"]["heads"]
            # AND every post the fan-out will try to it failing (exactly its attempts: the replay is not faulted)
            set_faults(local_stack, [{"fault": fault, "connections": [connection_id], "count": UNAVAILABLE_ATTEMPTS,
                                      "hold_seconds": 6}])
            # WHEN a notification is broadcast to the user and the fan-out gives the tab up
            request_id = enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title="lost post")
            assert await asyncio.to_thread(wait_until, lambda: broadcast_done(local_stack, request_id) is not None, 60)
            done = broadcast_done(local_stack, request_id)
            assert (done["sent"], done["failed"]) == (0, 1), done
            given_up = time.monotonic()
            set_faults(local_stack, None)
            with pytest.raises(TimeoutError):
                await receive_json(tab, timeout=0.2)  # nothing arrived live
            # THEN at the next heartbeat the pong's user head is one ahead of the tab's position
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await tab.send(frame("ping", "hb-1"))
            _, pong = await answer_to(tab, "hb-1")
            assert pong["type"] == "pong" and pong["version"] == "2.0", pong
            head = pong["data"]["heads"]["user"]
            assert head["offset"] == positions["user"]["offset"] + 1
            # AND the resume it starts replays exactly that notification, recovered
            await tab.send(frame("resume", "r1", {"positions": positions}))
            replayed, resumed = await answer_to(tab, "r1")
            recovered_after = time.monotonic() - given_up
            return request_id, head, replayed, resumed, recovered_after

    request_id, head, replayed, resumed, recovered_after = asyncio.run(scenario())
    assert [(f["id"], f["data"]["stream"], f["data"]["offset"]) for f in replayed] == [
        (request_id, "user", head["offset"])]
    assert replayed[0]["data"]["epoch"] == head["epoch"]
    assert resumed["data"]["recovered"] is True and resumed["data"]["replayed"] == 1, resumed
    assert recovered_after < HEARTBEAT_SECONDS + 5
    print(f"\n{fault}: the tab had it {recovered_after:.1f} s after the fan-out gave it up "
          f"(heartbeat {HEARTBEAT_SECONDS} s)")
