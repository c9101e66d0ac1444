"""ADR 0021 on the DynamoDB adapter under moto: at the per-user cap, the members GetConnection answers 410 for
are removed (row, membership entry and counter), the open ones stay, and the connect is counted once."""

from __future__ import annotations

from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.adapters.memory import FakeClock, RecordingNotifier
from realtime.services.connections import CONNECT_GRACE_SECONDS, ConnectionService

from tests.unit.conftest import Telemetry

NOW = 1_750_000_000


def test_gone_members_free_their_places_in_the_table(aws):
    store = DynamoConnectionStore(aws.dynamodb, aws.table)
    clock, notifier, telemetry = FakeClock(float(NOW)), RecordingNotifier(), Telemetry()
    service = ConnectionService(store, clock, telemetry.logger, telemetry.metrics, global_limit=100,
                                per_user_limit=3, notifier=lambda: notifier)
    for connection_id in ("tab-0", "tab-1", "tab-2"):
        assert service.connect(connection_id, "user-1", NOW + 3600).status_code == 200
    assert service.connect("x", "user-2", NOW + 3600).status_code == 200
    clock.advance(CONNECT_GRACE_SECONDS + 1)

    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 429  # all three still open

    notifier.gone.update({"tab-0", "tab-2"})
    assert service.connect("tab-new", "user-1", NOW + 3600).status_code == 200

    assert set(store.members("user-1")) == {"tab-1", "tab-new"}
    assert store.get("tab-0") is None and store.get("tab-2") is None
    assert store.active_count() == 3 == store.count_connections()
    assert service.disconnect("tab-0") is False and store.active_count() == 3  # the late $disconnect
