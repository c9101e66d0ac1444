"""ADR 0020's inbox on the in-memory adapters, through the default function's message service: history
pages (newest first over both streams, split under 32 KB, never delivered as notifications), read state
per user synced to every connection, refusals that change nothing, the read budget and the rate limit,
concurrent marks and a mark racing a new notification. Each guarantee names its negative control."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from realtime.adapters.memory import FakeClock, InMemoryReadStateStore
from realtime.messages import BroadcastRequest, validate_server_message
from realtime.services import inbox as inbox_module

from tests.unit.tokens import NOW
from tests.unit.world import RETENTION_SECONDS, World


@pytest.fixture
def world(telemetry) -> World:
    return World(FakeClock(float(NOW)), telemetry)


def history(world: World, connection: str, **data) -> list[dict]:
    """The parts of the page answering one ``history`` frame (each validated against the contract)."""
    before = len(world.frames(connection))
    world.client_frame(connection, {"type": "history", "version": "2.0", "id": "h1", "data": data})
    answer = world.frames(connection)[before:]
    for frame in answer:
        validate_server_message(frame)
    return answer


def page(world: World, connection: str, **data) -> dict:
    parts = history(world, connection, **data)
    assert [p["type"] for p in parts] == ["history"] * len(parts), parts
    assert [p["data"]["part"] for p in parts] == list(range(1, len(parts) + 1))
    merged = dict(parts[-1]["data"])
    merged["items"] = [item for part in parts for item in part["data"]["items"]]
    return merged


def mark(world: World, connection: str, kind: str, data: dict, frame_id: str = "m1") -> dict:
    before = len(world.frames(connection))
    world.client_frame(connection, {"type": kind, "version": "2.0", "id": frame_id, "data": data})
    # Live notifications and other tabs' pushes may interleave: the answer carries the id (an error none).
    (answer,) = [f for f in world.frames(connection)[before:] if f.get("id") == frame_id or f["type"] == "error"]
    validate_server_message(answer)
    return answer


def offsets(items: list[dict]) -> list[tuple[str, int]]:
    return [(item["stream"], item["offset"]) for item in items]


def seed(world: World) -> None:
    """alice: user offsets 1, 2, then global 1, then user 3 (one second apart)."""
    for request_id, target in (("U1", {"userIds": ["alice"]}), ("U2", {"userIds": ["alice"]}),
                               ("G1", {"all": True}), ("U3", {"userIds": ["alice"]})):
        world.send(target, request_id)
        world.clock.advance(1)


def test_history_lists_both_streams_newest_first_pages_back_and_is_never_a_notification(world):
    # GIVEN alice's notifications stored while her tab was away, then a fresh tab
    seed(world)
    world.connect("tab", "alice")
    # WHEN the tab asks for pages of 2
    first = page(world, "tab", limit=2)
    second = page(world, "tab", limit=2, before=first["before"])
    # THEN newest first over both streams, the next page continues where the first stopped, nothing more after
    assert offsets(first["items"]) == [("user", 3), ("global", 1)]
    assert first["more"] is True and first["before"] == {"user": 3, "global": 1}
    assert offsets(second["items"]) == [("user", 2), ("user", 1)]
    assert second["more"] is False
    assert [item["id"] for item in first["items"] + second["items"]] == ["U3", "G1", "U2", "U1"]
    assert first["items"][0]["data"]["title"] == "U3" and first["items"][0]["data"]["offset"] == 3
    assert all(item["read"] is False for item in first["items"] + second["items"])
    assert first["unread"] == 4 and first["readUpto"] == {"user": 0, "global": 0}
    # history is listed, never delivered as a notification frame (so a client never toasts it)
    assert world.notifications("tab") == []


def test_a_page_is_split_into_frames_under_32_kb(world, monkeypatch):
    # GIVEN 50 notifications with 2,000-character bodies (≈ 2.3 KB each: ≈ 115 KB for the page)
    world.connect("tab", "alice")
    world.lose("tab")
    for index in range(50):
        world.broadcast.process(BroadcastRequest.model_validate(
            {"id": f"N{index}", "target": {"userIds": ["alice"]},
             "notification": {"kind": "moc.finalized", "title": f"N{index}", "body": "x" * 2000}}), lambda: 900_000)
    world.connect("tab2", "alice")
    # WHEN the tab asks for a page of 50
    parts = history(world, "tab2", limit=50)
    # THEN several frames, each under API Gateway's 32 KB, together the 50 items newest first
    # (negative control, verified: MAX_FRAME_BYTES = 10**6 puts all 50 in one frame of ≈ 118 KB)
    sizes = [len(json.dumps(part, separators=(",", ":")).encode()) for part in parts]
    assert len(parts) >= 4 and max(sizes) < 32 * 1024
    assert {part["data"]["parts"] for part in parts} == {len(parts)}
    items = [item for part in parts for item in part["data"]["items"]]
    assert [item["offset"] for item in items] == list(range(50, 0, -1))
    monkeypatch.setattr(inbox_module, "MAX_FRAME_BYTES", 10**6)
    assert len(history(world, "tab2", limit=50)) == 1


def test_marking_one_answers_the_tab_and_pushes_to_the_users_other_connections_only(world):
    # GIVEN alice on two devices, bob on one, and alice's four notifications
    seed(world)
    for connection, user in (("phone", "alice"), ("laptop", "alice"), ("bob", "bob")):
        world.connect(connection, user)
    # WHEN the phone marks user offset 2 read
    answer = mark(world, "phone", "read", {"stream": "user", "offset": 2})
    # THEN the phone gets read.state with its id; the laptop the same state without id; bob nothing
    assert answer["type"] == "read.state" and answer["id"] == "m1"
    assert answer["data"]["unread"] == 3 and answer["data"]["marked"] == [{"stream": "user", "offset": 2}]
    (pushed,) = world.frames("laptop")
    assert pushed["type"] == "read.state" and "id" not in pushed and pushed["data"]["unread"] == 3
    assert world.frames("bob") == []
    # and after a reload the laptop's history says the same
    listed = page(world, "laptop")
    assert {(i["stream"], i["offset"]): i["read"] for i in listed["items"]} == {
        ("user", 3): False, ("global", 1): False, ("user", 2): True, ("user", 1): False}
    assert listed["unread"] == 3


def test_unknown_expired_and_foreign_offsets_are_not_found_and_change_nothing(world):
    # GIVEN alice with user offsets 1..3, bob with user offsets 1..5
    seed(world)
    for index in range(5):
        world.send({"userIds": ["bob"]}, f"B{index}")
    world.connect("alice", "alice")
    world.connect("bob", "bob")
    world.log.expire("alice", 1)
    # WHEN alice marks an offset only bob has (5), an expired one (1), one above her head, and global 9
    answers = [mark(world, "alice", "read", {"stream": "user", "offset": 5}),
               mark(world, "alice", "read", {"stream": "user", "offset": 1}),
               mark(world, "alice", "read", {"stream": "global", "offset": 9}),
               mark(world, "alice", "read.all", {"upto": {"user": 4}})]
    # THEN each is NOT_FOUND, and nobody's read state changed (bob's count is untouched by construction:
    # a frame names a stream, the partition is the connection's own user)
    assert [a["data"]["code"] for a in answers] == ["NOT_FOUND"] * 4
    assert world.read_state.marked == {} and world.read_state.positions_of == {}
    assert page(world, "bob")["unread"] == 6  # his 5 and the global
    assert world.telemetry.metric_values()["InboxNotFound"] == 4


def test_mark_all_is_one_write_stays_after_a_reload_and_global_read_state_is_per_user(world):
    # GIVEN alice and carol, both with the global G1 unread
    seed(world)
    world.send({"userIds": ["carol"]}, "C1")
    world.connect("alice", "alice")
    world.connect("carol", "carol")
    writes = world.read_state.writes
    # WHEN alice marks all as read (no upto: up to the heads)
    answer = mark(world, "alice", "read.all", {})
    # THEN one write, unread 0 for her, and after a reload still 0; carol's global is still unread
    assert world.read_state.writes == writes + 1
    assert answer["data"]["unread"] == 0 and answer["data"]["readUpto"] == {"user": 3, "global": 1}
    world.connect("alice2", "alice")
    assert page(world, "alice2")["unread"] == 0
    assert all(item["read"] for item in page(world, "alice2")["items"])
    assert page(world, "carol")["unread"] == 2
    # a stale tab cannot un-read: a lower upto changes nothing
    assert mark(world, "alice", "read.all", {"upto": {"user": 1}})["data"]["readUpto"] == {"user": 3, "global": 1}


def test_a_notification_racing_mark_all_stays_unread(telemetry):
    # GIVEN mark-all's read-modify-write is interrupted by a new notification for alice (between its read of
    # the positions and its write) — the window in which a naive "mark everything stored" would swallow it
    world = World(FakeClock(float(NOW)), telemetry)
    seed(world)
    world.connect("tab", "alice")
    raced: list = []
    armed = [True]

    def new_notification() -> None:
        if armed[0]:
            armed[0] = False
            raced.append(world.send({"userIds": ["alice"]}, f"LATE{len(raced)}"))

    world.read_state.between = new_notification
    # WHEN the tab marks all read up to the offsets it shows (user 3, global 1)
    answer = mark(world, "tab", "read.all", {"upto": {"user": 3, "global": 1}})
    # THEN the late notification (user offset 4) is unread, in the answer and after a reload
    # (negative control, verified: raising the user position to the head at write time marks LATE read)
    assert raced and world.log.head("alice").offset == 4
    assert answer["data"]["readUpto"] == {"user": 3, "global": 1}
    assert answer["data"]["unread"] == 1
    listed = page(world, "tab")
    assert [(i["id"], i["read"]) for i in listed["items"]][0] == ("LATE0", False)
    # and mark-all without upto uses the heads read before writing: the same race leaves the next one unread
    armed[0] = True
    again = mark(world, "tab", "read.all", {}, "m2")
    assert len(raced) == 2 and again["data"]["readUpto"]["user"] == 4 and again["data"]["unread"] == 1


def test_concurrent_marks_converge_to_the_highest_position_and_keep_every_single_mark(telemetry):
    # GIVEN 40 notifications and a store whose writes race (a barrier-free pause between read and write)
    world = World(FakeClock(float(NOW)), telemetry, budget_items=10**6)
    for index in range(40):
        world.send({"userIds": ["alice"]}, f"N{index}")
    for index in range(8):
        world.connect(f"tab{index}", "alice")
    pause = threading.Event()
    world.read_state.between = lambda: pause.wait(0.001)
    # WHEN 8 tabs mark all read up to different offsets while 8 others mark single notifications above
    with ThreadPoolExecutor(max_workers=16) as pool:
        ups = [pool.submit(mark, world, f"tab{i}", "read.all", {"upto": {"user": 5 * i}}, f"a{i}") for i in range(8)]
        singles = [pool.submit(mark, world, f"tab{i}", "read", {"stream": "user", "offset": 37 + i % 4}, f"s{i}")
                   for i in range(8)]
        answers = [future.result() for future in ups + singles]
    # THEN the position is the maximum (35), never lowered by a slower writer; 37..40 are marked; unread 1 (36)
    # (negative control, verified: dropping the version check in raise_positions ends below 35 (3 runs of 3),
    # and this test then fails on the position)
    assert all(answer["type"] == "read.state" for answer in answers)
    assert world.read_state.positions("alice").user == 35
    assert page(world, "tab0")["unread"] == 1
    assert world.read_state.conflicts > 0


def test_history_and_marks_spend_the_users_read_budget_and_the_connection_rate_limit(telemetry):
    # GIVEN a budget of 10 items per window and 4 stored notifications (3 user, 1 global)
    world = World(FakeClock(float(NOW)), telemetry, budget_items=10)
    seed(world)
    world.connect("tab1", "alice")
    world.connect("tab2", "alice")
    # WHEN two tabs each ask for a page of 5 (each spends 3 + 1 entries that exist below the heads + 4 unread)
    first = history(world, "tab1", limit=5)
    second = history(world, "tab2", limit=5)
    # THEN the second is refused as BUDGET_EXCEEDED — the budget is the user's, not the connection's
    # (negative control, verified: spending under a fresh key per frame instead of the user lets tab2 read)
    assert first[0]["type"] == "history"
    assert second[0]["type"] == "error" and second[0]["data"]["code"] == "BUDGET_EXCEEDED"
    marks_before = dict(world.read_state.marked)
    refused = mark(world, "tab2", "read", {"stream": "user", "offset": 2})
    assert refused["data"]["code"] == "BUDGET_EXCEEDED" and world.read_state.marked == marks_before
    # WHEN the window passes THEN the budget is back
    world.clock.advance(600)
    assert history(world, "tab2", limit=5)[0]["type"] == "history"
    # AND every inbox frame counts against the per-connection rate limit (60 per minute)
    for _ in range(60):
        world.client_frame("tab1", {"type": "read.all", "version": "2.0", "data": {"upto": {}}})
    limited = history(world, "tab1", limit=1)
    assert limited[0]["data"]["code"] == "RATE_LIMITED"


def test_inbox_frames_need_2_0_and_valid_fields(world):
    world.connect("tab", "alice")
    cases = [
        ({"type": "history", "version": "1.0"}, "UNSUPPORTED_VERSION"),
        ({"type": "history", "version": "2.0", "data": {"limit": 51}}, "INVALID_MESSAGE"),
        ({"type": "history", "version": "2.0", "data": {"before": {"user": -1}}}, "INVALID_MESSAGE"),
        ({"type": "read", "version": "2.0", "data": {"stream": "bob", "offset": 1}}, "INVALID_MESSAGE"),
        ({"type": "read", "version": "2.0", "data": {"stream": "user", "offset": 0}}, "INVALID_MESSAGE"),
        ({"type": "read.all", "version": "2.0", "data": {"upto": {"user": 1}, "extra": 1}}, "INVALID_MESSAGE"),
    ]
    for frame, code in cases:
        before = len(world.frames("tab"))
        world.client_frame("tab", frame)
        (answer,) = world.frames("tab")[before:]
        assert answer["type"] == "error" and answer["data"]["code"] == code, (frame, answer)
    # an empty history of a user with nothing stored is one frame with no items
    empty = page(world, "tab")
    assert empty["items"] == [] and empty["more"] is False and empty["unread"] == 0


def test_expired_notifications_leave_history_and_the_unread_count(world):
    seed(world)
    world.connect("tab", "alice", token_lifetime=2 * RETENTION_SECONDS)
    assert page(world, "tab")["unread"] == 4
    # WHEN the retention passes for the first three (stored at +0, +1, +2 s), TTL not yet run
    world.clock.advance(RETENTION_SECONDS - 1.5)
    listed = page(world, "tab")
    # THEN only U3 is listed and counted (negative control, verified: dropping the expiresAt filter lists 4)
    assert offsets(listed["items"]) == [("user", 3)] and listed["unread"] == 1
    assert mark(world, "tab", "read", {"stream": "user", "offset": 1})["data"]["code"] == "NOT_FOUND"


def test_a_purge_deletes_the_users_read_state(world):
    seed(world)
    world.connect("tab", "alice")
    mark(world, "tab", "read", {"stream": "user", "offset": 3})
    mark(world, "tab", "read.all", {"upto": {"user": 1}})
    assert isinstance(world.read_state, InMemoryReadStateStore)
    world.log.purge("alice")
    assert world.read_state.positions("alice").user == 0 and world.read_state.marked == {}
