from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from realtime.adapters.notification_log import DynamoNotificationLog

from tests.integration.aws import (
    NOTIFICATIONS_TABLE,
    REGION,
    TABLE,
    create_connections_table,
    create_notifications_table,
    create_queue,
)


@pytest.fixture
def aws(monkeypatch):
    """A fresh moto account with the connection table and the broadcast queue."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        create_connections_table(dynamodb)
        yield type("Aws", (), {"dynamodb": dynamodb, "sqs": sqs, "table": TABLE, "queue_url": create_queue(sqs)})


@pytest.fixture
def log(aws):
    """The notification-log table on the same moto account, and its adapter."""
    create_notifications_table(aws.dynamodb)
    return DynamoNotificationLog(aws.dynamodb, NOTIFICATIONS_TABLE)
