"""End-to-end: the notification inbox (ADR 0020) through the local stack, with raw WebSocket clients.

Two devices of one user: a reload lists what was stored, newest first, as ``history`` (never as
``notification`` frames); "mark all as read" on one device is pushed to the other within 2 s and stays
after a reconnect; a foreign or unknown offset is ``NOT_FOUND``; ``wsctl notifications list`` shows the
read state; a ping-only 1.0 client is answered as before.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.e2e.support import PING, enqueue_broadcast, open_ws, receive_json, unique_user, wait_until

pytestmark = pytest.mark.e2e


def frame(kind: str, frame_id: str, data: dict | None = None) -> str:
    body = {"type": kind, "version": "2.0", "id": frame_id}
    if data is not None:
        body["data"] = data
    return json.dumps(body)


async def history(ws, **data) -> dict:
    """One page (all its parts merged); fails on any notification frame in between."""
    await ws.send(frame("history", "h", data))
    items, last = [], None
    while last is None or last["part"] < last["parts"]:
        answer = await receive_json(ws, timeout=10)
        assert answer["type"] == "history" and answer["id"] == "h", answer
        items += answer["data"]["items"]
        last = answer["data"]
    return {**last, "items": items}


async def answer_to(ws, frame_id: str) -> dict:
    while True:
        answer = await receive_json(ws, timeout=10)
        if answer.get("id") == frame_id or answer["type"] == "error":
            return answer


def test_two_devices_share_history_and_read_state(local_stack):
    user = unique_user("inbox")
    other = unique_user("inbox-other")
    user_id = local_stack.user_id(user)

    async def scenario():
        # GIVEN three notifications stored while no device was connected
        sent = [enqueue_broadcast(local_stack, {"userIds": [user_id]}, title=f"earlier {i}") for i in range(3)]
        enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(other)]}, title="not hers")
        assert wait_until(lambda: len(local_stack.wsctl("notifications", "list", "--env", "local", "--user",
                                                        user_id, "--json").stdout.splitlines()) == 3, 20, 0.5)
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as phone, \
                await open_ws(local_stack.ws_url, local_stack.token(user)) as laptop:
            # WHEN both devices load their history
            on_phone, on_laptop = await history(phone), await history(laptop)
            # THEN both list the same items newest first, unread, with the same server count
            titles = [i["data"]["title"] for i in on_phone["items"] if i["stream"] == "user"]
            assert titles == ["earlier 2", "earlier 1", "earlier 0"]
            assert [i["id"] for i in on_phone["items"] if i["stream"] == "user"] == sent[::-1]
            assert on_phone["items"] == on_laptop["items"] and on_phone["unread"] == on_laptop["unread"] >= 3
            # WHEN the phone marks one read, then everything up to what it shows
            newest = max(i["offset"] for i in on_phone["items"] if i["stream"] == "user")
            await phone.send(frame("read", "m1", {"stream": "user", "offset": newest}))
            marked = await answer_to(phone, "m1")
            assert marked["type"] == "read.state" and marked["data"]["unread"] == on_phone["unread"] - 1
            pushed_one = await receive_json(laptop, timeout=2)
            assert pushed_one["type"] == "read.state" and pushed_one["data"]["unread"] == marked["data"]["unread"]
            started = time.monotonic()
            await phone.send(frame("read.all", "m2", {}))  # up to the heads: every stored one, globals too
            cleared = await answer_to(phone, "m2")
            # THEN the laptop is told within 2 s, with the same count: 0
            pushed = await receive_json(laptop, timeout=2)
            assert time.monotonic() - started < 2
            assert cleared["data"]["unread"] == 0 and pushed["data"] == cleared["data"] and "id" not in pushed
            # AND a foreign or unknown offset is NOT_FOUND and changes nothing
            await laptop.send(frame("read", "m3", {"stream": "user", "offset": newest + 5}))
            refused = await answer_to(laptop, "m3")
            assert refused["type"] == "error" and refused["data"]["code"] == "NOT_FOUND"
            # AND a 1.0 ping-only client is answered exactly as before
            await laptop.send(PING)
            pong = await receive_json(laptop, timeout=5)
            assert pong["type"] == "pong" and pong["version"] == "1.0" and "heads" not in pong["data"]
        # WHEN the laptop reloads (a new connection)
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as reloaded:
            again = await history(reloaded)
            # THEN the read state is the server's: all read, unread 0
            assert again["unread"] == 0 and all(i["read"] for i in again["items"])
            assert again["readUpto"]["user"] == newest

    asyncio.run(scenario())
    # AND wsctl shows the read state
    listed = local_stack.wsctl("notifications", "list", "--env", "local", "--user", user_id, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["read"] for line in listed.stdout.splitlines()] == [True, True, True]
    assert "read up to user 3," in listed.stderr and "0 unread" in listed.stderr
