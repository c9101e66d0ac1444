"""How the running local stack stops without dropping anything, and how it survives its emulator dying.

Stopping (Ctrl-C, SIGTERM, ``wsctl local down``) goes in the one order that loses nothing:

1. the emulator refuses new broadcasts (SendMessage answers ``LocalStackStopping``; the broadcast
   function's own segment jobs still go through) — a caller is told, nothing is accepted and dropped;
2. the gateway's queue poller drains what the broadcast queue holds to the tabs still connected;
3. the gateway stops accepting and closes its connections (1001): ``$disconnect`` removes their rows;
4. the emulator is snapshotted: local users, their notification log and anything left in the queue;
5. the emulator stops.

The next warm start restores that snapshot; ``--fresh`` still starts empty.

While it runs, a supervisor watches the emulator process. If it dies, it is restarted on the same
port from the last snapshot on disk (one log line says so) and every open connection is closed
with 1001 (Going away, as API Gateway closes them): the tabs reconnect, get rows again and resume
what they missed. If it
cannot be restored, the whole stack stops with a message — never a gateway in front of nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wsctl.errors import WsctlError
from wsctl.local import paths, stack

log = logging.getLogger("wsctl.local")

#: How long the stop waits for the broadcast queue to empty (what is left is kept in the snapshot).
DRAIN_SECONDS = 15.0
DRAIN_POLL_SECONDS = 0.2
SUPERVISE_POLL_SECONDS = 0.5
#: More deaths than this within RESTART_WINDOW_SECONDS and the stack stops instead of restoring again.
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 60.0
QUEUE_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed")


def queued_messages(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in QUEUE_COUNTS)


def drain(sqs: Any, queue_url: str, seconds: float = DRAIN_SECONDS,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> tuple[int, int]:
    """Wait until the queue holds nothing (visible, in flight or delayed): (messages at the start, left)."""
    first = left = queued_messages(sqs, queue_url)
    deadline = clock() + seconds
    while left and clock() < deadline:
        sleep(DRAIN_POLL_SECONDS)
        left = queued_messages(sqs, queue_url)
    return first, left


def snapshot_is_current() -> bool:
    """The snapshot on disk was saved with the terraform state as it is now (so restoring it is safe)."""
    meta = stack.read_json(paths.SNAPSHOT_META)
    return paths.SNAPSHOT_FILE.is_file() and meta.get("state") == stack.file_hash(stack.state_file())


def save_on_stop(emulator: Any) -> bool:
    """Snapshot the emulator over the one the next warm start restores (only when that one belongs to
    the current terraform state: otherwise the next start is cold anyway)."""
    if not snapshot_is_current():
        log.warning("no snapshot on stop: the stack was not completely applied, the next start is cold")
        return False
    if not emulator.snapshot(paths.SNAPSHOT_FILE):
        return False
    meta = stack.read_json(paths.SNAPSHOT_META)
    meta.update(taken="stop", taken_at=time.time())
    stack.write_json(paths.SNAPSHOT_META, meta)
    return True


async def stop_in_order(emulator: Any, gateway: Any, dashboard: Any, sqs: Any, queue_url: str) -> dict[str, float]:
    """Steps 1–4 of the module docstring (the caller stops the emulator); returns their durations."""
    times: dict[str, float] = {}
    started = mark = time.monotonic()

    def step(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        times[name] = round(now - mark, 2)
        mark = now

    alive = emulator.exit_code() is None
    if alive and await asyncio.to_thread(emulator.refuse_broadcasts):
        log.info("stopping: new broadcasts are refused, draining the broadcast queue")
        try:
            first, left = await asyncio.to_thread(drain, sqs, queue_url)
        except Exception as error:  # noqa: BLE001 - the stop goes on; what is queued stays in the snapshot
            log.warning("could not read the broadcast queue while draining: %s", error)
        else:
            if left:
                log.warning("%d of %d queued broadcasts not delivered within %.0f s: kept for the next start",
                            left, first, DRAIN_SECONDS)
            elif first:
                log.info("drained %d queued broadcasts", first)
        step("drain")
    elif not alive:
        log.warning("stopping: the emulator is not running, nothing to drain or save")
    dashboard.stop()
    await gateway.stop()
    step("gateway")
    if alive and emulator.exit_code() is None:
        saved = await asyncio.to_thread(save_on_stop, emulator)
        step("snapshot")
        if saved:
            log.info("saved the emulator for the next start (%s)", paths.SNAPSHOT_FILE.name)
    times["total"] = round(time.monotonic() - started, 2)
    log.info("stopped in %.1f s (%s)", times["total"],
             ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items() if name != "total"))
    return times


@dataclass
class Supervisor:
    """Restores a dead emulator from the last snapshot, or stops the stack with ``failure`` set."""

    emulator: Any
    gateway: Any
    stop: asyncio.Event
    on_restored: Callable[[], None] = lambda: None
    failure: str | None = None
    deaths: deque = field(default_factory=deque)
    #: seconds each restore took (reported by the e2e test)
    restores: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(SUPERVISE_POLL_SECONDS)
            code = self.emulator.exit_code()
            if code is None or self.stop.is_set():
                continue
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            try:
                seconds = await self.restore(how)
            except WsctlError as error:
                self.failure = (f"the emulator (moto) died ({how}) and could not be restored: {error}; "
                                "the local stack stopped (`make local` starts it again)")
                log.error("%s", self.failure)
                self.stop.set()
                return
            closed = self.gateway.close_connections(1001, "Going away")
            log.warning("the emulator (moto) died (%s): restored from its last snapshot in %.1f s, "
                        "%d open connection(s) told to reconnect (1001)", how, seconds, closed)

    async def restore(self, how: str) -> float:
        started = time.monotonic()
        self.deaths.append(started)
        while self.deaths and started - self.deaths[0] > RESTART_WINDOW_SECONDS:
            self.deaths.popleft()
        if len(self.deaths) > MAX_RESTARTS:
            raise WsctlError(f"it died {len(self.deaths)} times within {RESTART_WINDOW_SECONDS:.0f} s")
        if not snapshot_is_current():
            raise WsctlError("there is no snapshot of the applied stack to restore")
        self.emulator.stop()
        await asyncio.to_thread(self.emulator.start, paths.SNAPSHOT_FILE)
        seconds = round(time.monotonic() - started, 2)
        self.restores.append(seconds)
        self.on_restored()
        return seconds
