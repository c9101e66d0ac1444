"""botocore clients, built once per execution environment at handler import, from one session.

Timeouts are short (a Lambda waiting on a dead socket wastes its whole budget). The management API
client does not retry on its own: the broadcast service owns the backoff on 429 and counts retries.

Creating the first client is most of a handler's init after the imports, so it loads no more than the
clients need (ADR 0017): one botocore session for every client of the process (credentials and
botocore's event handlers set up once; boto3's own layer — resources, its session — is never used, so
it is not imported), and a data loader that knows which services the runtime calls.
"""

from __future__ import annotations

import functools
import os

import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader, instance_cache

#: Every AWS service the functions call. A client for any other fails at init with UnknownServiceError.
SERVICES = ("apigatewaymanagementapi", "dynamodb", "sqs")


class KnownServicesLoader(Loader):
    """botocore's data loader, except that the services it knows are :data:`SERVICES` (each still looked up
    on disk). botocore's own lists every directory of its data path — about 400 services, one ``stat``
    each, once per kind of file a client loads — to check that a name exists: a third of the first
    client's CPU."""

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        return [name for name in SERVICES if self._has(name, type_name)]

    def _has(self, service_name: str, type_name: str) -> bool:
        try:
            return bool(self.list_api_versions(service_name, type_name))
        except DataNotFoundError:
            return False


@functools.cache
def session() -> botocore.session.Session:
    """The process's botocore session (what ``boto3.client`` would share through its default session)."""
    shared = botocore.session.get_session()
    # AWS_DATA_PATH is honoured as botocore.loaders.create_loader does.
    extra = shared.get_config_variable("data_path")
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in extra.split(os.pathsep)] if extra else None
    shared.register_component("data_loader", KnownServicesLoader(extra_search_paths=paths))
    return shared


def dynamodb_client():
    return session().create_client("dynamodb", config=Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}))


def sqs_client():
    return session().create_client("sqs", config=Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}))


def management_api_client(endpoint_url: str, max_pool_connections: int = 10):
    return session().create_client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max(10, max_pool_connections)))
