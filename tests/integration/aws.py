"""The connection table and broadcast queue exactly as docs/contracts.md describes them, under moto."""

from __future__ import annotations

import threading

REGION = "eu-west-1"
TABLE = "realtime-test-connections"
NOTIFICATIONS_TABLE = "realtime-test-notifications"
QUEUE = "realtime-test-broadcast"


def create_connections_table(dynamodb, name: str = TABLE) -> None:
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "connectionId", "AttributeType": "S"},
            {"AttributeName": "userId", "AttributeType": "S"},
            {"AttributeName": "expiryBucket", "AttributeType": "S"},
            {"AttributeName": "tokenExpiresAt", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "byUser", "KeySchema": [{"AttributeName": "userId", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "byTokenExpiry",
             "KeySchema": [{"AttributeName": "expiryBucket", "KeyType": "HASH"},
                           {"AttributeName": "tokenExpiresAt", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
    )
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                          "AttributeName": "expiresAt"})


def create_notifications_table(dynamodb, name: str = NOTIFICATIONS_TABLE) -> None:
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "userId", "AttributeType": "S"},
                              {"AttributeName": "cursor", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "userId", "KeyType": "HASH"}, {"AttributeName": "cursor", "KeyType": "RANGE"}],
    )
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                          "AttributeName": "expiresAt"})


def create_queue(sqs, name: str = QUEUE) -> str:
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def receive_all(sqs, queue_url: str) -> list[str]:
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


class FlakyClient:
    """Wraps a boto3 client; the named operation raises the given AWS error ``times`` times first."""

    def __init__(self, client, operation: str, code: str, times: int = 1, status: int = 400, reasons=None):
        self._client = client
        self._operation = operation
        self._code = code
        self._status = status
        self._reasons = reasons
        self.remaining = times
        self.calls = 0

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs):
            self.calls += 1
            if self.remaining > 0:
                self.remaining -= 1
                from botocore.exceptions import ClientError

                response = {"Error": {"Code": self._code, "Message": "injected by the test"},
                            "ResponseMetadata": {"HTTPStatusCode": self._status}}
                if self._reasons is not None:
                    response["CancellationReasons"] = self._reasons
                raise ClientError(response, name)
            return attribute(**kwargs)

        return call


class SerializedClient:
    """moto's DynamoDB backend is not thread-safe (a concurrent TransactWriteItems can fail with
    "dictionary changed size during iteration"); real DynamoDB is. Tests whose code calls the store from
    several threads go through this proxy so that moto sees one call at a time, while the interleaving
    between calls (the part our code is responsible for) stays concurrent."""

    _lock = threading.Lock()

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return call
