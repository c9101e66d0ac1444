"""Notifier over API Gateway's @connections management API, through boto3's client.

The runtime's handlers use :class:`realtime.adapters.management_api.ManagementApiNotifier` (same
requests, a fraction of the CPU); this one serves the ops CLI and is the benchmark's baseline.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from realtime.errors import DeliveryFailed, DeliveryUnavailable, DomainError, StaleConnection, Throttled
from realtime.ports import ConnectionInfo

_THROTTLE_CODES = {"LimitExceededException", "TooManyRequestsException", "ThrottlingException",
                   "ThrottledException"}


def management_api_error(code: str, status: int | None, connection_id: str) -> DomainError:
    """The domain error for an @connections error response (both notifiers)."""
    if code == "GoneException" or status == 410:
        return StaleConnection(connection_id)
    if code in _THROTTLE_CODES or status == 429:
        return Throttled(code or "429")
    if status is not None and status >= 500:
        return DeliveryUnavailable(f"{code or 'error'} ({status})")
    return DeliveryFailed(f"{code or 'error'} ({status})")


def _translate(error: ClientError, connection_id: str) -> Exception:
    return management_api_error(error.response.get("Error", {}).get("Code", ""),
                                error.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), connection_id)


def _below_http(error: BotoCoreError) -> DeliveryFailed:
    """Timeouts, refused and reset connections may pass (retried); a client-side error will not."""
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return DeliveryUnavailable(type(error).__name__)
    return DeliveryFailed(type(error).__name__)


class ApiGatewayNotifier:
    def __init__(self, client):
        self.client = client

    def send(self, connection_id: str, payload: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=payload)
        except ClientError as error:
            raise _translate(error, connection_id) from None
        except BotoCoreError as error:
            raise _below_http(error) from None

    def close(self, connection_id: str) -> None:
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as error:
            raise _translate(error, connection_id) from None
        except BotoCoreError as error:
            raise _below_http(error) from None

    def get(self, connection_id: str) -> ConnectionInfo:
        try:
            info = self.client.get_connection(ConnectionId=connection_id)
        except ClientError as error:
            raise _translate(error, connection_id) from None
        except BotoCoreError as error:
            raise _below_http(error) from None
        identity = info.get("Identity") or {}
        return ConnectionInfo(connected_at=info["ConnectedAt"].timestamp(),
                              last_active_at=info["LastActiveAt"].timestamp(),
                              source_ip=identity.get("SourceIp", ""), user_agent=identity.get("UserAgent", ""))
