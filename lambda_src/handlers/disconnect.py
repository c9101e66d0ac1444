"""$disconnect: remove the row; the counter moves only if a row was actually deleted (idempotent)."""

from realtime.adapters.aws import dynamodb_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.config import DisconnectConfig
from realtime.events import WebSocketRequest
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.connections import ConnectionService

from handlers import init_complete

CONFIG = DisconnectConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)
SERVICE = ConnectionService(DynamoConnectionStore(dynamodb_client(), CONFIG.table_name), SystemClock(), LOGGER,
                            METRICS)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    SERVICE.disconnect(WebSocketRequest.from_event(event).connection_id)
    return {"statusCode": 200}


init_complete()
