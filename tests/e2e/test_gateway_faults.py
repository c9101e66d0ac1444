"""The local gateway's fault switch (``REALTIME_LOCAL_FAULTS``, wsctl/gateway/faults.py; tests only):
@connections POSTs answer 500, 429 or time out for chosen connections or a fraction of posts, bounded
by a count, and the frame is not delivered. Driven through a real Gateway on stub functions (as
test_gateway_semantics.py) with the runtime's own notifier, so the errors arrive exactly as the
broadcast function sees them. Negative control: the same posts without the switch are all delivered.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from botocore.credentials import Credentials
from realtime.adapters.management_api import ManagementApiNotifier
from realtime.errors import DeliveryUnavailable, Throttled

from tests.e2e.test_gateway_semantics import world  # noqa: F401 - the stub-function gateway fixture
from wsctl.gateway.faults import FaultSpecError, FaultSwitch

CREDENTIALS = Credentials("test", "test")


def notifier(world_url: str, read_timeout: float = 5.0) -> ManagementApiNotifier:
    endpoint = "http" + world_url[2:]  # ws://127.0.0.1:<port>/local -> the @connections endpoint
    return ManagementApiNotifier(endpoint, CREDENTIALS, "us-east-1", read_timeout=read_timeout)


def post_all(api: ManagementApiNotifier, connection_id: str, count: int) -> list[str]:
    outcomes = []
    for n in range(count):
        try:
            api.send(connection_id, json.dumps({"n": n}).encode())
            outcomes.append("ok")
        except Throttled:
            outcomes.append("429")
        except DeliveryUnavailable as error:
            outcomes.append("timeout" if "timeout" in str(error) else "500" if "500" in str(error) else str(error))
    return outcomes


async def received(socket, timeout: float = 1.0) -> list[int]:
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), timeout))["n"])
    except TimeoutError:
        return frames


def run(world, faults, scenario, **settings):  # noqa: F811
    """Start the gateway with ``faults`` (a spec string or None), open one connection, run ``scenario``."""
    async def main():
        gateway = await world.start(faults=faults, **settings)
        try:
            async with websockets.connect(f"{world.url}?token=ok", open_timeout=10) as socket:
                [connection_id] = list(gateway.connections)
                return await scenario(gateway, socket, connection_id)
        finally:
            await gateway.stop()
    return asyncio.run(main())


def test_500_for_a_chosen_connection_first_n_posts_then_delivered(world, tmp_path):  # noqa: F811
    path = tmp_path / "faults.json"  # a file: the test names the connection once it is open

    async def scenario(gateway, socket, connection_id):
        path.write_text(json.dumps([{"fault": "500", "connections": [connection_id], "count": 2}]))
        outcomes = await asyncio.to_thread(post_all, notifier(world.url), connection_id, 4)
        return outcomes, await received(socket), dict(gateway.faults.injected)

    outcomes, frames, injected = run(world, str(path), scenario)

    assert outcomes == ["500", "500", "ok", "ok"]
    assert frames == [2, 3]  # a faulted post is not delivered
    assert injected == {"500": 2, "timeout": 0, "429": 0}


def test_a_timeout_holds_past_the_read_timeout_and_delivers_nothing(world):  # noqa: F811
    spec = json.dumps([{"fault": "timeout", "count": 1, "hold_seconds": 1.0}])

    async def scenario(gateway, socket, connection_id):
        outcomes = await asyncio.to_thread(post_all, notifier(world.url, read_timeout=0.3), connection_id, 2)
        return outcomes, await received(socket, timeout=1.5)

    outcomes, frames = run(world, spec, scenario)

    assert outcomes == ["timeout", "ok"]
    assert frames == [1]


def test_a_fraction_of_posts_is_throttled_and_the_count_bounds_it(world):  # noqa: F811
    spec = json.dumps([{"fault": "429", "fraction": 0.5, "count": 5, "seed": 11}])

    async def scenario(gateway, socket, connection_id):
        outcomes = await asyncio.to_thread(post_all, notifier(world.url), connection_id, 40)
        return outcomes, await received(socket)

    outcomes, frames = run(world, spec, scenario)

    assert outcomes.count("429") == 5  # exactly the count, never more
    assert outcomes[:5] != ["429"] * 5  # a fraction of the posts (seeded), not simply the first five
    assert frames == [n for n, outcome in enumerate(outcomes) if outcome == "ok"]


def test_a_fault_file_is_read_when_it_changes_and_a_missing_one_means_no_faults(world, tmp_path):  # noqa: F811
    path = tmp_path / "faults.json"

    async def scenario(gateway, socket, connection_id):
        api = notifier(world.url)
        before = await asyncio.to_thread(post_all, api, connection_id, 1)
        path.write_text(json.dumps([{"fault": "500", "connections": [connection_id], "count": 1}]))
        during = await asyncio.to_thread(post_all, api, connection_id, 2)
        path.write_text(json.dumps([{"fault": "429", "connections": ["someone-else"], "count": 9}]))
        after = await asyncio.to_thread(post_all, api, connection_id, 1)
        return before, during, after

    assert run(world, str(path), scenario) == (["ok"], ["500", "ok"], ["ok"])


def test_without_the_switch_every_post_is_delivered(world):  # noqa: F811
    """Negative control for the tests above: same posts, no REALTIME_LOCAL_FAULTS."""
    async def scenario(gateway, socket, connection_id):
        assert gateway.faults is None
        outcomes = await asyncio.to_thread(post_all, notifier(world.url), connection_id, 4)
        return outcomes, await received(socket)

    assert run(world, None, scenario) == (["ok"] * 4, [0, 1, 2, 3])


@pytest.mark.parametrize("spec, message", [
    ("{not json", "not JSON"),
    ('[{"fault": "503", "count": 1}]', "fault: expected one of 500, timeout, 429"),
    ('[{"fault": "500"}]', "count: expected an integer >= 1"),
    ('[{"fault": "500", "count": 0}]', "count: expected an integer >= 1"),
    ('[{"fault": "500", "count": 1, "fraction": 0}]', "fraction"),
    ('[{"fault": "500", "count": 1, "connections": "abc"}]', "connections"),
    ('[{"fault": "500", "count": 1, "colour": "red"}]', "unknown keys"),
])
def test_an_invalid_inline_spec_is_refused_with_the_key(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        FaultSwitch(spec)
