"""boto3 clients, built once per execution environment at handler import.

Timeouts are short (a Lambda waiting on a dead socket wastes its whole budget). The management API
client does not retry on its own: the broadcast service owns the backoff on 429 and counts retries.
"""

from __future__ import annotations

import boto3
from botocore.config import Config


def dynamodb_client():
    return boto3.client("dynamodb", config=Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}))


def sqs_client():
    return boto3.client("sqs", config=Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}))


def management_api_client(endpoint_url: str, max_pool_connections: int = 10):
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max(10, max_pool_connections)))
