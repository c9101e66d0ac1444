"""Notifier over API Gateway's @connections management API."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from realtime.errors import DeliveryFailed, StaleConnection, Throttled

_THROTTLE_CODES = {"LimitExceededException", "TooManyRequestsException", "ThrottlingException",
                   "ThrottledException"}


def _translate(error: ClientError, connection_id: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "GoneException" or status == 410:
        return StaleConnection(connection_id)
    if code in _THROTTLE_CODES or status == 429:
        return Throttled(code or "429")
    return DeliveryFailed(f"{code or 'error'} ({status})")


class ApiGatewayNotifier:
    def __init__(self, client):
        self.client = client

    def send(self, connection_id: str, payload: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=payload)
        except ClientError as error:
            raise _translate(error, connection_id) from None
        except BotoCoreError as error:
            raise DeliveryFailed(type(error).__name__) from None

    def close(self, connection_id: str) -> None:
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as error:
            raise _translate(error, connection_id) from None
        except BotoCoreError as error:
            raise DeliveryFailed(type(error).__name__) from None
