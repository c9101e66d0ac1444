"""$default: answer each client frame via @connections; always 200 (the service closes abusers itself)."""

from realtime.adapters.aws import dynamodb_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.adapters.management_api import ManagementApiNotifier
from realtime.adapters.notification_log import DynamoNotificationLog, DynamoReadStateStore
from realtime.config import DefaultConfig
from realtime.events import WebSocketRequest
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.client_messages import ClientMessageService
from realtime.services.inbox import InboxService
from realtime.services.replay import HeadReader, ReplayPlanner
from realtime.verification import lazy_token_verifier

from handlers import init_complete

CONFIG = DefaultConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)
DYNAMODB = dynamodb_client()
STORE = DynamoConnectionStore(DYNAMODB, CONFIG.table_name)
LOG = DynamoNotificationLog(DYNAMODB, CONFIG.notifications_table)
SERVICE = ClientMessageService(
    STORE,
    ManagementApiNotifier.from_environment(CONFIG.connections_endpoint), SystemClock(), LOGGER, METRICS,
    max_message_bytes=CONFIG.max_message_bytes, rate_limit_per_minute=CONFIG.rate_limit_per_minute,
    max_rate_violations=CONFIG.max_rate_violations,
    replay=ReplayPlanner(LOG, STORE, max_notifications=CONFIG.resume_max_notifications,
                         budget_items=CONFIG.read_budget_items, budget_window_seconds=CONFIG.read_budget_window_seconds),
    heads=HeadReader(LOG),
    inbox=InboxService(LOG, DynamoReadStateStore(DYNAMODB, CONFIG.notifications_table), STORE,
                       retention_seconds=CONFIG.retention_seconds, budget_items=CONFIG.read_budget_items,
                       budget_window_seconds=CONFIG.read_budget_window_seconds),
    verifier=lazy_token_verifier(CONFIG.token))


@instrumented(LOGGER, METRICS)
def handler(event, context):
    request = WebSocketRequest.from_event(event)
    SERVICE.handle(request.connection_id, request.body, request.is_base64_encoded, request.request_id)
    return {"statusCode": 200}


init_complete()
