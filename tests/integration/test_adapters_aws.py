"""SQS publisher under moto; @connections notifier error translation with botocore's Stubber."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from realtime.adapters.apigateway import ApiGatewayNotifier
from realtime.adapters.sqs import SqsQueuePublisher
from realtime.errors import DeliveryFailed, DeliveryUnavailable, StaleConnection, Throttled

from tests.integration.aws import receive_all


def test_publisher_sends_every_body_in_batches_of_ten(aws):
    bodies = [json.dumps({"n": index}) for index in range(23)]

    SqsQueuePublisher(aws.sqs, aws.queue_url).publish(bodies)

    received = receive_all(aws.sqs, aws.queue_url)
    assert sorted(received, key=lambda b: json.loads(b)["n"]) == bodies


@pytest.fixture
def management():
    client = boto3.client("apigatewaymanagementapi", region_name="eu-west-1",
                          endpoint_url="https://abc123.execute-api.eu-west-1.amazonaws.com/test",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.mark.parametrize("code, status, expected", [
    ("GoneException", 410, StaleConnection),
    ("LimitExceededException", 429, Throttled),
    ("TooManyRequestsException", 429, Throttled),
    ("InternalServerError", 500, DeliveryUnavailable),
    ("ForbiddenException", 403, DeliveryFailed),
])
def test_notifier_translates_management_api_errors(management, code, status, expected):
    client, stubber = management
    stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)
    stubber.add_client_error("delete_connection", service_error_code=code, http_status_code=status)
    notifier = ApiGatewayNotifier(client)

    with pytest.raises(expected):
        notifier.send("c1", b"{}")
    with pytest.raises(expected):
        notifier.close("c1")


def test_notifier_posts_the_payload(management):
    client, stubber = management
    stubber.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": b'{"type":"pong"}'})
    stubber.add_response("delete_connection", {}, {"ConnectionId": "c1"})

    ApiGatewayNotifier(client).send("c1", b'{"type":"pong"}')
    ApiGatewayNotifier(client).close("c1")

    stubber.assert_no_pending_responses()
