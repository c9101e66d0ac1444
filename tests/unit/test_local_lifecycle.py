"""The local stack's stop order and its emulator supervisor (wsctl/local/lifecycle.py), with fakes.

The e2e counterparts (tests/e2e/test_restart.py) run the real stack; these pin the order of the
steps and the path where the emulator cannot be restored, which the e2e tests do not provoke.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from wsctl.local import lifecycle


class FakeEmulator:
    def __init__(self, calls: list[str], exit_codes: list[int | None] | None = None, start_fails: bool = False):
        self.calls, self.exit_codes, self.start_fails = calls, list(exit_codes or []), start_fails
        self.port = 4566
        self.pid = 100

    def exit_code(self) -> int | None:
        return self.exit_codes.pop(0) if self.exit_codes else None

    def refuse_broadcasts(self) -> bool:
        self.calls.append("refuse")
        return True

    def snapshot(self, path) -> bool:
        self.calls.append("snapshot")
        return True

    def stop(self) -> None:
        self.calls.append("emulator.stop")

    def start(self, restore=None) -> None:
        self.calls.append(f"emulator.start({restore.name if restore else None})")
        if self.start_fails:
            from wsctl.errors import WsctlError

            raise WsctlError("the emulator did not start: boom")
        self.pid += 1


class FakeGateway:
    def __init__(self, calls: list[str], open_connections: int = 0):
        self.calls, self.open_connections = calls, open_connections

    async def stop(self) -> None:
        self.calls.append("gateway.stop")

    def close_connections(self, code: int, reason: str) -> int:
        self.calls.append(f"close_connections({code})")
        return self.open_connections


class FakeDashboard:
    def __init__(self, calls: list[str]):
        self.calls = calls

    def stop(self) -> None:
        self.calls.append("dashboard.stop")


class FakeQueue:
    """get_queue_attributes answers a scripted sequence of (visible, in flight, delayed)."""

    def __init__(self, calls: list[str], counts: list[tuple[int, int, int]]):
        self.calls, self.counts = calls, counts

    def get_queue_attributes(self, QueueUrl, AttributeNames):  # noqa: N803 - boto3's names
        self.calls.append("queue.read")
        visible, in_flight, delayed = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return {"Attributes": {"ApproximateNumberOfMessages": str(visible),
                               "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                               "ApproximateNumberOfMessagesDelayed": str(delayed)}}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(lifecycle, "DRAIN_POLL_SECONDS", 0.0)
    monkeypatch.setattr(lifecycle, "SUPERVISE_POLL_SECONDS", 0.0)


def test_the_stop_refuses_then_drains_then_closes_the_gateway_then_snapshots(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(lifecycle, "save_on_stop", lambda emulator: emulator.snapshot(None))
    queue = FakeQueue(calls, [(2, 1, 0), (0, 1, 0), (0, 0, 0)])
    times = asyncio.run(lifecycle.stop_in_order(FakeEmulator(calls), FakeGateway(calls), FakeDashboard(calls), queue,
                                                "url"))
    assert calls == ["refuse", "queue.read", "queue.read", "queue.read", "dashboard.stop", "gateway.stop", "snapshot"]
    assert set(times) == {"drain", "gateway", "snapshot", "total"}


def test_the_drain_counts_in_flight_and_delayed_messages_and_gives_up_at_its_deadline():
    calls: list[str] = []
    assert lifecycle.drain(FakeQueue(calls, [(0, 0, 3), (0, 2, 0), (0, 0, 0)]), "url") == (3, 0)
    clock = iter(range(100)).__next__
    assert lifecycle.drain(FakeQueue(calls, [(1, 0, 0)]), "url", seconds=5, clock=clock, sleep=lambda _s: None) == (1, 1)


def test_a_dead_emulator_at_stop_time_is_neither_drained_nor_saved(monkeypatch, caplog):
    calls: list[str] = []
    dead = FakeEmulator(calls, exit_codes=[-9, -9, -9])
    with caplog.at_level(logging.WARNING, logger="wsctl.local"):
        asyncio.run(lifecycle.stop_in_order(dead, FakeGateway(calls), FakeDashboard(calls), FakeQueue(calls, [(1, 0, 0)]),
                                            "url"))
    assert calls == ["dashboard.stop", "gateway.stop"]
    assert "the emulator is not running" in caplog.text


def run_supervisor(emulator, gateway, snapshot_current: bool, monkeypatch) -> lifecycle.Supervisor:
    monkeypatch.setattr(lifecycle, "snapshot_is_current", lambda: snapshot_current)

    async def scenario():
        stop = asyncio.Event()
        supervisor = lifecycle.Supervisor(emulator, gateway, stop)
        task = asyncio.create_task(supervisor.run())
        for _ in range(500):  # up to 5 s: the restore runs in a thread
            await asyncio.sleep(0.01)
            if supervisor.restores or stop.is_set():
                break
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        return supervisor

    return asyncio.run(scenario())


def test_a_dead_emulator_is_restored_from_the_snapshot_and_the_open_tabs_told_to_reconnect(monkeypatch, caplog):
    calls: list[str] = []
    with caplog.at_level(logging.WARNING, logger="wsctl.local"):
        supervisor = run_supervisor(FakeEmulator(calls, exit_codes=[None, -9]), FakeGateway(calls, 2), True, monkeypatch)
    assert supervisor.failure is None and len(supervisor.restores) == 1
    assert calls == ["emulator.stop", "emulator.start(moto-snapshot.pickle)", "close_connections(1001)"]
    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith("the emulator (moto) died (killed by signal 9): restored from its last snapshot in ")
    assert line.endswith("2 open connection(s) told to reconnect (1001)")


def test_without_a_snapshot_the_stack_stops_as_a_whole_with_the_reason(monkeypatch):
    calls: list[str] = []
    supervisor = run_supervisor(FakeEmulator(calls, exit_codes=[1]), FakeGateway(calls), False, monkeypatch)
    assert supervisor.stop.is_set()
    assert supervisor.failure == ("the emulator (moto) died (exit status 1) and could not be restored: there is no "
                                  "snapshot of the applied stack to restore; the local stack stopped "
                                  "(`make local` starts it again)")
    assert "close_connections(1001)" not in calls


def test_an_emulator_that_does_not_come_back_stops_the_stack(monkeypatch):
    calls: list[str] = []
    supervisor = run_supervisor(FakeEmulator(calls, exit_codes=[-9], start_fails=True), FakeGateway(calls), True,
                                monkeypatch)
    assert supervisor.stop.is_set() and "could not be restored: the emulator did not start: boom" in supervisor.failure


def test_an_emulator_that_keeps_dying_stops_the_stack(monkeypatch):
    calls: list[str] = []
    supervisor = lifecycle.Supervisor(FakeEmulator(calls), FakeGateway(calls), asyncio.Event())
    monkeypatch.setattr(lifecycle, "snapshot_is_current", lambda: True)

    async def die_repeatedly():
        for _ in range(lifecycle.MAX_RESTARTS):
            await supervisor.restore("killed by signal 9")
        await supervisor.restore("killed by signal 9")

    with pytest.raises(Exception, match=f"it died {lifecycle.MAX_RESTARTS + 1} times within 60 s"):
        asyncio.run(die_repeatedly())


def test_an_unfinished_incremental_apply_puts_back_the_state_the_snapshot_was_saved_with(tmp_path, monkeypatch):
    from wsctl.local import paths, stack, up

    monkeypatch.setattr(paths, "SNAPSHOT_META", tmp_path / "moto-snapshot.json")
    state = tmp_path / "realtime-local.tfstate"
    state.write_bytes(b'{"serial": 8}')  # what the interrupted apply left
    saved_with = b'{"serial": 7}'
    meta = {"state": "sha of serial 7", "taken": "stop", "deployed": "before the change"}
    up.keep_snapshot_pair(state, saved_with, meta)
    assert state.read_bytes() == saved_with
    assert stack.read_json(paths.SNAPSHOT_META) == meta
    assert not list(tmp_path.glob("*.kept"))
