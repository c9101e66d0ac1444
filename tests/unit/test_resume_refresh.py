"""``resume`` and ``refresh`` (protocol 2.0, ADR 0018) through the default function's service."""

from __future__ import annotations

import json

import pytest
from realtime.adapters.memory import FakeClock
from realtime.errors import DeliveryFailed, Throttled
from realtime.messages import validate_server_message
from realtime.ports import GLOBAL_PARTITION

from tests.unit.tokens import NOW, mint
from tests.unit.world import RETENTION_SECONDS, World

API_GATEWAY_FRAME_BYTES = 32 * 1024


@pytest.fixture
def world(telemetry) -> World:
    return World(FakeClock(float(NOW)), telemetry, max_notifications=5)


def missed_while_away(world: World, count: int, user: str = "alice") -> dict:
    """alice's tab gets N0, loses its connection, and `count` notifications are sent meanwhile; the new
    tab ("tab2") resumes from the old tab's user-stream position."""
    world.connect("tab", user)
    world.send({"userIds": [user]}, "N0")
    position = world.position("tab")
    world.lose("tab")
    for index in range(1, count + 1):
        world.clock.advance(15)
        world.send({"userIds": [user]}, f"N{index}")
    world.connect("tab2", user)
    return position


def user_head(world: World, user: str = "alice") -> dict:
    head = world.log.head(user)
    return {"epoch": head.epoch, "offset": head.offset}


NO_STREAM = {"epoch": None, "offset": 0}


# --- resume ------------------------------------------------------------------------------------

def test_resume_replays_exactly_what_was_missed_in_order_then_resumed(world, telemetry):
    position = missed_while_away(world, 3)

    resumed = world.resume("tab2", {"user": position})

    frames = world.frames("tab2")
    assert [f["type"] for f in frames] == ["notification"] * 3 + ["resumed"]
    assert [f["id"] for f in frames[:3]] == ["N1", "N2", "N3"]
    assert [f["data"]["offset"] for f in frames[:3]] == [2, 3, 4]
    assert resumed == {"recovered": True, "replayed": 3, "heads": {"user": user_head(world), "global": NO_STREAM}}
    assert frames[-1]["version"] == "2.0" and frames[-1]["id"] == "r1"
    for frame in frames:
        validate_server_message(frame)
    # a replay is byte-identical to the live frame: same id, offset, epoch and timestamp
    assert world.notifier.messages("tab2")[:3] == [entry.frame.encode() for entry in world.log.entries("alice")[1:]]
    metrics = telemetry.metric_values()
    assert metrics["Resumes"] == 1 and metrics["NotificationsReplayed"] == 3 and "ResumesNotRecovered" not in metrics


def test_each_stream_is_replayed_in_offset_order_user_then_global(world):
    world.connect("tab", "alice")
    world.send({"userIds": ["alice"]}, "N0")
    world.send({"all": True}, "G0")
    positions = {"user": world.position("tab"), "global": world.position("tab", "global")}
    world.lose("tab")
    world.send({"userIds": ["alice"]}, "N1")
    world.send({"all": True}, "G1")
    world.send({"userIds": ["alice"]}, "N2")
    world.connect("tab2", "alice")

    resumed = world.resume("tab2", positions)

    assert world.ids("tab2") == ["N1", "N2", "G1"]
    assert resumed["recovered"] is True and resumed["replayed"] == 3
    assert resumed["heads"]["global"]["offset"] == 2 and resumed["heads"]["user"]["offset"] == 3


def test_a_fresh_page_without_positions_gets_the_heads_and_nothing_replayed(world):
    missed_while_away(world, 2)

    assert world.resume("tab2", {}) == {"recovered": True, "replayed": 0,
                                        "heads": {"user": user_head(world), "global": NO_STREAM}}


def test_a_null_epoch_recovers_the_first_epoch_from_offset_1_but_not_a_purged_one(world):
    world.connect("tab", "alice")
    world.lose("tab")
    world.send({"userIds": ["alice"]}, "N1")   # the stream is created while the tab is away
    world.connect("tab2", "alice")

    assert world.resume("tab2", {"user": NO_STREAM})["recovered"] is True
    assert world.ids("tab2") == ["N1"]

    world.log.purge("alice")
    world.connect("tab3", "alice")
    resumed = world.resume("tab3", {"user": NO_STREAM})
    assert resumed["recovered"] is False and resumed["reason"] == "epoch" and world.ids("tab3") == []


@pytest.mark.parametrize("position, reason", [
    ({"epoch": "someoneelse", "offset": 1}, "epoch"),
    ({"epoch": None, "offset": 3}, "invalid"),
])
def test_a_foreign_or_impossible_position_is_not_recovered_and_replays_nothing(world, telemetry, position, reason):
    missed_while_away(world, 2)

    resumed = world.resume("tab2", {"user": position})

    assert (resumed["recovered"], resumed["reason"], resumed["replayed"]) == (False, reason, 0)
    assert world.ids("tab2") == []
    assert telemetry.metric_values()["ResumesNotRecovered"] == 1


def test_a_position_ahead_of_the_head_is_invalid(world):
    position = missed_while_away(world, 1)

    resumed = world.resume("tab2", {"user": {**position, "offset": 9}})

    assert (resumed["recovered"], resumed["reason"]) == (False, "invalid")


def test_a_purge_changes_the_epoch_and_a_resume_from_the_old_one_is_not_recovered(world):
    position = missed_while_away(world, 2)
    old_epoch = world.log.head("alice").epoch

    removed, new_epoch = world.log.purge("alice")

    assert removed == 3 and new_epoch != old_epoch and world.log.head("alice").initial is False
    resumed = world.resume("tab2", {"user": position})
    assert (resumed["recovered"], resumed["reason"]) == (False, "epoch")
    assert resumed["heads"]["user"] == {"epoch": new_epoch, "offset": 3}
    # the counter is kept: the next notification is offset 4 of the new epoch, never a second offset 1
    world.send({"userIds": ["alice"]}, "N9")
    assert world.notifications("tab2")[-1]["data"]["offset"] == 4
    assert world.notifications("tab2")[-1]["data"]["epoch"] == new_epoch


def test_expiry_in_the_middle_of_a_range_is_not_recovered_and_replays_nothing_of_that_stream(world):
    # GIVEN offsets 2..4 missed, and offset 3 deleted by the TTL
    position = missed_while_away(world, 3)
    world.log.expire("alice", 3)

    resumed = world.resume("tab2", {"user": position})

    # THEN no partial replay is passed off as recovery (negative control: dropping the offset-contiguity
    # check in ReplayPlanner._complete answers recovered: true with offsets 2 and 4)
    assert (resumed["recovered"], resumed["reason"], resumed["replayed"]) == (False, "expired", 0)
    assert world.ids("tab2") == []


def test_entries_past_their_ttl_are_never_replayed_even_before_dynamodb_deletes_them(world):
    position = missed_while_away(world, 2)
    world.clock.advance(RETENTION_SECONDS - 5)  # N1 is now past its TTL, N2 not yet; both still stored
    world.connect("tab3", "alice")

    resumed = world.resume("tab3", {"user": position})

    assert (resumed["recovered"], resumed["reason"], resumed["replayed"]) == (False, "expired", 0)


def test_more_missed_than_the_bound_is_too_many_and_replays_nothing(world):
    position = missed_while_away(world, 6)  # the world's bound is 5

    resumed = world.resume("tab2", {"user": position})

    assert (resumed["recovered"], resumed["reason"], resumed["replayed"]) == (False, "too_many", 0)


def test_one_stream_failing_does_not_stop_the_other_from_being_replayed(world):
    world.connect("tab", "alice")
    world.send({"all": True}, "G0")
    world.lose("tab")
    world.send({"all": True}, "G1")
    world.send({"userIds": ["alice"]}, "N1")
    world.connect("tab2", "alice")

    resumed = world.resume("tab2", {"user": {"epoch": "gone", "offset": 1}, "global": {"epoch": world.log.head(
        GLOBAL_PARTITION).epoch, "offset": 1}})

    assert (resumed["recovered"], resumed["reason"]) == (False, "epoch")
    assert world.ids("tab2") == ["G1"]


def test_a_replay_whose_post_fails_answers_internal_error_and_never_resumed(world, telemetry):
    position = missed_while_away(world, 3)
    world.notifier.faults["tab2"] = [Throttled("x")] * 3

    world.client_frame("tab2", {"type": "resume", "version": "2.0", "id": "r1", "data": {"positions": {"user": position}}})

    # (negative control: concluding with resumed recovered:false instead fails the type assertion)
    assert [f["type"] for f in world.frames("tab2")] == ["error"]
    assert world.frames("tab2")[0]["data"]["code"] == "INTERNAL_ERROR"
    world.notifier.faults["tab2"] = [DeliveryFailed("x")]
    world.client_frame("tab2", {"type": "resume", "version": "2.0", "id": "r2", "data": {"positions": {"user": position}}})
    assert [f["type"] for f in world.frames("tab2")][-1] == "error"
    # the client resumes again from the same position: everything arrives
    assert world.resume("tab2", {"user": position})["recovered"] is True
    assert world.ids("tab2")[-3:] == ["N1", "N2", "N3"]


@pytest.mark.parametrize("frame, code", [
    ({"type": "resume", "version": "1.0", "data": {"positions": {}}}, "UNSUPPORTED_VERSION"),
    ({"type": "resume", "version": "1.1", "data": {"after": "x"}}, "UNSUPPORTED_VERSION"),
    ({"type": "resume", "version": "2.0", "data": {}}, "INVALID_MESSAGE"),
    ({"type": "resume", "version": "2.0", "data": {"positions": {"user": {"epoch": "e", "offset": "1"}}}},
     "INVALID_MESSAGE"),
    ({"type": "refresh", "version": "2.0", "data": {"token": ""}}, "INVALID_MESSAGE"),
    ({"type": "resume", "version": "1.2", "data": {"positions": {}}}, "UNSUPPORTED_VERSION"),
])
def test_bad_resume_and_refresh_frames_get_the_standard_error_and_keep_the_connection(world, frame, code):
    world.connect("tab", "alice")

    world.client_frame("tab", frame)

    [error] = world.frames("tab")
    assert error["type"] == "error" and error["data"]["code"] == code
    assert world.notifier.closed == []
    validate_server_message(error)


def test_resume_and_refresh_count_against_the_rate_limit(world):
    world.connect("tab", "alice")
    for _ in range(60):
        world.client_frame("tab", {"type": "resume", "version": "2.0", "data": {"positions": {}}})

    world.client_frame("tab", {"type": "refresh", "version": "2.0", "data": {"token": mint(sub="alice")}})

    assert world.frames("tab")[-1]["data"]["code"] == "RATE_LIMITED"


def test_the_largest_notification_frame_fits_api_gateways_frame_size(world):
    world.connect("tab", "alice")
    notification = {"kind": "moc.upload.completed", "title": "\u00e9" * 200, "body": "\U0001f9f1" * 2000,
                    "severity": "warning", "link": "https://" + "a" * 2040, "resource": {"type": "t" * 64, "id": "i" * 256}}
    from realtime.messages import BroadcastRequest

    request = BroadcastRequest.model_validate({"id": "x" * 128, "target": {"userIds": ["alice"]},
                                               "notification": notification})
    world.broadcast.process(request, lambda: 900_000)

    [payload] = world.notifier.messages("tab")
    assert len(payload) < API_GATEWAY_FRAME_BYTES


# --- refresh -----------------------------------------------------------------------------------

def refresh(world: World, connection: str, token: str) -> dict:
    world.client_frame(connection, {"type": "refresh", "version": "2.0", "id": "f1", "data": {"token": token}})
    return world.frames(connection)[-1]


def test_refresh_moves_the_expiry_and_the_sweeper_keeps_the_connection(world, telemetry):
    # GIVEN alice's connection whose token expires in 2 minutes, and an expiry index that lags behind
    world.connect("tab", "user-1", token_lifetime=120)
    world.store.lag_index()
    new_exp = NOW + 3540
    # WHEN she refreshes with a fresh token of her own
    answer = refresh(world, "tab", mint(sub="user-1", exp=new_exp))
    # THEN the connection's expiry is the new token's
    assert answer == {"type": "refreshed", "version": "2.0", "id": "f1",
                      "data": {"expiresAt": "2025-06-15T16:05:40.000Z"}}
    validate_server_message(answer)
    assert world.store.get("tab").token_expires_at == new_exp
    # AND the sweeper, still finding it in the old expiry bucket, re-reads the row and leaves it open
    world.clock.advance(180)
    report = world.sweeper.run()
    assert world.notifier.closed == [] and report.refreshed == 1
    # AND at the new expiry it is closed as usual
    world.store.catch_up_index()
    world.clock.advance(new_exp - NOW)
    world.sweeper.run()
    assert world.notifier.closed == ["tab"]
    assert telemetry.metric_values()["TokenRefreshes"] == 1


@pytest.mark.parametrize("token, reason", [
    (lambda: mint(sub="user-2"), "token belongs to another user"),
    (lambda: mint(sub="user-1", kid="key-2"), "unknown kid"),
    (lambda: mint(sub="user-1")[:-8] + "AAAAAAAA", "bad signature"),
    (lambda: mint(sub="user-1", iat=NOW - 7200, exp=NOW - 3600), "token expired"),
    (lambda: mint(sub="user-1", aud=["testclient123"]), "aud"),
    (lambda: mint(sub="user-1", token_use="access"), "token_use"),
    (lambda: "not.a.jwt", "malformed"),
])
def test_a_refresh_that_does_not_verify_is_token_invalid_and_the_connection_stays(world, telemetry, token, reason):
    world.connect("tab", "user-1", token_lifetime=600)
    secret = token()

    answer = refresh(world, "tab", secret)

    assert answer["type"] == "error" and answer["data"]["code"] == "TOKEN_INVALID"
    assert answer["version"] == "2.0"
    assert world.notifier.closed == [] and world.store.get("tab").token_expires_at == NOW + 600
    assert reason in answer["data"]["message"] or reason in json.dumps(telemetry.logs())
    assert secret not in telemetry.log_stream.getvalue()
    assert telemetry.metric_values()["TokenRefreshesRejected"] == 1


def test_a_refresh_rescues_a_connection_whose_token_just_ran_out(world):
    world.connect("tab", "user-1", token_lifetime=60)
    world.clock.advance(90)  # expired; the sweeper has not run yet

    answer = refresh(world, "tab", mint(now=NOW + 90, sub="user-1"))

    assert answer["type"] == "refreshed" and world.notifier.closed == []
    world.client_frame("tab", {"type": "ping", "version": "2.0"})
    assert world.frames("tab")[-1]["type"] == "pong"


def test_after_expiry_any_other_frame_is_token_expired_and_closes(world):
    world.connect("tab", "user-1", token_lifetime=60)
    world.clock.advance(90)

    world.client_frame("tab", {"type": "resume", "version": "2.0", "data": {"positions": {}}})

    assert world.frames("tab")[-1]["data"]["code"] == "TOKEN_EXPIRED" and world.notifier.closed == ["tab"]


def test_global_entries_are_readable_from_the_global_partition(world):
    world.connect("tab", "alice")
    world.send({"all": True}, "G")
    [entry] = world.log.entries(GLOBAL_PARTITION)
    data = json.loads(entry.frame)["data"]
    assert (data["stream"], data["epoch"], data["offset"]) == ("global", entry.epoch, entry.offset) == (
        "global", world.log.head(GLOBAL_PARTITION).epoch, 1)
