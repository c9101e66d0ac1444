"""While the local stack stops, the emulator refuses new broadcasts but accepts the broadcast
function's own segment jobs (wsctl/local/emulator.py), so nothing is accepted and then dropped."""

from __future__ import annotations

import json
import warnings

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sqs.models import SQSBackend

from wsctl.local import emulator

NEW = json.dumps({"id": "r-1", "target": {"userIds": ["u"]}, "notification": {"kind": "set.created", "title": "t"}})
SEGMENT_JOB = json.dumps({"id": "r-2", "target": {"all": True}, "notification": {"kind": "set.created", "title": "t"},
                          "segment": {"index": 0, "total": 2}})


@pytest.fixture
def sqs(monkeypatch):
    # the patch replaces class attributes: monkeypatch puts the originals back afterwards
    monkeypatch.setattr(SQSBackend, "send_message", SQSBackend.send_message)
    monkeypatch.setattr(SQSBackend, "send_message_batch", SQSBackend.send_message_batch)
    monkeypatch.setattr(emulator, "BROADCASTS_REFUSED", emulator.threading.Event())
    emulator.refuse_new_broadcasts_when_stopping()
    warnings.filterwarnings("ignore", message="Exception.LocalStackStopping. with code", category=UserWarning)
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        url = client.create_queue(QueueName="broadcast")["QueueUrl"]
        yield client, url


def queued(client, url) -> int:
    return int(client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])


def test_before_the_stop_everything_is_accepted(sqs):
    client, url = sqs
    client.send_message(QueueUrl=url, MessageBody=NEW)
    client.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": NEW}])
    assert queued(client, url) == 2


def test_during_the_stop_a_new_broadcast_is_refused_with_a_clear_error(sqs):
    client, url = sqs
    emulator.BROADCASTS_REFUSED.set()
    with pytest.raises(ClientError) as refused:
        client.send_message(QueueUrl=url, MessageBody=NEW)
    assert refused.value.response["Error"]["Code"] == "LocalStackStopping"
    assert "stopping" in refused.value.response["Error"]["Message"]
    # a 400: the SDKs do not retry it into a stopped emulator
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    with pytest.raises(ClientError):
        client.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": SEGMENT_JOB},
                                                         {"Id": "2", "MessageBody": NEW}])
    assert queued(client, url) == 0  # refused means not stored either


def test_during_the_stop_segment_jobs_of_an_accepted_broadcast_still_go_through(sqs):
    client, url = sqs
    emulator.BROADCASTS_REFUSED.set()
    client.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": SEGMENT_JOB}])
    client.send_message(QueueUrl=url, MessageBody=SEGMENT_JOB)
    assert queued(client, url) == 2


def test_what_counts_as_a_new_broadcast():
    assert emulator.is_new_broadcast(NEW)
    assert emulator.is_new_broadcast("not json")
    assert emulator.is_new_broadcast("[1]")
    assert not emulator.is_new_broadcast(SEGMENT_JOB)
