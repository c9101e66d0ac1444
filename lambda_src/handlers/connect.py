"""$connect: register the connection under the global and per-user limits (503 / 429 when refused); at the
per-user cap, members API Gateway reports gone are removed first (ADR 0021)."""

from realtime.adapters.aws import dynamodb_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.config import ConnectConfig
from realtime.events import WebSocketRequest
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.connections import ConnectionService

from handlers import init_complete

#: GetConnection at the cap only; a slow probe must not hold the handshake (the function's timeout is 10 s).
PROBE_READ_TIMEOUT_SECONDS = 2.0

CONFIG = ConnectConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)


def probe_notifier():
    """GetConnection for the connects at the per-user cap only: imported and built by the first of them,
    not at init (ADR 0017)."""
    from realtime.adapters.management_api import ManagementApiNotifier

    return ManagementApiNotifier.from_environment(CONFIG.connections_endpoint, max_connections=CONFIG.per_user_limit,
                                                  read_timeout=PROBE_READ_TIMEOUT_SECONDS)


SERVICE = ConnectionService(DynamoConnectionStore(dynamodb_client(), CONFIG.table_name), SystemClock(), LOGGER,
                            METRICS, global_limit=CONFIG.global_limit, per_user_limit=CONFIG.per_user_limit,
                            notifier=probe_notifier)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    request = WebSocketRequest.from_event(event)
    outcome = SERVICE.connect(request.connection_id, request.user_id, request.token_expires_at)
    return {"statusCode": outcome.status_code, "body": outcome.reason}


init_complete()
