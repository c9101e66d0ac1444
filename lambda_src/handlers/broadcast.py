"""SQS-triggered fan-out of broadcast requests; failed records go back as batch item failures."""

from realtime.adapters.aws import dynamodb_client, sqs_client
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.adapters.management_api import ManagementApiNotifier
from realtime.adapters.notification_log import DynamoNotificationLog
from realtime.adapters.sqs import SqsQueuePublisher
from realtime.config import BroadcastConfig
from realtime.events import queue_messages
from realtime.observability import instrumented, telemetry
from realtime.ports import SystemClock
from realtime.services.broadcast import BroadcastService
from realtime.services.fan_out import FanOut

from handlers import init_complete

CONFIG = BroadcastConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)
DYNAMODB = dynamodb_client()
STORE = DynamoConnectionStore(DYNAMODB, CONFIG.table_name)
NOTIFIER = ManagementApiNotifier.from_environment(CONFIG.connections_endpoint, CONFIG.concurrency)
SERVICE = BroadcastService(STORE, FanOut(NOTIFIER, STORE, concurrency=CONFIG.concurrency, logger=LOGGER, metrics=METRICS),
                           SqsQueuePublisher(sqs_client(), CONFIG.queue_url), SystemClock(), LOGGER, METRICS,
                           scan_segments=CONFIG.scan_segments, announcement_interval_seconds=CONFIG.announcement_interval_seconds,
                           log=DynamoNotificationLog(DYNAMODB, CONFIG.notifications_table),
                           retention_seconds=CONFIG.retention_seconds)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    failures = SERVICE.process_batch(queue_messages(event), context.get_remaining_time_in_millis)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


init_complete()
