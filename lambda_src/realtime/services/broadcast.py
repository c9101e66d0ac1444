"""Broadcast requests from SQS → notifications on every target connection (ADR 0006, ADR 0016).

Every notification is stored in the notification log BEFORE it is posted, inside the request's
idempotency claim, so a connection the fan-out misses (registered a moment later, or reconnecting)
finds it when it resumes. Per-user targets are handled in chunks of ``USER_CHUNK`` users — store the
chunk's entries, read those users' connections (strongly consistent membership), post — which keeps the
time between a notification's cursor and its posts short (the resume's reorder window relies on it).
``{all: true}`` is stored once (the ``#global`` partition) and split into ``BROADCAST_SCAN_SEGMENTS``
parallel-scan segment jobs carrying its cursor; a segment that cannot finish within the invocation's
time budget re-queues itself with a scan cursor: no invocation walks the whole table. Each finished
segment is recorded on the global entry, so a resume knows whether it was still in flight.
Idempotent under SQS redelivery: each request/segment/continuation claims a meta item first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from realtime.cursors import GLOBAL_STREAM, USER_STREAM, make_cursor, parse_cursor
from realtime.events import QueueMessage
from realtime.messages import (
    AllTarget,
    BroadcastRequest,
    MessageRejected,
    Segment,
    encode,
    notification_message,
    parse_broadcast_request,
)
from realtime.observability import Logger, Metrics
from realtime.ports import (
    GLOBAL_PARTITION,
    Claim,
    Clock,
    ConnectionStore,
    LogEntry,
    NotificationLog,
    QueuePublisher,
)
from realtime.services.fan_out import DeliveryReport, FanOut

#: A claimed request not completed within this time (crashed invocation) may be taken over.
CLAIM_LEASE_SECONDS = 300
#: A segment re-queues its remainder when the invocation has less time left than this.
MIN_REMAINING_MILLIS = 20_000
#: Users stored and posted together: one BatchWriteItem (DynamoDB's maximum is 25 items).
USER_CHUNK = 25


def idempotency_key(request: BroadcastRequest) -> str:
    key = f"#broadcast#{request.id}"
    if request.segment is not None:
        key += f"#{request.segment.index}"
    if request.cursor is not None:
        key += "#" + hashlib.sha256(request.cursor.encode()).hexdigest()[:16]
    return key


@dataclass(frozen=True)
class BroadcastOutcome:
    #: delivered | duplicate | in_progress | rejected | split | continued
    status: str
    report: DeliveryReport = field(default_factory=DeliveryReport)
    jobs: int = 0


class BroadcastService:
    """``log=None`` delivers without storing (protocol 1.0 behaviour; the benchmark's baseline)."""

    def __init__(self, store: ConnectionStore, fan_out: FanOut, queue: QueuePublisher, clock: Clock,
                 logger: Logger, metrics: Metrics, *, scan_segments: int, announcement_interval_seconds: int,
                 log: NotificationLog | None = None, retention_seconds: int = 0,
                 min_remaining_millis: int = MIN_REMAINING_MILLIS, user_chunk: int = USER_CHUNK):
        self.store = store
        self.fan_out = fan_out
        self.queue = queue
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.scan_segments = scan_segments
        self.announcement_interval = announcement_interval_seconds
        self.log = log
        self.retention_seconds = retention_seconds
        self.min_remaining_millis = min_remaining_millis
        self.user_chunk = max(1, user_chunk)

    def process_batch(self, messages: Sequence[QueueMessage], remaining_millis: Callable[[], int]) -> list[str]:
        """Process SQS messages; return the ids of those to retry (SQS batch item failures)."""
        failures = []
        for message in messages:
            try:
                request = parse_broadcast_request(message.body)
            except MessageRejected as rejected:
                # Left to fail into the DLQ (alarmed) so the sender's bug is visible and the body kept.
                self.logger.error("invalid broadcast request", messageId=message.message_id, reason=rejected.message)
                failures.append(message.message_id)
                continue
            try:
                outcome = self.process(request, remaining_millis)
            except Exception as error:  # noqa: BLE001 - one bad record must not fail the others
                self.logger.error("broadcast failed", messageId=message.message_id, requestId=request.id,
                                  errorType=type(error).__name__)
                failures.append(message.message_id)
                continue
            if outcome.status == "in_progress":
                failures.append(message.message_id)  # another invocation holds it: retry after the visibility timeout
        return failures

    def process(self, request: BroadcastRequest, remaining_millis: Callable[[], int]) -> BroadcastOutcome:
        key = idempotency_key(request)
        claim = self.store.claim_request(key, int(self.clock.now()), CLAIM_LEASE_SECONDS)
        if claim is not Claim.CLAIMED:
            self.logger.info("broadcast skipped", requestId=request.id, key=key, claim=claim.value)
            return BroadcastOutcome("duplicate" if claim is Claim.COMPLETED else "in_progress")
        try:
            outcome = self._run(request, remaining_millis)
        except BaseException:
            self.store.release_request(key)
            raise
        self.store.complete_request(key, int(self.clock.now()))
        report = outcome.report
        self.metrics.count("BroadcastSent", report.sent)
        self.metrics.count("BroadcastGone", report.gone)
        self.metrics.count("DeliveryFailures", report.failed)
        self.metrics.count("BroadcastRetried", report.retried)
        self.logger.info("broadcast done", requestId=request.id, key=key, status=outcome.status,
                         jobs=outcome.jobs, **report.as_dict())
        return outcome

    def _run(self, request: BroadcastRequest, remaining_millis: Callable[[], int]) -> BroadcastOutcome:
        if not isinstance(request.target, AllTarget):
            return BroadcastOutcome("delivered", self._to_users(request, request.target.userIds, remaining_millis))
        segment = request.segment
        if segment is None:
            if not self.store.try_announce(request.id, int(self.clock.now()), self.announcement_interval):
                self.metrics.count("AnnouncementsRejected")
                self.logger.warning("global announcement rejected: interval not elapsed", requestId=request.id,
                                    intervalSeconds=self.announcement_interval)
                return BroadcastOutcome("rejected")
            request = request.model_copy(update={"logCursor": self._store_global(request)})
            if self.scan_segments > 1:
                self.queue.publish([
                    request.model_copy(update={"segment": Segment(index=i, total=self.scan_segments)})
                    .model_dump_json(exclude_none=True) for i in range(self.scan_segments)])
                return BroadcastOutcome("split", jobs=self.scan_segments)
            segment = Segment(index=0, total=1)
        return self._scan(request, segment, remaining_millis)

    def _stamp(self, stream: str, request: BroadcastRequest) -> tuple[float, str | None]:
        """The store time and cursor of a new log entry (a taken-over claim stores again, newly stamped)."""
        now = self.clock.now()
        return now, make_cursor(int(now * 1000), stream, request.id) if self.log is not None else None

    def _entry(self, partition: str, cursor: str, request: BroadcastRequest, frame: bytes, now: float) -> LogEntry:
        return LogEntry(partition=partition, cursor=cursor, request_id=request.id, frame=frame.decode(),
                        expires_at=int(now) + self.retention_seconds)

    def _to_users(self, request: BroadcastRequest, user_ids: Sequence[str],
                  remaining_millis: Callable[[], int] | None = None) -> DeliveryReport:
        report = DeliveryReport()
        users = list(dict.fromkeys(user_ids))
        for start in range(0, len(users), self.user_chunk):
            chunk = users[start:start + self.user_chunk]
            now, cursor = self._stamp(USER_STREAM, request)
            frame = encode(notification_message(request, now, cursor))
            if cursor is not None and self.log is not None:
                self.log.append([self._entry(user, cursor, request, frame, now) for user in chunk])
                self.metrics.count("NotificationsStored", len(chunk))
            report += self.fan_out.deliver(self.store.connections_of_users(chunk), frame, remaining_millis)
        return report

    def _store_global(self, request: BroadcastRequest) -> str | None:
        now, cursor = self._stamp(GLOBAL_STREAM, request)
        if cursor is not None and self.log is not None:
            frame = encode(notification_message(request, now, cursor))
            self.log.append([self._entry(GLOBAL_PARTITION, cursor, request, frame, now)])
            self.metrics.count("NotificationsStored")
        return cursor

    def _scan(self, request: BroadcastRequest, segment: Segment, remaining_millis: Callable[[], int]) -> BroadcastOutcome:
        # Every segment and continuation rebuilds the frame stored once by the split: same cursor, same time.
        stored = parse_cursor(request.logCursor) if request.logCursor else None
        payload = encode(notification_message(request, stored.seconds if stored else self.clock.now(),
                                              request.logCursor))
        report = DeliveryReport()
        cursor = request.cursor
        while True:
            page = self.store.scan_page(segment.index, segment.total, cursor)
            report += self.fan_out.deliver(page.connection_ids, payload, remaining_millis)
            cursor = page.cursor
            if cursor is None:
                if request.logCursor is not None and self.log is not None:
                    self.log.settle_segment(request.logCursor, segment.index, segment.total, int(self.clock.now()))
                return BroadcastOutcome("delivered", report)
            if remaining_millis() < self.min_remaining_millis:
                continuation = request.model_copy(update={"segment": segment, "cursor": cursor})
                self.queue.publish([continuation.model_dump_json(exclude_none=True)])
                return BroadcastOutcome("continued", report, jobs=1)
