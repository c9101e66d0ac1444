"""$connect / $disconnect handlers on the documented event shapes, against moto."""

from __future__ import annotations

import pytest
from realtime.config import ConfigError

from tests.handlers.conftest import (
    LambdaContext,
    connect_event,
    counter,
    emf,
    import_handler,
    load_event,
    row,
)


def test_connect_stores_the_row_from_the_authorizer_context(aws, capsys):
    connect = import_handler("connect")

    response = connect.handler(load_event("connect"), LambdaContext())

    assert response["statusCode"] == 200
    stored = row(aws, "BFHPhfCWIAMCKlQ=")
    assert stored["userId"] == {"S": "user-1"} and stored["tokenExpiresAt"] == {"N": "1750003540"}
    assert stored["expiryBucket"] == {"S": f"exp#{1_750_003_540 // 60}"}
    assert counter(aws) == 1
    out = capsys.readouterr().out
    assert emf(out) == {"ActiveConnections": 1}
    assert "<never read by $connect>" not in out  # no query string in the logs


def test_connect_refuses_over_the_limits_and_writes_nothing(aws):
    connect = import_handler("connect")  # GLOBAL_CONNECTION_LIMIT=5, PER_USER_CONNECTION_LIMIT=3

    statuses = [connect.handler(connect_event(f"tab-{i}", "alice"), LambdaContext())["statusCode"] for i in range(4)]
    statuses += [connect.handler(connect_event(f"other-{i}", f"user-{i}"), LambdaContext())["statusCode"]
                 for i in range(3)]

    assert statuses == [200, 200, 200, 429, 200, 200, 503]
    assert row(aws, "tab-3") is None and row(aws, "other-2") is None
    assert counter(aws) == 5


def test_disconnect_removes_the_row_once(aws, capsys):
    connect, disconnect = import_handler("connect"), import_handler("disconnect")
    connect.handler(load_event("connect"), LambdaContext())

    first = disconnect.handler(load_event("disconnect"), LambdaContext())
    second = disconnect.handler(load_event("disconnect"), LambdaContext())

    assert first == second == {"statusCode": 200}
    assert row(aws, "BFHPhfCWIAMCKlQ=") is None and counter(aws) == 0
    assert emf(capsys.readouterr().out)["ActiveConnections"] == 1  # connect's 1, then disconnect's 0


def test_missing_variable_fails_init_with_its_name(aws, monkeypatch):
    monkeypatch.delenv("GLOBAL_CONNECTION_LIMIT")

    with pytest.raises(ConfigError, match="GLOBAL_CONNECTION_LIMIT"):
        import_handler("connect")


def test_malformed_variable_fails_init_with_its_name(aws, monkeypatch):
    monkeypatch.setenv("BROADCAST_SCAN_SEGMENTS", "four")

    with pytest.raises(ConfigError, match="BROADCAST_SCAN_SEGMENTS"):
        import_handler("broadcast")
