"""What each handler's init loads (ADR 0017): a fresh interpreter imports ``handlers.<fn>`` with its
variables, and the packages it must leave for later — or never load — are not in ``sys.modules``.
The authorizer's own contract (neither botocore nor pydantic) is tests/unit/test_authorizer_imports.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"

#: Every variable any function reads (docs/contracts.md); each handler reads only its own.
ENV = {
    "ENVIRONMENT": "test", "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Realtime/test",
    "CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "https://abc123.execute-api.eu-west-1.amazonaws.com/test",
    "GLOBAL_CONNECTION_LIMIT": "10", "PER_USER_CONNECTION_LIMIT": "3", "MAX_MESSAGE_BYTES": "4096",
    "MESSAGE_RATE_LIMIT_PER_MINUTE": "30", "MAX_RATE_VIOLATIONS": "3", "NOTIFICATIONS_TABLE": "n",
    "NOTIFICATION_RETENTION_SECONDS": "86400", "RESUME_MAX_NOTIFICATIONS": "100", "READ_BUDGET_ITEMS": "2500", "READ_BUDGET_WINDOW_SECONDS": "600",
    "BROADCAST_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/q", "BROADCAST_CONCURRENCY": "8",
    "BROADCAST_SCAN_SEGMENTS": "2", "ANNOUNCEMENT_INTERVAL_SECONDS": "60",
    "COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool",
    "COGNITO_JWKS_URL": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool/.well-known/jwks.json",
    "COGNITO_CLIENT_IDS": "a", "COGNITO_TOKEN_USE": "id", "MAX_TOKEN_AGE_SECONDS": "86400",
    "JWKS_CACHE_TTL_SECONDS": "3600", "ALLOWED_ORIGINS": "https://dev.brickhub.example", "ALLOW_MISSING_ORIGIN": "false",
    "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    # Nothing listens: an init that called AWS would fail here.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}
#: Top-level packages each handler's init must not load. boto3: clients come from botocore directly.
#: jose: default verifies a refresh's token on the first refresh (ADR 0016). pydantic: the sweeper builds
#: its one frame on the first expiry; connect and disconnect never parse a message.
NOT_AT_INIT = {
    "connect": {"boto3", "pydantic", "jose"},
    "disconnect": {"boto3", "pydantic", "jose"},
    "default": {"boto3", "jose"},
    "broadcast": {"boto3", "jose"},
    "sweeper": {"boto3", "pydantic", "jose"},
}

PROBE = """
import gc, json, sys
import {module}
print(json.dumps({{"modules": sorted({{name.split('.')[0] for name in sys.modules}}), "gc_enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}}))
"""


def after_init(module: str) -> dict:
    env = {**os.environ, **ENV, "PYTHONPATH": str(LAMBDA_SRC)}
    result = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=env, capture_output=True,
                            text=True, timeout=60, cwd=LAMBDA_SRC, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fn", sorted(NOT_AT_INIT))
def test_handler_init_leaves_what_it_does_not_need_every_time(fn):
    loaded = set(after_init(f"handlers.{fn}")["modules"])

    assert "botocore" in loaded  # the probe sees what the handler does load
    assert loaded & NOT_AT_INIT[fn] == set()


def test_the_probe_would_see_pydantic_if_the_sweeper_loaded_it():
    assert "pydantic" in after_init("handlers.sweeper, realtime.messages")["modules"]


@pytest.mark.parametrize("fn", [*sorted(NOT_AT_INIT), "authorizer"])
def test_garbage_collection_runs_after_init_with_what_init_built_frozen(fn):
    state = after_init(f"handlers.{fn}")

    assert state["gc_enabled"]
    assert state["frozen"] > 10_000  # botocore or jose, the config, the services


def test_the_collector_stays_paused_until_a_handler_module_completes_its_init():
    assert after_init("handlers")["gc_enabled"] is False
