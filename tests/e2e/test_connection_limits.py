"""ADR 0021 through the local stack: connections lost without a close (their ``$disconnect`` held back 120 s
here, as AWS may) do not lock their user out of the per-user cap, while open connections still do."""

from __future__ import annotations

import asyncio
import json

import pytest
from realtime.services.connections import CONNECT_GRACE_SECONDS

from tests.e2e.support import handshake_status, open_ws, receive_json, unique_user

pytestmark = pytest.mark.e2e

LIMIT = 10  # environments/local.toml: connections.per_user_limit


async def opened(local_stack, user: str, count: int) -> list:
    connections = [await open_ws(local_stack.ws_url, local_stack.token(user)) for _ in range(count)]
    for ws in connections:  # each is registered: it answers a ping
        await ws.send(json.dumps({"type": "ping", "version": "1.0", "id": "p"}))
        assert (await receive_json(ws))["type"] == "pong"
    return connections


def test_connections_lost_without_a_disconnect_do_not_hold_the_users_places(local_stack):
    user = unique_user("zombies")

    async def scenario() -> tuple[int, int]:
        lost = await opened(local_stack, user, LIMIT)
        for ws in lost:
            ws.transport.abort()  # no close frame: the gateway knows, $disconnect comes 120 s later
        inside_grace = await handshake_status(local_stack.ws_url, local_stack.token(user))
        await asyncio.sleep(CONNECT_GRACE_SECONDS + 1)
        fresh = await opened(local_stack, user, LIMIT)  # every place freed: GetConnection answered 410
        over = await handshake_status(local_stack.ws_url, local_stack.token(user))  # ten open ones: refused
        for ws in fresh:
            await ws.close()
        return inside_grace, over

    inside_grace, over = asyncio.run(scenario())
    assert inside_grace == 429  # a 410 for a connection younger than the grace may be one still in $connect
    assert over == 429
