"""$default: answer every client frame through @connections (pong or error); always 200 so the
connection stays open (the service closes it itself on sustained abuse or an expired token)."""

from realtime.adapters.apigateway import ApiGatewayNotifier
from realtime.adapters.aws import dynamodb_client, management_api_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.config import DefaultConfig
from realtime.events import WebSocketRequest
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.client_messages import ClientMessageService

CONFIG = DefaultConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common.function_name, CONFIG.common.log_level, CONFIG.common.metrics_namespace)
SERVICE = ClientMessageService(
    DynamoConnectionStore(dynamodb_client(), CONFIG.table_name),
    ApiGatewayNotifier(management_api_client(CONFIG.connections_endpoint)), SystemClock(), LOGGER, METRICS,
    max_message_bytes=CONFIG.max_message_bytes, rate_limit_per_minute=CONFIG.rate_limit_per_minute,
    max_rate_violations=CONFIG.max_rate_violations)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    request = WebSocketRequest.from_event(event)
    SERVICE.handle(request.connection_id, request.body, request.is_base64_encoded, request.request_id)
    return {"statusCode": 200}
