"""Connect/disconnect on the in-memory store: limits refuse without writing, disconnect is idempotent."""

from __future__ import annotations

import pytest
from realtime.errors import Throttled
from realtime.ports import Connection
from realtime.services.connections import ConnectionService

from tests.unit.tokens import NOW


@pytest.fixture
def service(store, clock, telemetry):
    return ConnectionService(store, clock, telemetry.logger, telemetry.metrics, global_limit=3, per_user_limit=2)


def test_connect_writes_the_contract_row_and_counts_it(service, store, telemetry):
    outcome = service.connect("c1", "user-1", NOW + 3600)

    assert outcome.status_code == 200
    assert store.get("c1") == Connection("c1", "user-1", connected_at=NOW, token_expires_at=NOW + 3600)
    assert store.get("c1").expiry_bucket == f"exp#{(NOW + 3600) // 60}"
    assert store.get("c1").expires_at == NOW + 7200 + 600
    assert store.counter == 1
    assert telemetry.metric_values() == {"ActiveConnections": 1}


def test_global_limit_refuses_with_503_and_writes_nothing(service, store, telemetry):
    for index in range(3):
        assert service.connect(f"c{index}", f"user-{index}", NOW + 3600).status_code == 200

    outcome = service.connect("c-over", "user-9", NOW + 3600)

    assert outcome.status_code == 503
    assert store.get("c-over") is None and store.counter == 3 and len(store.rows) == 3
    assert telemetry.metric_values()["ConnectionsRefused"] == 1


def test_per_user_cap_refuses_with_429(service, store):
    assert service.connect("tab-1", "user-1", NOW + 3600).status_code == 200
    assert service.connect("tab-2", "user-1", NOW + 3600).status_code == 200

    assert service.connect("tab-3", "user-1", NOW + 3600).status_code == 429
    assert store.get("tab-3") is None and store.counter == 2
    assert service.connect("other", "user-2", NOW + 3600).status_code == 200


def test_connect_without_authorizer_context_is_refused(service, store):
    assert service.connect("c1", None, None).status_code == 401
    assert store.rows == {} and store.counter == 0


def test_store_throttling_refuses_with_503(service, store, telemetry):
    def throttled(*args, **kwargs):
        raise Throttled("ProvisionedThroughputExceededException")

    store.add = throttled

    assert service.connect("c1", "user-1", NOW + 3600).status_code == 503
    assert store.rows == {} and store.counter == 0
    assert telemetry.logs()[-1]["reason"] == "connection store throttled"


def test_disconnect_is_idempotent_and_decrements_once(service, store, telemetry):
    service.connect("c1", "user-1", NOW + 3600)
    service.connect("c2", "user-2", NOW + 3600)

    assert service.disconnect("c1") is True
    assert service.disconnect("c1") is False
    assert service.disconnect("never-connected") is False

    assert store.counter == 1 and list(store.rows) == ["c2"]


def test_a_slot_freed_by_disconnect_can_be_reused(service, store):
    for index in range(3):
        service.connect(f"c{index}", f"user-{index}", NOW + 3600)
    service.disconnect("c0")

    assert service.connect("c-new", "user-9", NOW + 3600).status_code == 200
    assert store.counter == 3
