"""ADR 0021: at the per-user cap, $connect removes the members API Gateway answers 410 for — and nothing else."""

from __future__ import annotations

import pytest
from realtime.errors import DeliveryUnavailable, StoreUnavailable, Throttled
from realtime.services.connections import CONNECT_GRACE_SECONDS, ConnectionService

from tests.unit.tokens import NOW

LIMIT = 3


@pytest.fixture
def service(store, clock, telemetry, notifier):
    return ConnectionService(store, clock, telemetry.logger, telemetry.metrics, global_limit=100,
                             per_user_limit=LIMIT, notifier=lambda: notifier)


def fill(service, clock, user: str = "user-1") -> list[str]:
    """``LIMIT`` connections of ``user``, then time passes beyond the grace."""
    ids = [f"tab-{n}" for n in range(LIMIT)]
    for connection_id in ids:
        assert service.connect(connection_id, user, NOW + 3600).status_code == 200
    clock.advance(CONNECT_GRACE_SECONDS + 1)
    return ids


def test_gone_members_are_removed_and_the_connect_succeeds(service, store, clock, notifier, telemetry):
    ids = fill(service, clock)
    notifier.gone.update(ids[:2])  # two dropped without a $disconnect (yet)

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 200

    assert set(store.members("user-1")) == {ids[2], "tab-new"}
    assert store.get(ids[0]) is None and store.get(ids[1]) is None
    assert store.counter == 2
    assert telemetry.metric_values()["GoneConnectionsEvicted"] == 2
    # the late $disconnect of an evicted connection changes nothing
    assert service.disconnect(ids[0]) is False and store.counter == 2


def test_open_members_are_never_removed(service, store, clock, notifier, telemetry):
    ids = fill(service, clock)

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429

    assert set(store.members("user-1")) == set(ids) and store.counter == LIMIT
    assert notifier.closed == []  # probing never closes anything
    assert telemetry.metric_values()["ConnectionsRefused"] == 1


def test_members_inside_the_grace_are_not_probed(service, store, clock, notifier):
    """A 410 for a connection younger than the grace may mean it is still inside its own $connect."""
    for connection_id in ("tab-0", "tab-1", "tab-2"):
        assert service.connect(connection_id, "user-1", NOW + 3600).status_code == 200
    clock.advance(CONNECT_GRACE_SECONDS - 1)
    notifier.opening.update({"tab-0", "tab-1", "tab-2"})
    attempts = notifier.attempts

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429

    assert notifier.attempts == attempts
    assert set(store.members("user-1")) == {"tab-0", "tab-1", "tab-2"}


@pytest.mark.parametrize("failure", [Throttled("LimitExceededException"), DeliveryUnavailable("503"),
                                     DeliveryUnavailable("read timeout")])
def test_a_probe_that_fails_is_not_taken_for_gone(service, store, clock, notifier, telemetry, failure):
    ids = fill(service, clock)
    for connection_id in ids:
        notifier.faults[connection_id] = [failure]

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429

    assert set(store.members("user-1")) == set(ids) and store.counter == LIMIT
    assert telemetry.metric_values()["ConnectionProbesFailed"] == LIMIT


def test_one_failed_probe_does_not_keep_the_gone_ones(service, store, clock, notifier):
    ids = fill(service, clock)
    notifier.faults[ids[0]] = [DeliveryUnavailable("503")]
    notifier.gone.add(ids[1])

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 200
    assert set(store.members("user-1")) == {ids[0], ids[2], "tab-new"}


def test_another_connect_taking_the_freed_place_still_gets_429(service, store, clock, notifier, telemetry):
    ids = fill(service, clock)
    notifier.gone.add(ids[0])
    remove_stale = store.remove_stale

    def remove_then_race(connection_id: str, connected_before: int) -> bool:
        removed = remove_stale(connection_id, connected_before)
        assert service.connect("tab-racer", "user-1", NOW + 3600).status_code == 200  # (its own probe finds nothing)
        return removed

    store.remove_stale = remove_then_race

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429
    assert set(store.members("user-1")) == {ids[1], ids[2], "tab-racer"} and store.counter == LIMIT


def test_without_a_notifier_the_cap_refuses_on_the_membership(store, clock, telemetry, notifier):
    service = ConnectionService(store, clock, telemetry.logger, telemetry.metrics, global_limit=100,
                                per_user_limit=LIMIT)
    ids = fill(service, clock)
    notifier.gone.update(ids)

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429
    assert set(store.members("user-1")) == set(ids)


def test_a_membership_read_that_fails_refuses_with_429(service, store, clock, notifier):
    fill(service, clock)

    def unavailable(user_id: str) -> dict[str, int]:
        raise StoreUnavailable("InternalServerError")

    store.members = unavailable

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429


def test_only_a_connect_at_the_cap_probes_and_only_its_users_members(service, store, clock, notifier):
    ids = fill(service, clock)
    for n in range(LIMIT):
        assert service.connect(f"other-{n}", "user-2", NOW + 3600).status_code == 200
    clock.advance(CONNECT_GRACE_SECONDS + 1)
    notifier.gone.update({*ids, "other-0"})

    assert service.connect("x-new", "user-3", NOW + 3600).status_code == 200  # below its cap: no probe
    assert notifier.attempts == 0
    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 200
    assert notifier.attempts == LIMIT
    assert store.get("other-0") is not None
