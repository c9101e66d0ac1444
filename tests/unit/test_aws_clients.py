"""The runtime's botocore clients (realtime.adapters.aws): one session per process, and a data loader that
knows only the services the runtime calls, so building a client does not list botocore's ~400 services."""

from __future__ import annotations

import os

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from realtime.adapters import aws

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/test"


@pytest.fixture(autouse=True)
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _shape(client) -> tuple:
    model = client.meta.service_model
    return (client.meta.endpoint_url, client.meta.region_name, model.api_version, model.signing_name,
            sorted(model.operation_names), client.meta.config.connect_timeout, client.meta.config.read_timeout)


def test_each_client_is_the_one_botocore_builds_with_its_own_loader():
    # GIVEN a plain botocore session (botocore's default loader) beside the runtime's
    plain = botocore.session.get_session()
    built = {"dynamodb": aws.dynamodb_client(), "sqs": aws.sqs_client(),
             "apigatewaymanagementapi": aws.management_api_client(ENDPOINT)}

    # WHEN the plain session builds the same clients with the same options
    for name, client in built.items():
        reference = plain.create_client(name, config=client.meta.config,
                                        endpoint_url=ENDPOINT if name == "apigatewaymanagementapi" else None)

        # THEN endpoint, region, model version, signing name, operations and timeouts are the same
        assert _shape(client) == _shape(reference), name
    assert set(built) == set(aws.SERVICES)


def test_clients_share_one_session_with_the_runtime_loader():
    aws.dynamodb_client()
    aws.sqs_client()

    assert aws.session() is aws.session()
    assert isinstance(aws.session().get_component("data_loader"), aws.KnownServicesLoader)


@pytest.fixture
def listed(monkeypatch) -> list[str]:
    """Every directory botocore's loader lists from now on."""
    paths: list[str] = []
    real_listdir = os.listdir

    def recording(path):
        paths.append(os.path.realpath(path))
        return real_listdir(path)

    monkeypatch.setattr(botocore.loaders.os, "listdir", recording)
    return paths


DATA_ROOT = os.path.realpath(botocore.loaders.Loader.BUILTIN_DATA_PATH)


def test_building_a_client_does_not_list_every_service_directory(listed):
    # WHEN the runtime builds its DynamoDB client
    aws.dynamodb_client()

    # THEN the loader looked into the runtime's services' own directories, never the data root that holds all
    ours = [path for path in listed if path.startswith(DATA_ROOT)]
    assert ours and DATA_ROOT not in ours
    assert {path.removeprefix(DATA_ROOT + os.sep).split(os.sep)[0] for path in ours} <= set(aws.SERVICES)


def test_the_probe_sees_botocore_list_the_data_root(listed):
    botocore.session.get_session().create_client("dynamodb")

    assert DATA_ROOT in listed


def test_a_service_the_runtime_does_not_call_fails_with_the_ones_it_knows():
    with pytest.raises(UnknownServiceError) as raised:
        aws.session().create_client("s3")

    assert "apigatewaymanagementapi, dynamodb, sqs" in str(raised.value)
