"""What the ops commands do, independent of argparse: connection-table reads and repairs, the
@connections management API, the broadcast DLQ and the alarm overview.

Everything here takes boto3 clients, so tests run it under moto (and against a real @connections
endpoint) and the CLI in `wsctl.ops` only resolves the target, renders results and reports progress.
The table layout is docs/contracts.md: connection rows carry `userId`; meta items start with `#`.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO

from botocore.exceptions import ClientError

from wsctl.targets import REPO_ROOT

# The runtime's domain package (lambda_src/realtime) is the one implementation of the message
# contract, the connection store and the @connections adapter; the console script does not have it
# on its path otherwise.
_LAMBDA_SRC = str(REPO_ROOT / "lambda_src")
if _LAMBDA_SRC not in sys.path:
    sys.path.append(_LAMBDA_SRC)

from realtime import messages  # noqa: E402
from realtime.adapters.apigateway import ApiGatewayNotifier  # noqa: E402
from realtime.adapters.apigateway import _translate as translate_management_error  # noqa: E402
from realtime.adapters.dynamodb import DynamoConnectionStore  # noqa: E402
from realtime.errors import DeliveryFailed, DomainError, StaleConnection, StoreUnavailable, Throttled  # noqa: E402,F401 - re-exported to wsctl.ops
from realtime.ports import Connection  # noqa: E402

META_PREFIX = "#"
ROW_ATTRIBUTES = ("connectionId", "userId", "connectedAt", "tokenExpiresAt")
# SQS answers StartMessageMoveTask with one of these where it is not available (and moto 5.2.5,
# the local emulator, answers with a bare 500 or raises NotImplementedError in-process).
MOVE_TASK_UNSUPPORTED_CODES = frozenset({"InvalidAction", "UnsupportedOperation", "NotImplemented",
                                         "AWS.SimpleQueueService.UnsupportedOperation", "500", "501"})


# --------------------------------------------------------------------------------------------
# progress on stderr


class Progress:
    """Progress of a long operation on stderr: rewritten in place on a terminal, otherwise one
    line at most every `interval` seconds, and always a final line."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None,
                 interval: float = 1.0) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.done = 0
        self.counts: dict[str, int] = {}
        self._last_print = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, step: int = 1, **counts: int) -> None:
        self.done += step
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        now = time.monotonic()
        if now - self._last_print >= self.interval:
            self._last_print = now
            self._write(final=False)

    def finish(self) -> None:
        self._write(final=True)

    def _write(self, final: bool) -> None:
        of_total = f"/{self.total}" if self.total is not None else ""
        details = "".join(f", {name} {value}" for name, value in self.counts.items())
        line = f"{self.label}: {self.done}{of_total}{details}"
        if self._tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------
# the connection table and the @connections API: the runtime's own adapters, plus what only
# operators need (listing rows, probing a connection)


class ConnectionTable:
    """`realtime-<env>-connections` through the runtime's DynamoConnectionStore, so removing a row
    is exactly `$disconnect`'s conditional delete + decrement (never twice for one row)."""

    def __init__(self, dynamodb, table_name: str) -> None:
        self.store = DynamoConnectionStore(dynamodb, table_name)

    def counter(self) -> int:
        return self.store.active_count()

    def count(self, user_id: str | None = None) -> int:
        return len(self.connection_ids(user_id)) if user_id is not None else self.store.count_connections()

    def connection_ids(self, user_id: str) -> list[str]:
        return self.store.connections_of_users([user_id])

    def all_connection_ids(self) -> list[str]:
        ids, cursor = [], None
        while True:
            page = self.store.scan_page(0, 1, cursor)
            ids.extend(page.connection_ids)
            if page.cursor is None:
                return ids
            cursor = page.cursor

    def remove(self, connection_id: str) -> bool:
        return self.store.remove(connection_id)

    def rows(self, user_id: str | None = None) -> Iterator[Connection]:
        if user_id is not None:
            # byUser projects keys only: read each row (a user holds at most the per-user cap).
            rows = (self.store.get(connection_id) for connection_id in self.connection_ids(user_id))
            yield from (row for row in rows if row is not None)
            return
        pages = self.store.client.get_paginator("scan").paginate(
            TableName=self.store.table, ProjectionExpression=", ".join(ROW_ATTRIBUTES),
            # Meta items (`#counter`, `#announcement`, `#broadcast#…`) carry no userId.
            FilterExpression="attribute_exists(userId) AND NOT begins_with(connectionId, :meta)",
            ExpressionAttributeValues={":meta": {"S": META_PREFIX}})
        for page in pages:
            for item in page["Items"]:
                yield Connection(connection_id=item["connectionId"]["S"], user_id=item["userId"]["S"],
                                 connected_at=int(item["connectedAt"]["N"]),
                                 token_expires_at=int(item["tokenExpiresAt"]["N"]))


class ConnectionsApi(ApiGatewayNotifier):
    """The runtime's @connections notifier (send/close raise StaleConnection when gone) plus the
    GetConnection probe, which only operators need."""

    def exists(self, connection_id: str) -> bool:
        try:
            self.client.get_connection(ConnectionId=connection_id)
        except ClientError as error:
            translated = translate_management_error(error, connection_id)
            if isinstance(translated, StaleConnection):
                return False
            raise translated from None
        return True


# --------------------------------------------------------------------------------------------
# kick and purge-stale


KICK_CODE = "TOKEN_EXPIRED"  # the client re-authenticates before reconnecting (ADR 0010)
KICK_MESSAGE = "Disconnected by an operator; sign in again to reconnect."


@dataclass
class KickReport:
    connections: int = 0
    closed: int = 0
    already_gone: int = 0
    rows_removed: int = 0


def kick(table: ConnectionTable, api: ConnectionsApi, connection_ids: Iterable[str],
         message: str = KICK_MESSAGE, progress: Progress | None = None) -> KickReport:
    """Send an error frame, close, then remove each row like `$disconnect` does (API Gateway also
    invokes `$disconnect` on close; whichever deletes the row first decrements the counter)."""
    report = KickReport()
    frame = messages.encode(messages.error_message(messages.ErrorCode(KICK_CODE), message, time.time(),
                                                   f"wsctl-{uuid.uuid4()}"))
    for connection_id in connection_ids:
        report.connections += 1
        try:
            api.send(connection_id, frame)
            api.close(connection_id)
            closed = True
        except StaleConnection:
            closed = False
        removed = table.remove(connection_id)
        report.closed += closed
        report.already_gone += not closed
        report.rows_removed += removed
        if progress:
            progress.advance(closed=int(closed), gone=int(not closed))
    if progress:
        progress.finish()
    return report


@dataclass
class PurgeReport:
    probed: int = 0
    gone: int = 0
    rows_removed: int = 0
    gone_ids: list[str] = field(default_factory=list)


def purge_stale(table: ConnectionTable, api: ConnectionsApi, dry_run: bool = False, concurrency: int = 8,
                progress: Progress | None = None) -> PurgeReport:
    """Probe every connection row with GetConnection; remove (and decrement for) the gone ones."""
    report = PurgeReport()
    connection_ids = table.all_connection_ids()
    if progress:
        progress.total = len(connection_ids)

    def probe(connection_id: str) -> tuple[str, bool]:
        return connection_id, api.exists(connection_id)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for connection_id, alive in pool.map(probe, connection_ids):
            report.probed += 1
            removed = False
            if not alive:
                report.gone += 1
                report.gone_ids.append(connection_id)
                if not dry_run:
                    removed = table.remove(connection_id)
                    report.rows_removed += removed
            if progress:
                progress.advance(gone=int(not alive), removed=int(removed))
    if progress:
        progress.finish()
    return report


# --------------------------------------------------------------------------------------------
# the broadcast DLQ


@dataclass
class RedriveReport:
    method: str
    moved: int = 0
    task_handle: str | None = None
    status: str = "COMPLETED"


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def queue_depth(sqs, queue_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return {"visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))}


def move_task_unsupported(error: Exception) -> bool:
    if isinstance(error, NotImplementedError):  # moto in-process
        return True
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in MOVE_TASK_UNSUPPORTED_CODES


def redrive(sqs, dlq_url: str, queue_url: str, method: str = "auto", progress: Progress | None = None,
            probe_sqs=None, poll_seconds: float = 2.0, max_rate: int | None = None) -> RedriveReport:
    """Move every message from the DLQ back to its queue.

    `auto` prefers SQS's own StartMessageMoveTask (server side, keeps attributes, survives this
    process) and falls back to receive → send → delete where the API is missing (the emulator).
    `probe_sqs` is the client used for the StartMessageMoveTask attempt (no retries, so an emulator
    without the API is detected at once)."""
    if method in ("auto", "move-task"):
        try:
            return _redrive_with_move_task(sqs, probe_sqs or sqs, dlq_url, queue_url, progress, poll_seconds,
                                           max_rate)
        except (ClientError, NotImplementedError) as error:
            if method == "move-task" or not move_task_unsupported(error):
                raise
            if progress:
                progress.stream.write("StartMessageMoveTask is not available here; moving messages one by one\n")
    return _redrive_by_hand(sqs, dlq_url, queue_url, progress)


def _redrive_with_move_task(sqs, probe_sqs, dlq_url: str, queue_url: str, progress: Progress | None,
                            poll_seconds: float, max_rate: int | None) -> RedriveReport:
    source_arn = queue_arn(sqs, dlq_url)
    arguments = {"SourceArn": source_arn, "DestinationArn": queue_arn(sqs, queue_url)}
    if max_rate:
        arguments["MaxNumberOfMessagesPerSecond"] = max_rate
    handle = probe_sqs.start_message_move_task(**arguments)["TaskHandle"]
    report = RedriveReport(method="move-task", task_handle=handle)
    while True:
        # The most recent task on the DLQ comes first: the one just started.
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=1)["Results"]
        task = tasks[0] if tasks else {}
        report.status = task.get("Status", "UNKNOWN")
        moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if progress:
            progress.total = task.get("ApproximateNumberOfMessagesToMove", progress.total)
            progress.advance(moved - report.moved)
        report.moved = moved
        if report.status in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        time.sleep(poll_seconds)
    if progress:
        progress.finish()
    if report.status != "COMPLETED":
        reason = task.get("FailureReason", "no reason given")
        raise RuntimeError(f"message move task {report.status.lower()} after {report.moved} messages: {reason}")
    return report


def _redrive_by_hand(sqs, dlq_url: str, queue_url: str, progress: Progress | None) -> RedriveReport:
    report = RedriveReport(method="receive-send-delete")
    if progress:
        progress.total = queue_depth(sqs, dlq_url)["visible"]
    while True:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"], VisibilityTimeout=60).get("Messages", [])
        if not messages:
            break
        entries = [{"Id": str(index), "MessageBody": message["Body"],
                    **({"MessageAttributes": message["MessageAttributes"]} if message.get("MessageAttributes") else {})}
                   for index, message in enumerate(messages)]
        sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if sent.get("Failed"):
            first = sent["Failed"][0]
            raise RuntimeError(f"could not send {len(sent['Failed'])} messages back to the queue "
                               f"({first.get('Code')}: {first.get('Message')}); they stay in the DLQ")
        # Delete only what was re-sent; a crash in between duplicates a message, never loses it
        # (the broadcast function ignores request ids it already completed).
        sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)])
        report.moved += len(messages)
        if progress:
            progress.advance(len(messages))
    if progress:
        progress.finish()
    return report


# --------------------------------------------------------------------------------------------
# status


@dataclass
class AlarmState:
    name: str
    state: str
    reason: str
    runbook: str | None


@dataclass
class StatusReport:
    env: str
    alarms: list[AlarmState]
    counter: int | None
    connection_rows: int
    queues: dict[str, dict[str, int]]

    @property
    def firing(self) -> list[AlarmState]:
        return [alarm for alarm in self.alarms if alarm.state == "ALARM"]


def runbook_path(description: str | None) -> str | None:
    for word in (description or "").split():
        word = word.strip("()[]<>,;'\"")
        if word.startswith("runbooks/") and word.endswith(".md"):
            return word
    return None


def alarm_states(cloudwatch, env: str) -> list[AlarmState]:
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"realtime-{env}-",
                                                                AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = []
    for page in pages:
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            alarms.append(AlarmState(name=alarm["AlarmName"], state=alarm.get("StateValue", "INSUFFICIENT_DATA"),
                                     reason=alarm.get("StateReason", ""),
                                     runbook=runbook_path(alarm.get("AlarmDescription"))))
    return sorted(alarms, key=lambda alarm: alarm.name)


def status(env: str, table: ConnectionTable, sqs, cloudwatch, queue_urls: dict[str, str]) -> StatusReport:
    return StatusReport(env=env, alarms=alarm_states(cloudwatch, env), counter=table.counter(),
                        connection_rows=table.count(),
                        queues={name: queue_depth(sqs, url) for name, url in queue_urls.items()})
