"""End-to-end: notifications survive reconnects (ADR 0016) through the local stack, with real clients.

A tab loses its connection without a close frame, notifications are sent meanwhile, it reconnects and
resumes from its last cursor; tokens are refreshed in-band while the sweeper runs every 2 s.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.e2e.support import (
    PING,
    enqueue_broadcast,
    open_ws,
    receive_json,
    unique_user,
)
from tests.e2e.test_local_stack import FunctionEnvironment

pytestmark = pytest.mark.e2e


def resume_frame(after: str) -> str:
    return json.dumps({"type": "resume", "version": "1.1", "id": "resume-1", "data": {"after": after}})


def refresh_frame(token: str) -> str:
    return json.dumps({"type": "refresh", "version": "1.1", "id": "refresh-1", "data": {"token": token}})


async def until_resumed(ws) -> tuple[list[dict], dict]:
    """The notification frames a resume replays, and its ``resumed`` frame."""
    replayed = []
    while True:
        frame = await receive_json(ws, timeout=10)
        if frame["type"] == "resumed":
            return replayed, frame
        assert frame["type"] == "notification", frame
        replayed.append(frame)


async def cursor_then_lose(stack, user: str) -> str:
    """Connect, receive one notification (its cursor is the client's position), then drop the network."""
    ws = await open_ws(stack.ws_url, stack.token(user))
    first = enqueue_broadcast(stack, {"userIds": [stack.user_id(user)]}, title="before")
    frame = await receive_json(ws, timeout=5)
    assert frame["id"] == first
    ws.transport.abort()  # no close frame: the network just went away
    return frame["data"]["cursor"]


def test_a_tab_that_lost_its_connection_resumes_exactly_what_it_missed(local_stack):
    user = unique_user("resume")

    async def scenario():
        after = await cursor_then_lose(local_stack, user)
        missed = []
        for index in range(3):
            missed.append(enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title=f"missed {index}"))
            await asyncio.sleep(0.3)  # in order: the queue does not promise it for messages sent together
        await asyncio.sleep(1.5)     # let the broadcast function store all three
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            await ws.send(resume_frame(after))
            replayed, resumed = await until_resumed(ws)
            live = enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title="live")
            after_resume = [await receive_json(ws, timeout=5)]
            with pytest.raises(TimeoutError):
                after_resume.append(await receive_json(ws, timeout=1.5))
            return missed, replayed, resumed, live, after_resume

    missed, replayed, resumed, live, after_resume = asyncio.run(scenario())
    # THEN exactly the three it missed, in order, then recovered: true
    assert [frame["id"] for frame in replayed] == missed
    cursors = [frame["data"]["cursor"] for frame in replayed]
    assert cursors == sorted(cursors)
    assert resumed["data"] == {"recovered": True, "replayed": 3} and resumed["id"] == "resume-1"
    # AND a live notification afterwards arrives once
    assert [frame["id"] for frame in after_resume] == [live]


def test_a_missed_global_announcement_is_replayed_too(local_stack):
    user = unique_user("resume-global")
    broadcast = FunctionEnvironment(local_stack, "broadcast")
    broadcast.set({**broadcast.original, "ANNOUNCEMENT_INTERVAL_SECONDS": "0"})  # other tests announce too
    try:
        async def scenario():
            after = await cursor_then_lose(local_stack, user)
            announcement = enqueue_broadcast(local_stack, {"all": True}, kind="system.announcement",
                                             title="Maintenance at 22:00 UTC")
            await asyncio.sleep(2)
            async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
                await ws.send(resume_frame(after))
                return announcement, await until_resumed(ws)

        announcement, (replayed, resumed) = asyncio.run(scenario())
    finally:
        broadcast.restore()
    assert [frame["id"] for frame in replayed] == [announcement]
    assert replayed[0]["data"]["kind"] == "system.announcement" and resumed["data"]["recovered"] is True


def test_an_unknown_cursor_is_not_recovered(local_stack):
    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(unique_user("unknown"))) as ws:
            await ws.send(resume_frame(f"{int(time.time() * 1000):013d}u{'0' * 12}"))
            return await until_resumed(ws)

    replayed, resumed = asyncio.run(scenario())
    assert replayed == [] and resumed["data"] == {"recovered": False, "replayed": 0}


def test_refresh_keeps_a_connection_open_past_its_first_token_while_the_sweeper_runs(local_stack):
    # GIVEN a connection whose first token expires in 4 s (the sweeper runs every 2 s in this session)
    user = unique_user("refresh")

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.mint_token(user, lifetime_seconds=4)) as ws:
            # WHEN the client refreshes with a fresh token of the same user
            await ws.send(refresh_frame(local_stack.mint_token(user, lifetime_seconds=3600)))
            refreshed = await receive_json(ws, timeout=5)
            await asyncio.sleep(9)  # the first token has expired; several sweeps have run
            await ws.send(PING)
            return refreshed, await receive_json(ws, timeout=5)

    refreshed, pong = asyncio.run(scenario())
    # THEN it is told its new expiry and is still open, answering pings
    assert refreshed["type"] == "refreshed" and refreshed["id"] == "refresh-1"
    assert refreshed["data"]["expiresAt"].endswith("Z")
    assert pong["type"] == "pong"


@pytest.mark.parametrize("whose", ["another user's", "forged"])
def test_refresh_with_a_token_that_is_not_the_users_is_token_invalid_and_the_connection_stays(local_stack, whose):
    user = unique_user("refresh-bad")
    if whose == "forged":
        real = local_stack.mint_token(user, lifetime_seconds=3600)
        header, payload, _signature = real.split(".")
        token = f"{header}.{payload}.{'A' * 342}"
    else:
        token = local_stack.token(unique_user("someone-else"))

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            await ws.send(refresh_frame(token))
            error = await receive_json(ws, timeout=5)
            await ws.send(PING)
            return error, await receive_json(ws, timeout=5)

    error, pong = asyncio.run(scenario())
    assert error["type"] == "error" and error["data"]["code"] == "TOKEN_INVALID"
    assert pong["type"] == "pong"


def test_notifications_older_than_the_retention_window_are_not_replayed(local_stack):
    # GIVEN a retention of 3 s on both functions (a test override of notifications.retention_hours)
    user = unique_user("retention")
    functions = [FunctionEnvironment(local_stack, name) for name in ("broadcast", "default")]
    for function in functions:
        function.set({**function.original, "NOTIFICATION_RETENTION_SECONDS": "3"})
    try:
        async def scenario():
            after = await cursor_then_lose(local_stack, user)
            enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title="expires")
            await asyncio.sleep(4.5)  # both the cursor and that notification leave the window
            fresh = enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title="fresh")
            await asyncio.sleep(1.5)
            async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
                await ws.send(resume_frame(after))
                return fresh, await until_resumed(ws)

        fresh, (replayed, resumed) = asyncio.run(scenario())
    finally:
        for function in functions:
            function.restore()
    # THEN what is still retained is replayed, and the client is told to refetch the rest
    assert [frame["id"] for frame in replayed] == [fresh]
    assert resumed["data"] == {"recovered": False, "replayed": 1}


def test_wsctl_notifications_list_and_purge_a_users_log(local_stack):
    user = unique_user("privacy")

    async def scenario():
        return await cursor_then_lose(local_stack, user)

    after = asyncio.run(scenario())
    user_id = local_stack.user_id(user)
    listed = local_stack.wsctl("notifications", "list", "--env", "local", "--user", user_id, "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["cursor"] == after and entry["title"] == "before"

    purged = local_stack.wsctl("notifications", "purge", "--env", "local", "--user", user_id)
    assert purged.returncode == 0 and "deleted 1 notification(s)" in purged.stdout
    assert local_stack.wsctl("notifications", "list", "--env", "local", "--user", user_id, "--json").stdout == ""

    async def resume_after_purge():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            await ws.send(resume_frame(after))
            return await until_resumed(ws)

    assert asyncio.run(resume_after_purge())[1]["data"] == {"recovered": False, "replayed": 0}
