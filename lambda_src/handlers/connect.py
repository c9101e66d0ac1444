"""$connect: register the connection under the global and per-user limits (503 / 429 when refused)."""

from realtime.adapters.aws import dynamodb_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.config import ConnectConfig
from realtime.events import WebSocketRequest
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.connections import ConnectionService

from handlers import init_complete

CONFIG = ConnectConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)
SERVICE = ConnectionService(DynamoConnectionStore(dynamodb_client(), CONFIG.table_name), SystemClock(), LOGGER,
                            METRICS, global_limit=CONFIG.global_limit, per_user_limit=CONFIG.per_user_limit)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    request = WebSocketRequest.from_event(event)
    outcome = SERVICE.connect(request.connection_id, request.user_id, request.token_expires_at)
    return {"statusCode": outcome.status_code, "body": outcome.reason}


init_complete()
