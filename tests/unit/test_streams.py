"""ADR 0018's stream guarantees on the in-memory adapters, each with its negative control: offsets without
holes or duplicates under concurrent publishers, redelivery and continuations; purges changing the epoch;
pong heads that advertise only settled globals; the read budget shared by a user's connections."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from realtime.adapters.memory import FakeClock, InMemoryNotificationLog
from realtime.ports import GLOBAL_PARTITION, GLOBAL_SETTLE_SECONDS

from tests.unit.tokens import NOW
from tests.unit.world import World, plenty, request

PUBLISHERS, EACH = 8, 125


@pytest.fixture
def world(telemetry) -> World:
    return World(FakeClock(float(NOW)), telemetry)


def allocate_concurrently(log, partition: str = "alice") -> list[int]:
    """8 publishers × 125 notifications into one stream; returns every offset that was stored."""
    start = threading.Barrier(PUBLISHERS)

    def publisher(index: int) -> list[int]:
        start.wait()
        return [log.append(partition, f"p{index}-{n}", lambda offset, epoch: f"{offset}:{epoch}", NOW, NOW + 60).offset
                for n in range(EACH)]

    with ThreadPoolExecutor(PUBLISHERS) as pool:
        return [offset for offsets in pool.map(publisher, range(PUBLISHERS)) for offset in offsets]


def test_concurrent_publishers_get_offsets_1_to_1000_without_hole_or_duplicate():
    # GIVEN an append whose read and commit are apart (the race a transaction's condition closes)
    log = InMemoryNotificationLog(between=lambda: time.sleep(0))
    # WHEN 8 publishers store 125 notifications each into one stream at once
    offsets = allocate_concurrently(log)
    # THEN offsets are exactly 1..1000, each stored once with its own frame; races did happen
    # (negative control, verified: removing the head check in InMemoryNotificationLog.append — the
    # transaction's condition — gives duplicate offsets and fewer than 1000 entries)
    assert sorted(offsets) == list(range(1, PUBLISHERS * EACH + 1))
    entries = log.entries("alice")
    assert [entry.offset for entry in entries] == list(range(1, 1001))
    assert all(entry.frame.startswith(f"{entry.offset}:") for entry in entries)
    assert log.head("alice").offset == 1000 and log.conflicts > 0


def test_a_redelivered_chunk_reuses_each_users_offset_and_reposts_the_same_frame(world):
    # GIVEN three users; an invocation stored the request for all of them and crashed before completing
    for user in ("u1", "u2", "u3"):
        world.connect(f"c-{user}", user)
    world.send({"userIds": ["u1"]}, "before")  # u1's stream is already at offset 1
    crashed = request({"userIds": ["u1", "u2", "u3"]}, "N")
    world.store.claim_request("#broadcast#N", int(world.clock.now()), 300)
    for user in ("u1", "u2", "u3"):
        world.broadcast._store(user, "user", crashed)
    # WHEN SQS redelivers it after the claim's lease
    world.clock.advance(301)
    world.broadcast.process(crashed, plenty)
    # THEN nothing is stored twice: same offsets (u1: 2, others: 1), and the posted frame is the stored one
    # (negative control, verified: ignoring the idempotency item in append stores N again at u1 offset 3)
    for user, offset in (("u1", 2), ("u2", 1), ("u3", 1)):
        entries = world.log.entries(user)
        assert [e.offset for e in entries if e.request_id == "N"] == [offset]
        assert world.notifier.messages(f"c-{user}")[-1] == entries[-1].frame.encode()
    assert world.log.head("u1").offset == 2


def test_a_continuation_and_a_redelivered_segment_post_the_stored_offset(telemetry):
    # GIVEN a global split into 2 segments of pages of 2 rows, every page handing over to a continuation
    world = World(FakeClock(float(NOW)), telemetry, page_size=2, scan_segments=2)
    for index in range(9):
        world.connect(f"c{index}", f"user-{index}")
    world.broadcast.min_remaining_millis = 10**9
    world.send({"all": True}, "G")
    bodies = list(world.queue.bodies)
    # WHEN every job runs, and one segment job is delivered twice by SQS (and the split itself again)
    world.queue.bodies.clear()
    world.send({"all": True}, "G")
    for body in bodies + [bodies[0]]:
        world.queue.bodies.append(body)
    while world.queue.bodies:
        world.broadcast.process(request({"all": True}, "G").model_validate_json(world.queue.bodies.pop(0)), plenty)
    # THEN the global stream holds one entry, offset 1, and every connection got exactly that frame once
    [entry] = world.log.entries(GLOBAL_PARTITION)
    assert entry.offset == 1 and world.log.head(GLOBAL_PARTITION).offset == 1
    for index in range(9):
        assert world.notifier.messages(f"c{index}") == [entry.frame.encode()]
    assert all(json.loads(b)["logOffset"] == 1 for b in bodies)


def test_a_segment_of_a_purged_global_posts_nothing(world):
    world.connect("tab", "alice")
    world.broadcast.scan_segments = 2
    world.send({"all": True}, "G")
    world.log.purge(GLOBAL_PARTITION)
    for body in list(world.queue.bodies):
        world.broadcast.process(request({"all": True}, "G").model_validate_json(body), plenty)
    assert world.ids("tab") == []


def ping(world: World, connection: str, version: str = "2.0") -> dict:
    world.client_frame(connection, {"type": "ping", "version": version, "id": "hb"})
    return world.frames(connection)[-1]


def test_a_2_0_pong_carries_the_heads_and_a_1_0_pong_is_unchanged(world):
    world.connect("tab", "alice")
    world.send({"userIds": ["alice"]}, "N1")
    world.send({"userIds": ["alice"]}, "N2")

    pong = ping(world, "tab")
    old = ping(world, "tab", "1.0")

    assert pong["version"] == "2.0" and pong["data"]["heads"] == {
        "user": {"epoch": world.log.head("alice").epoch, "offset": 2}, "global": {"epoch": None, "offset": 0}}
    assert old == {"type": "pong", "version": "1.0", "id": "hb", "data": {"timestamp": old["data"]["timestamp"]}}


def test_pong_advertises_a_global_only_once_settled_or_older_than_the_settle_time(telemetry):
    # GIVEN a global whose fan-out has two segments; only the first has finished
    world = World(FakeClock(float(NOW)), telemetry, scan_segments=2)
    world.connect("tab", "alice")
    world.send({"all": True}, "G1")
    first, second = world.queue.bodies
    world.broadcast.process(request({"all": True}, "G1").model_validate_json(first), plenty)
    # THEN pong does not advertise it (no resume storm while it is in flight) — the stream "does not exist" yet
    assert ping(world, "tab")["data"]["heads"]["global"] == {"epoch": None, "offset": 0}
    # WHEN the last segment finishes (and the head cache expires) THEN it is advertised
    world.broadcast.process(request({"all": True}, "G1").model_validate_json(second), plenty)
    world.clock.advance(10)
    epoch = world.log.head(GLOBAL_PARTITION).epoch
    assert ping(world, "tab")["data"]["heads"]["global"] == {"epoch": epoch, "offset": 1}
    # GIVEN a second global whose segments never finish (the broadcast worker crashed)
    world.queue.bodies.clear()
    world.send({"all": True}, "G2")
    world.clock.advance(10)
    assert ping(world, "tab")["data"]["heads"]["global"]["offset"] == 1
    # WHEN it is older than the settle time THEN it is advertised anyway: the tab detects the gap
    # (negative control, verified: advertising head.settled only keeps offset 1 forever)
    world.clock.advance(GLOBAL_SETTLE_SECONDS)
    assert ping(world, "tab")["data"]["heads"]["global"]["offset"] == 2
    # and resumed carries the real head at once
    assert world.resume("tab", {})["heads"]["global"]["offset"] == 2


def test_pong_advertises_a_settled_global_past_an_older_crashed_one_once_that_is_old(telemetry):
    # GIVEN G1 whose fan-out crashed (never settles), then G2 fully delivered 200 s later
    world = World(FakeClock(float(NOW)), telemetry, scan_segments=2)
    world.connect("tab", "alice")
    world.send({"all": True}, "G1")
    world.queue.bodies.clear()
    world.clock.advance(200)
    world.send({"all": True}, "G2")
    for body in list(world.queue.bodies):
        world.broadcast.process(request({"all": True}, "G2").model_validate_json(body), plenty)
    # THEN while G1 is younger than the settle time nothing is advertised (it may still be in flight)
    assert ping(world, "tab")["data"]["heads"]["global"] == {"epoch": None, "offset": 0}
    # WHEN G1 is older than the settle time (G2 is not) THEN both are advertised: G2 settled, G1 old
    world.clock.advance(GLOBAL_SETTLE_SECONDS - 199)
    assert ping(world, "tab")["data"]["heads"]["global"]["offset"] == 2


def test_the_read_budget_is_shared_by_all_connections_of_a_user(telemetry):
    # GIVEN a budget of 5 items per window, and 3 notifications alice's two tabs both missed
    world = World(FakeClock(float(NOW)), telemetry, budget_items=5)
    world.connect("old", "alice")
    world.lose("old")
    for index in range(3):
        world.send({"userIds": ["alice"]}, f"N{index}")
    world.connect("tab1", "alice")
    world.connect("tab2", "alice")
    world.connect("bob", "bob")
    from_start = {"user": {"epoch": None, "offset": 0}}
    # WHEN the first tab recovers (3 items read) and the second tries too (3 more: over 5)
    first = world.resume("tab1", from_start)
    second = world.resume("tab2", from_start)
    # THEN the second is refused as budget — nothing replayed, counted — and bob's budget is his own
    # (negative control, verified: dropping the budget condition in spend_read_budget lets tab2 read 3 more)
    assert first["recovered"] is True and world.ids("tab1") == ["N0", "N1", "N2"]
    assert second == {"recovered": False, "replayed": 0, "reason": "budget", "heads": first["heads"]}
    assert world.ids("tab2") == []
    assert telemetry.metric_values()["ResumeBudgetExceeded"] == 1
    # a resume with nothing missing reads nothing and still recovers
    assert world.resume("tab2", {"user": first["heads"]["user"]})["recovered"] is True
    # WHEN the window passes THEN the budget is back
    world.clock.advance(600)
    world.connect("tab3", "alice")
    assert world.resume("tab3", from_start)["recovered"] is True


def test_replayed_frames_come_before_resumed_in_offset_order(world):
    world.connect("old", "alice")
    world.lose("old")
    for index in range(4):
        world.send({"userIds": ["alice"]}, f"N{index}")
    world.connect("tab", "alice")

    world.resume("tab", {"user": {"epoch": None, "offset": 0}})

    frames = world.frames("tab")
    assert [f["type"] for f in frames] == ["notification"] * 4 + ["resumed"]
    assert [f["data"]["offset"] for f in frames[:4]] == [1, 2, 3, 4]


def test_a_segment_job_without_a_stored_offset_stores_the_global_once(world):
    # GIVEN segment jobs queued before protocol 2.0 (no logOffset), one of them delivered twice
    world.connect("tab", "alice")
    old_job = request({"all": True}, "G", segment={"index": 0, "total": 2})
    other = request({"all": True}, "G", segment={"index": 1, "total": 2})
    # WHEN they run
    for job in (old_job, other, old_job):
        world.broadcast.process(job, plenty)
    # THEN the announcement is stored once, offset 1, and posted with it
    [entry] = world.log.entries(GLOBAL_PARTITION)
    assert entry.offset == 1 and world.notifier.messages("tab") == [entry.frame.encode()]


def test_the_global_head_is_read_once_per_cache_period_per_container(world):
    # GIVEN a container answering many 2.0 pings (the global head item is one hot key)
    world.connect("tab", "alice")
    reads = []
    original = world.log.head
    world.log.head = lambda partition, **kw: (reads.append(partition), original(partition, **kw))[1]
    # WHEN 20 pings arrive within 5 s, then one more after
    for _ in range(20):
        ping(world, "tab")
        world.clock.advance(0.2)
    world.clock.advance(1.5)
    ping(world, "tab")
    # THEN the global head was read twice, the user head on every ping
    # (negative control, verified: cache_seconds=0 reads the global head 21 times)
    assert reads.count(GLOBAL_PARTITION) == 2 and reads.count("alice") == 21
