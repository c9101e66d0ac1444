"""Handlers imported the way Lambda does (module init reads the env, builds clients), fed the
documented event shapes from tests/events/, against moto; @connections is a recording fake because
moto's management API cannot answer Gone (../shared/TOOLCHAIN.md)."""

from __future__ import annotations

import copy
import importlib
import json
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from realtime.adapters.memory import RecordingNotifier

from tests.integration.aws import (
    NOTIFICATIONS_TABLE,
    REGION,
    TABLE,
    create_connections_table,
    create_notifications_table,
    create_queue,
)
from tests.unit.tokens import CLIENT_ID, ISSUER, JwksServer

EVENTS = Path(__file__).resolve().parents[1] / "events"

LAMBDA_ENV = {
    "ENVIRONMENT": "test", "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Realtime/test",
    "CONNECTIONS_TABLE": TABLE, "CONNECTIONS_ENDPOINT": "https://abcdef123.execute-api.eu-west-1.amazonaws.com/test",
    "GLOBAL_CONNECTION_LIMIT": "5", "PER_USER_CONNECTION_LIMIT": "3",
    "MAX_MESSAGE_BYTES": "4096", "MESSAGE_RATE_LIMIT_PER_MINUTE": "30", "MAX_RATE_VIOLATIONS": "3",
    "BROADCAST_CONCURRENCY": "8", "BROADCAST_SCAN_SEGMENTS": "2", "ANNOUNCEMENT_INTERVAL_SECONDS": "60",
    "NOTIFICATIONS_TABLE": NOTIFICATIONS_TABLE, "NOTIFICATION_RETENTION_SECONDS": "86400",
    "RESUME_MAX_NOTIFICATIONS": "100", "READ_BUDGET_ITEMS": "2500", "READ_BUDGET_WINDOW_SECONDS": "600",
    "COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool",
    "COGNITO_JWKS_URL": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool/.well-known/jwks.json",
    "COGNITO_CLIENT_IDS": "test-client", "COGNITO_TOKEN_USE": "id", "MAX_TOKEN_AGE_SECONDS": "86400",
    "JWKS_CACHE_TTL_SECONDS": "3600",
    "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
}


def load_event(name: str) -> dict:
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))


class LambdaContext:
    def __init__(self, remaining_millis: int = 60_000):
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "realtime-test-fn"
        self._remaining = remaining_millis

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


def import_handler(name: str):
    """Import (or re-import) ``handlers.<name>`` so its init runs against the current env and mock."""
    module_name = f"handlers.{name}"
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


@pytest.fixture
def aws(monkeypatch):
    for key, value in LAMBDA_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        create_connections_table(dynamodb)
        create_notifications_table(dynamodb)
        queue_url = create_queue(sqs)
        monkeypatch.setenv("BROADCAST_QUEUE_URL", queue_url)
        yield type("Aws", (), {"dynamodb": dynamodb, "sqs": sqs, "table": TABLE, "queue_url": queue_url,
                               "notifications_table": NOTIFICATIONS_TABLE})


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


def row(aws, connection_id: str) -> dict | None:
    return aws.dynamodb.get_item(TableName=aws.table, Key={"connectionId": {"S": connection_id}}).get("Item")


def counter(aws) -> int:
    item = row(aws, "#counter") or {}
    return int(item.get("active", {}).get("N", "0"))


def emf(stdout: str) -> dict[str, float]:
    """Sum of every EMF metric printed to stdout."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values[metric["Name"]] = values.get(metric["Name"], 0) + document[metric["Name"]]
    return values


def connect_event(connection_id: str = "BFHPhfCWIAMCKlQ=", user_id: str = "user-1",
                  expires_at: int = 1_750_003_540) -> dict:
    """The documented $connect event for another connection, user and token expiry."""
    event = load_event("connect")
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["authorizer"].update(principalId=user_id, userId=user_id, tokenExpiresAt=str(expires_at))
    return event


@pytest.fixture
def authorizer(monkeypatch):
    """The authorizer handler with its JWKS served on 127.0.0.1: (module, JwksServer)."""
    server = JwksServer()
    for key, value in {
        "ENVIRONMENT": "test", "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Realtime/test",
        "COGNITO_ISSUER": ISSUER, "COGNITO_JWKS_URL": server.url, "COGNITO_CLIENT_IDS": f"{CLIENT_ID},other",
        "COGNITO_TOKEN_USE": "id", "ALLOWED_ORIGINS": "https://dev.brickhub.example,http://localhost:3000",
        "ALLOW_MISSING_ORIGIN": "false", "MAX_TOKEN_AGE_SECONDS": "86400", "JWKS_CACHE_TTL_SECONDS": "3600",
    }.items():
        monkeypatch.setenv(key, value)
    module = import_handler("authorizer")
    yield module, server
    server.close()
