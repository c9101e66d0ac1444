"""ADR 0016's guarantee (with ADR 0018's positions) under its hazards, deterministically on the in-memory adapters: a notification
for user U reaches every tab of U that is open when it is sent, or that reconnects and resumes — live or
by replay, never lost; duplicates only with the same id."""

from __future__ import annotations

import itertools

import pytest
from realtime.adapters.memory import FakeClock
from realtime.ports import GLOBAL_PARTITION

from tests.unit.tokens import NOW
from tests.unit.world import World, plenty, request

C_STEPS = ("register", "open", "resume")
#: Where in the broadcast each of the new connection's steps may happen: before the store, between the
#: store and the read of the target connections, between the read and the posts, after the posts.
SLOTS = range(4)


@pytest.fixture
def world(telemetry) -> World:
    return World(FakeClock(float(NOW)), telemetry)


def reconnecting_tab(world: World, user: str = "alice") -> dict:
    """A tab that received N0 on its old connection and then lost it: returns its positions."""
    world.connect("old", user)
    world.send({"userIds": [user]}, "N0")
    positions = {"user": world.position("old")}
    world.lose("old")
    world.store.remove("old")  # $disconnect ran
    world.clock.advance(60)
    return positions


def index_only(world: World):
    """The byUser GSI alone (the fan-out of before ADR 0016), grouped by user."""
    return lambda users: {user: world.store.index_connections_of_users([user]) for user in users}


def run_interleaved(world: World, slots: tuple[int, int, int], after: dict, *, read=None) -> None:
    """Broadcast N1 to alice while a new connection of hers registers, opens and resumes at ``slots``."""
    steps = {slot: [step for step, at in zip(C_STEPS, slots, strict=True) if at == slot] for slot in SLOTS}

    def act(slot: int) -> None:
        for step in steps[slot]:
            if step == "register":
                world.register("new", "alice")
            elif step == "open":
                world.open("new")
            else:
                world.resume("new", after)

    original_append, original_read = world.log.append, read or world.store.connections_by_user

    def append(*args):
        stored = original_append(*args)
        act(1)
        return stored

    def connections_by_user(users):
        found = original_read(users)
        act(2)
        return found

    world.log.append, world.store.connections_by_user = append, connections_by_user
    act(0)
    world.broadcast.process(request({"userIds": ["alice"]}, "N1"), plenty)
    act(3)


INTERLEAVINGS = [slots for slots in itertools.product(SLOTS, repeat=3) if list(slots) == sorted(slots)]


def test_there_are_twenty_interleavings():
    assert len(INTERLEAVINGS) == 20  # C(6, 3): three steps of each side in program order


@pytest.mark.parametrize("lagging_index", [False, True], ids=["index-current", "index-lagging"])
@pytest.mark.parametrize("slots", INTERLEAVINGS, ids=lambda s: "-".join(map(str, s)))
def test_a_connection_registered_around_a_broadcast_gets_it_live_or_by_replay(telemetry, slots, lagging_index):
    # GIVEN a reconnecting tab (its position after N0), and possibly a GSI that has not caught up
    world = World(FakeClock(float(NOW)), telemetry)
    after = reconnecting_tab(world)
    if lagging_index:
        world.store.lag_index()
    # WHEN N1 is broadcast while the tab's new connection registers, opens and resumes in this order
    run_interleaved(world, slots, after)
    # THEN the new connection has N1 — live or replayed — possibly twice, nothing else, and its row is intact
    assert set(world.ids("new")) == {"N1"}
    assert world.store.get("new") is not None


def test_without_strongly_consistent_membership_a_lagging_index_loses_notifications(telemetry):
    # GIVEN the fan-out of before ADR 0016: target connections from the byUser GSI only
    lost = []
    for slots in INTERLEAVINGS:
        world = World(FakeClock(float(NOW)), telemetry)
        after = reconnecting_tab(world)
        world.store.lag_index()
        # WHEN the same interleavings run with an index that misses the new connection
        run_interleaved(world, slots, after, read=index_only(world))
        if "N1" not in world.ids("new"):
            lost.append(slots)
    # THEN the one interleaving where the tab resumed before the store loses N1 (its resume saw no entry,
    # the lagging index hid it from the fan-out): the hazard is real, and the membership item closes it
    assert lost == [(0, 0, 0)]


def test_a_post_to_a_connection_still_inside_connect_keeps_its_row(world):
    # GIVEN alice's connection registered but API Gateway still in $connect (410 to posts)
    world.register("c1", "alice")
    # WHEN a broadcast reaches it
    outcome = world.send({"userIds": ["alice"]}, "N1")
    # THEN the 410 counts as gone but the row stays (the connection is about to open) ...
    assert outcome.report.gone == 1 and world.store.get("c1") is not None
    # ... and thirty seconds later a 410 means the connection is really gone
    world.clock.advance(31)
    world.lose("c1")
    world.send({"userIds": ["alice"]}, "N2")
    assert world.store.get("c1") is None and world.store.counter == 0


def n2_overtakes_n1(world: World) -> None:
    """N1 is stored first (offset 1), N2 a moment later (offset 2); N2 reaches alice's tab, then the tab's
    network drops before N1's post."""
    world.connect("tab", "alice")
    original = world.store.connections_by_user
    held = {"done": False}

    def n1_read_delayed(users):
        if not held["done"]:
            held["done"] = True
            world.clock.advance(0.001)
            world.send({"userIds": ["alice"]}, "N2")  # stored and posted while N1 waits
            world.lose("tab")
        return original(users)

    world.store.connections_by_user = n1_read_delayed
    world.send({"userIds": ["alice"]}, "N1")
    world.store.connections_by_user = original
    assert world.ids("tab") == ["N2"] and world.stream_offsets("tab") == [2]


def test_concurrent_broadcasts_delivered_out_of_order_leave_the_position_below_the_gap(world):
    # GIVEN a tab that got offset 2 but not offset 1 (concurrent broadcasts, then a network drop)
    n2_overtakes_n1(world)
    # WHEN the tab reconnects and resumes from its position: the contiguous prefix, which is still 0
    position = world.position("tab")
    assert position == {"epoch": None, "offset": 0}
    world.connect("tab2", "alice")
    resumed = world.resume("tab2", {"user": position})
    # THEN offset 1 (N1) is replayed, and N2 again (a duplicate the client drops by its offset)
    assert world.ids("tab2") == ["N1", "N2"]
    assert resumed["recovered"] is True and resumed["heads"]["user"]["offset"] == 2


def test_resuming_from_the_newest_offset_instead_would_lose_the_older_notification(world):
    # GIVEN the same race, and a client that (wrongly) takes its newest offset as its position, as a
    # cursor did (ADR 0016's hazard: a frame that overtakes moves the cursor)
    n2_overtakes_n1(world)
    newest = {"epoch": world.notifications("tab")[0]["data"]["epoch"], "offset": 2}
    world.connect("tab2", "alice")
    world.resume("tab2", {"user": newest})
    # THEN N1 never reaches the tab: contiguous positions are what close this hazard
    assert world.ids("tab2") == []


def test_a_global_still_in_flight_when_a_newer_user_notification_arrived_is_replayed(world):
    # GIVEN a global announcement G whose scan reaches alice's tab only after a user notification N does
    world.connect("tab", "alice")
    original_scan = world.store.scan_page
    state = {"paused": False}

    def scan_page(segment, total, cursor):
        if not state["paused"]:
            state["paused"] = True
            world.clock.advance(1)
            world.send({"userIds": ["alice"]}, "N")  # delivered first
            world.lose("tab")                       # then the tab drops: G's post will be a 410
        return original_scan(segment, total, cursor)

    world.store.scan_page = scan_page
    world.send({"all": True}, "G")
    world.store.scan_page = original_scan
    assert world.ids("tab") == ["N"]
    # WHEN the tab resumes from its positions (user: N's offset; global: nothing yet)
    world.connect("tab2", "alice")
    resumed = world.resume("tab2", {"user": world.position("tab"), "global": world.position("tab", "global")})
    # THEN G is replayed, N is not
    assert world.ids("tab2") == ["G"] and resumed["recovered"] is True


def test_a_global_delivered_before_the_page_adopted_the_heads_is_not_replayed(world):
    # GIVEN a tab opened after a global G was fully delivered (to others): its first resume adopts the heads
    world.connect("other", "bob")
    world.send({"all": True}, "G")
    world.clock.advance(5)
    world.connect("tab", "alice")
    heads = world.resume("tab", {})["heads"]
    world.send({"userIds": ["alice"]}, "N")
    world.lose("tab")
    # WHEN it resumes from the heads it adopted (global) and N (user)
    world.connect("tab2", "alice")
    world.resume("tab2", {"user": world.position("tab"), "global": heads["global"]})
    # THEN nothing is replayed: it had everything
    assert world.ids("tab2") == []


def test_sqs_redelivery_stores_once_and_a_takeover_stores_what_was_not_stored(world):
    world.connect("tab", "alice")
    first = request({"userIds": ["alice"]}, "N1")
    # WHEN SQS redelivers a completed request
    world.broadcast.process(first, plenty)
    world.broadcast.process(first, plenty)
    # THEN it is stored and posted once
    assert [e.request_id for e in world.log.entries("alice")] == ["N1"] and world.ids("tab") == ["N1"]
    # GIVEN an invocation that claimed N2 and crashed before completing
    world.store.claim_request("#broadcast#N2", int(world.clock.now()), 300)
    world.broadcast.process(request({"userIds": ["alice"]}, "N2"), plenty)
    assert [e.request_id for e in world.log.entries("alice")] == ["N1"]  # in progress: nothing stored
    # WHEN the lease runs out and the redelivery takes the claim over
    world.clock.advance(301)
    world.broadcast.process(request({"userIds": ["alice"]}, "N2"), plenty)
    # THEN N2 is stored (the next offset) and delivered
    entries = world.log.entries("alice")
    assert [e.request_id for e in entries] == ["N1", "N2"] and world.ids("tab") == ["N1", "N2"]
    assert [e.offset for e in entries] == [1, 2]


def test_a_global_is_one_write_and_every_segment_and_continuation_posts_the_stored_frame(telemetry):
    # GIVEN 40 users with one connection each, two scan segments of pages of 3 rows
    world = World(FakeClock(float(NOW)), telemetry, page_size=3, scan_segments=2)
    for index in range(40):
        world.connect(f"c{index:02d}", f"user-{index}")
    world.broadcast.min_remaining_millis = 10**9  # every page hands over to a continuation job
    # WHEN the announcement is split, and every job (segments, then continuations) is processed
    outcome = world.send({"all": True}, "G")
    assert outcome.status == "split"
    jobs = 0
    while world.queue.bodies:
        body = world.queue.bodies.pop(0)
        world.broadcast.process(request({"all": True}, "G").model_validate_json(body), plenty)
        jobs += 1
    # THEN the log holds one entry, every connection got that exact frame, and the entry is settled
    [entry] = world.log.entries(GLOBAL_PARTITION)
    assert world.log.appended == 1 and jobs > 2
    for index in range(40):
        [payload] = world.notifier.messages(f"c{index:02d}")
        assert payload.decode() == entry.frame
    assert world.log.get(GLOBAL_PARTITION, entry.offset).settled_at == int(world.clock.now())
    assert world.log.head(GLOBAL_PARTITION).settled == 1


def test_per_user_requests_are_stored_and_posted_in_chunks_each_user_in_its_own_stream(world):
    # GIVEN 60 users (three chunks of at most 25)
    users = [f"user-{index}" for index in range(60)]
    for user in users:
        world.connect(f"c-{user}", user)
    events = []
    original_append = world.log.append
    world.log.append = lambda *args: (events.append("append"), original_append(*args))[1]
    original_read = world.store.connections_by_user
    world.store.connections_by_user = lambda chunk: (events.append("read"), original_read(chunk))[1]
    # WHEN one request targets them all
    world.send({"userIds": users}, "N")
    # THEN each chunk is stored (one append per user) before its connections are read and posted
    runs = [len(list(group)) for key, group in itertools.groupby(events) if key == "append"]
    assert runs == [25, 25, 10] and events.count("read") == 3
    for user in users:
        [entry] = world.log.entries(user)
        assert entry.offset == 1
        assert world.notifier.messages(f"c-{user}") == [entry.frame.encode()]
