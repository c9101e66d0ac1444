"""Scheduled every minute: close expired-token connections, remove gone rows, reconcile the counter."""

from realtime.adapters.aws import dynamodb_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.adapters.management_api import ManagementApiNotifier
from realtime.config import SweeperConfig
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.sweeper import SweeperService

from handlers import init_complete

CONFIG = SweeperConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)
SERVICE = SweeperService(
    DynamoConnectionStore(dynamodb_client(), CONFIG.table_name),
    ManagementApiNotifier.from_environment(CONFIG.connections_endpoint), SystemClock(), LOGGER, METRICS,
    global_limit=CONFIG.global_limit)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    return SERVICE.run(getattr(context, "aws_request_id", "")).as_dict()


init_complete()
