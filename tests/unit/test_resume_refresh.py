"""``resume`` and ``refresh`` (protocol 1.1, ADR 0016) through the default function's service."""

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


def missed_while_away(world: World, count: int, user: str = "alice") -> str:
    """alice's tab gets N0, loses its connection, and `count` notifications are sent meanwhile."""
    world.connect("tab", user)
    world.send({"userIds": [user]}, "N0")
    cursor = world.last_cursor("tab")
    world.lose("tab")
    for index in range(1, count + 1):
        world.clock.advance(15)
        world.send({"userIds": [user]}, f"N{index}")
    world.connect("tab2", user)
    return cursor


# --- resume ------------------------------------------------------------------------------------

def test_resume_replays_exactly_what_was_missed_in_order_then_resumed(world, telemetry):
    after = missed_while_away(world, 3)

    resumed = world.resume("tab2", after)

    frames = world.frames("tab2")
    assert [f["type"] for f in frames] == ["notification"] * 3 + ["resumed"]
    assert [f["id"] for f in frames[:3]] == ["N1", "N2", "N3"]
    assert resumed == {"recovered": True, "replayed": 3}
    assert frames[-1]["version"] == "1.1" and frames[-1]["id"] == "r1"
    for frame in frames:
        validate_server_message(frame)
    # a replay is byte-identical to the live frame: same id, cursor and timestamp
    assert world.notifier.messages("tab2")[:3] == [entry.frame.encode() for entry in world.log.entries("alice")[1:]]
    metrics = telemetry.metric_values()
    assert metrics["Resumes"] == 1 and metrics["NotificationsReplayed"] == 3 and "ResumesNotRecovered" not in metrics


def test_user_and_global_streams_merge_in_cursor_order(world):
    world.connect("tab", "alice")
    world.send({"userIds": ["alice"]}, "N0")
    after = world.last_cursor("tab")
    world.lose("tab")
    for request_id, target in (("N1", {"userIds": ["alice"]}), ("G1", {"all": True}),
                               ("N2", {"userIds": ["alice"]}), ("G2", {"all": True})):
        world.clock.advance(20)
        world.send(target, request_id)
    world.connect("tab2", "alice")

    assert world.resume("tab2", after) == {"recovered": True, "replayed": 4}
    assert world.ids("tab2") == ["N1", "G1", "N2", "G2"]
    cursors = [f["data"]["cursor"] for f in world.notifications("tab2")]
    assert cursors == sorted(cursors)


@pytest.mark.parametrize("after", ["", "not-a-cursor", "1750000000000u" + "0" * 11, "9" * 13 + "x" + "0" * 12])
def test_a_malformed_cursor_is_not_recovered_and_replays_nothing(world, after):
    missed_while_away(world, 2)

    assert world.resume("tab2", after) == {"recovered": False, "replayed": 0}
    assert world.ids("tab2") == []


def test_an_unknown_or_foreign_cursor_is_not_recovered(world, telemetry):
    missed_while_away(world, 2)
    world.connect("bob-tab", "bob")
    world.send({"userIds": ["bob"]}, "B1")
    bobs = world.last_cursor("bob-tab")
    well_formed_but_never_stored = f"{NOW * 1000:013d}u{'0' * 12}"

    assert world.resume("tab2", bobs) == {"recovered": False, "replayed": 0}
    assert world.resume("tab2", well_formed_but_never_stored) == {"recovered": False, "replayed": 0}
    assert world.ids("tab2") == []
    assert telemetry.metric_values()["ResumesNotRecovered"] == 2


def test_a_purged_user_resumes_unrecovered(world):
    after = missed_while_away(world, 1)
    world.log.purge("alice")

    assert world.resume("tab2", after) == {"recovered": False, "replayed": 0}


def test_a_cursor_older_than_the_retention_replays_what_is_left_and_is_not_recovered(world):
    after = missed_while_away(world, 1)                  # N0 (the cursor) and N1 stored now
    world.clock.advance(RETENTION_SECONDS - 100)
    world.send({"userIds": ["alice"]}, "N2")            # still inside the window later
    world.clock.advance(200)                             # N0 and N1 have left it
    world.connect("tab3", "alice")

    assert world.resume("tab3", after) == {"recovered": False, "replayed": 1}
    assert world.ids("tab3") == ["N2"]


def test_entries_past_their_ttl_are_never_replayed_even_before_dynamodb_deletes_them(world):
    after = missed_while_away(world, 2)
    [_n0, n1, n2] = world.log.entries("alice")
    world.log.append([type(n1)(**{**n1.__dict__, "expires_at": NOW})])  # N1 expired (TTL not yet run)

    assert world.resume("tab2", after) == {"recovered": True, "replayed": 1}
    assert world.ids("tab2") == [n2.request_id]


def test_more_missed_than_the_bound_replays_the_oldest_and_is_not_recovered(world):
    after = missed_while_away(world, 7)  # bound is 5

    assert world.resume("tab2", after) == {"recovered": False, "replayed": 5}
    assert world.ids("tab2") == ["N1", "N2", "N3", "N4", "N5"]


def test_a_replay_that_cannot_be_delivered_is_reported_as_not_recovered(world):
    after = missed_while_away(world, 3)
    world.notifier.faults["tab2"] = [Throttled("429"), Throttled("429"), Throttled("429")]

    assert world.resume("tab2", after) == {"recovered": False, "replayed": 0}

    world.notifier.faults["tab2"] = [Throttled("429")]  # one retry is enough
    assert world.resume("tab2", after) == {"recovered": True, "replayed": 3}

    world.notifier.faults["tab2"] = [None, DeliveryFailed("500")][1:]
    assert world.resume("tab2", after) == {"recovered": False, "replayed": 0}


def test_resume_without_a_row_is_not_recovered(world):
    world.notifier.opening.discard("ghost")

    world.client_frame("ghost", {"type": "resume", "version": "1.1", "data": {"after": "x"}})

    [frame] = world.frames("ghost")
    assert frame["type"] == "resumed" and frame["data"] == {"recovered": False, "replayed": 0}


@pytest.mark.parametrize("frame, code", [
    ({"type": "resume", "version": "1.0", "data": {"after": "x"}}, "INVALID_MESSAGE"),
    ({"type": "resume", "version": "1.1", "data": {}}, "INVALID_MESSAGE"),
    ({"type": "resume", "version": "1.1", "data": {"after": 42}}, "INVALID_MESSAGE"),
    ({"type": "refresh", "version": "1.1", "data": {"token": ""}}, "INVALID_MESSAGE"),
    ({"type": "resume", "version": "1.2", "data": {"after": "x"}}, "UNSUPPORTED_VERSION"),
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
        world.client_frame("tab", {"type": "resume", "version": "1.1", "data": {"after": "x"}})

    world.client_frame("tab", {"type": "refresh", "version": "1.1", "data": {"token": mint(sub="alice")}})

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
    world.client_frame(connection, {"type": "refresh", "version": "1.1", "id": "f1", "data": {"token": token}})
    return world.frames(connection)[-1]


def test_refresh_moves_the_expiry_and_the_sweeper_keeps_the_connection(world, telemetry):
    # GIVEN alice's connection whose token expires in 2 minutes, and an expiry index that lags behind
    world.connect("tab", "user-1", token_lifetime=120)
    world.store.lag_index()
    new_exp = NOW + 3540
    # WHEN she refreshes with a fresh token of her own
    answer = refresh(world, "tab", mint(sub="user-1", exp=new_exp))
    # THEN the connection's expiry is the new token's
    assert answer == {"type": "refreshed", "version": "1.1", "id": "f1",
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
    assert answer["version"] == "1.1"
    assert world.notifier.closed == [] and world.store.get("tab").token_expires_at == NOW + 600
    assert reason in answer["data"]["message"] or reason in json.dumps(telemetry.logs())
    assert secret not in telemetry.log_stream.getvalue()
    assert telemetry.metric_values()["TokenRefreshesRejected"] == 1


def test_a_refresh_rescues_a_connection_whose_token_just_ran_out(world):
    world.connect("tab", "user-1", token_lifetime=60)
    world.clock.advance(90)  # expired; the sweeper has not run yet

    answer = refresh(world, "tab", mint(now=NOW + 90, sub="user-1"))

    assert answer["type"] == "refreshed" and world.notifier.closed == []
    world.client_frame("tab", {"type": "ping", "version": "1.1"})
    assert world.frames("tab")[-1]["type"] == "pong"


def test_after_expiry_any_other_frame_is_token_expired_and_closes(world):
    world.connect("tab", "user-1", token_lifetime=60)
    world.clock.advance(90)

    world.client_frame("tab", {"type": "resume", "version": "1.1", "data": {"after": "x"}})

    assert world.frames("tab")[-1]["data"]["code"] == "TOKEN_EXPIRED" and world.notifier.closed == ["tab"]


def test_global_entries_are_readable_from_the_global_partition(world):
    world.connect("tab", "alice")
    world.send({"all": True}, "G")
    [entry] = world.log.entries(GLOBAL_PARTITION)
    assert json.loads(entry.frame)["data"]["cursor"] == entry.cursor
