"""Sweeper on in-memory adapters: expired tokens closed within two minutes, cost follows the expiring
buckets only, gone rows removed, counter reconciled."""

from __future__ import annotations

import json

import pytest
from realtime.errors import Throttled
from realtime.ports import Connection
from realtime.services.sweeper import LOOKBACK_MINUTES, SweeperService

from tests.unit.tokens import NOW


@pytest.fixture
def sweeper(store, notifier, clock, telemetry):
    return SweeperService(store, notifier, clock, telemetry.logger, telemetry.metrics, global_limit=100)


def add(store, connection_id, expires_at, user="user-1"):
    store.add(Connection(connection_id, user, NOW - 600, expires_at), global_limit=10**6, per_user_limit=10**6)


def test_expired_connections_get_token_expired_and_are_closed(sweeper, store, notifier, clock, telemetry):
    add(store, "expired-1", NOW - 30)
    add(store, "expired-2", NOW - 90)
    add(store, "valid", NOW + 30)

    report = sweeper.run("req-1")

    assert (report.expired, report.closed) == (2, 2)
    assert sorted(notifier.closed) == ["expired-1", "expired-2"]
    for connection_id in ("expired-1", "expired-2"):
        [frame] = [json.loads(p) for p in notifier.messages(connection_id)]
        assert frame["data"]["code"] == "TOKEN_EXPIRED" and frame["data"]["requestId"] == "req-1"
    assert list(store.rows) == ["valid"] and store.counter == 1
    assert notifier.messages("valid") == []
    assert telemetry.metric_values()["TokensExpired"] == 2


def test_every_token_is_closed_within_two_minutes_of_expiry(sweeper, store, notifier, clock):
    expiries = {f"c{offset}": NOW + offset for offset in range(0, 600, 7)}
    for connection_id, expires_at in expiries.items():
        add(store, connection_id, expires_at)
    closed_at = {}

    for _ in range(12):  # one run a minute
        clock.advance(60)
        sweeper.run()
        for connection_id in notifier.closed:
            closed_at.setdefault(connection_id, clock.now())

    assert set(closed_at) == {cid for cid, exp in expiries.items() if exp <= clock.now()}
    assert max(closed_at[cid] - expiries[cid] for cid in closed_at) <= 120


def test_cost_follows_expiring_buckets_not_table_size(sweeper, store, clock):
    for index in range(500):
        add(store, f"long-{index}", NOW + 3600 + index)
    add(store, "expiring", NOW - 10)
    queried = []
    real = store.expiring
    store.expiring = lambda bucket, until: queried.append(bucket) or real(bucket, until)

    report = sweeper.run()

    assert report.closed == 1
    assert len(queried) == LOOKBACK_MINUTES + 1
    assert queried[-1] == f"exp#{NOW // 60}"


def test_gone_expired_rows_are_removed_as_stale(sweeper, store, notifier, telemetry):
    add(store, "gone", NOW - 5)
    notifier.gone.add("gone")

    report = sweeper.run()

    assert (report.stale_removed, report.closed) == (1, 0)
    assert store.rows == {} and store.counter == 0
    assert telemetry.metric_values()["StaleRowsRemoved"] == 1


def test_throttled_close_is_retried_by_the_next_run(sweeper, store, notifier, clock):
    add(store, "busy", NOW - 5)
    notifier.faults["busy"] = [Throttled("429")]

    first = sweeper.run()
    clock.advance(60)
    second = sweeper.run()

    assert (first.failed, second.closed) == (1, 1)
    assert "busy" in notifier.closed and store.rows == {}


@pytest.mark.parametrize("drift", [+7, -3])
def test_counter_drift_is_reconciled(sweeper, store, telemetry, drift):
    for index in range(5):
        add(store, f"c{index}", NOW + 3600)
    store.counter += drift

    report = sweeper.run()

    assert report.drift == -drift and report.active == 5 and store.counter == 5
    values = telemetry.metric_values()
    assert values["CounterDrift"] == abs(drift) and values["ActiveConnections"] == 5
