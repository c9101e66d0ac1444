"""Broadcast requests from SQS → notifications on every target connection (ADR 0006, ADR 0016, ADR 0018).

Every notification is stored in the notification log BEFORE it is posted, under the next offset of its
stream (the user's, or the global one), so a connection the fan-out misses (registered a moment later,
reconnecting, or whose post failed) learns of the gap and gets it by ``resume``. Per-user targets are
handled in chunks of ``USER_CHUNK`` users — store each user's entry (one transaction per user, in
parallel), then read those users' connections (strongly consistent membership), then post each user's
own frame (it carries that user's offset). ``{all: true}`` is stored once (the ``#global`` partition) and
split into ``BROADCAST_SCAN_SEGMENTS`` parallel-scan segment jobs carrying its offset and epoch; a segment
that cannot finish within the invocation's time budget re-queues itself with a scan cursor: no
invocation walks the whole table. Each finished segment is recorded on the global entry, and the global
head's settled offset follows (what ``pong`` advertises). Idempotent under SQS redelivery: each
request/segment/continuation claims a meta item first, and the log stores a request once per stream
(a taken-over claim posts the stored frame again, with its original offset).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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
#: Users stored and posted together: their appends (one transaction each) and posts run in parallel.
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
    def __init__(self, store: ConnectionStore, fan_out: FanOut, queue: QueuePublisher, clock: Clock,
                 logger: Logger, metrics: Metrics, *, scan_segments: int, announcement_interval_seconds: int,
                 log: NotificationLog, retention_seconds: int,
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
        # Appends and per-user deliveries of one chunk run side by side (each delivery uses the fan-out's pool).
        self._users = ThreadPoolExecutor(max_workers=self.user_chunk, thread_name_prefix="users")

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
            stored = self._store(GLOBAL_PARTITION, "global", request)
            if stored is None:
                self.logger.warning("global announcement no longer stored: not posted", requestId=request.id)
                return BroadcastOutcome("delivered")
            request = request.model_copy(update={"logOffset": stored.offset, "logEpoch": stored.epoch})
            if self.scan_segments > 1:
                self.queue.publish([
                    request.model_copy(update={"segment": Segment(index=i, total=self.scan_segments)})
                    .model_dump_json(exclude_none=True) for i in range(self.scan_segments)])
                return BroadcastOutcome("split", jobs=self.scan_segments)
            segment = Segment(index=0, total=1)
        return self._scan(request, segment, remaining_millis)

    def _store(self, partition: str, stream: str, request: BroadcastRequest) -> LogEntry | None:
        """Store the notification in one stream (or find it stored by an earlier attempt)."""
        now = self.clock.now()
        built: list[str] = []

        def build(offset: int, epoch: str) -> str:
            built.append(encode(notification_message(request, now, stream=stream, epoch=epoch,
                                                     offset=offset)).decode())
            return built[-1]

        entry = self.log.append(partition, request.id, build, int(now), int(now) + self.retention_seconds)
        # A new entry carries the very frame built here; one stored by an earlier attempt was read back.
        if entry is not None and built and entry.frame is built[-1]:
            self.metrics.count("NotificationsStored")
        return entry

    def _to_users(self, request: BroadcastRequest, user_ids: Sequence[str],
                  remaining_millis: Callable[[], int] | None = None) -> DeliveryReport:
        report = DeliveryReport()
        users = list(dict.fromkeys(user_ids))
        for start in range(0, len(users), self.user_chunk):
            chunk = users[start:start + self.user_chunk]
            entries = dict(zip(chunk, self._users.map(lambda user: self._store(user, "user", request), chunk),
                               strict=True))
            connections = self.store.connections_by_user(chunk)
            deliveries = [(connections.get(user, []), entries[user].frame.encode()) for user in chunk
                          if entries[user] is not None and connections.get(user)]
            for delivered in self._users.map(lambda job: self.fan_out.deliver(*job, remaining_millis), deliveries):
                report += delivered
        return report

    def _scan(self, request: BroadcastRequest, segment: Segment, remaining_millis: Callable[[], int]) -> BroadcastOutcome:
        # Every segment and continuation posts the frame stored once by the split: same offset, same bytes.
        # A segment job without one (queued before protocol 2.0) stores it now: once per request id.
        if request.logOffset is None:
            stored = self._store(GLOBAL_PARTITION, "global", request)
        else:
            stored = self.log.get(GLOBAL_PARTITION, request.logOffset)
        if stored is None or (request.logEpoch is not None and stored.epoch != request.logEpoch):
            # Purged (a new epoch) or expired since the split: nothing left to post that a client could keep.
            self.logger.warning("global entry no longer stored: segment not posted", requestId=request.id,
                                offset=request.logOffset)
            return BroadcastOutcome("delivered")
        payload = stored.frame.encode()
        report = DeliveryReport()
        cursor = request.cursor
        while True:
            page = self.store.scan_page(segment.index, segment.total, cursor)
            report += self.fan_out.deliver(page.connection_ids, payload, remaining_millis)
            cursor = page.cursor
            if cursor is None:
                self.log.settle_segment(stored.offset, segment.index, segment.total, int(self.clock.now()))
                return BroadcastOutcome("delivered", report)
            if remaining_millis() < self.min_remaining_millis:
                continuation = request.model_copy(update={"segment": segment, "cursor": cursor})
                self.queue.publish([continuation.model_dump_json(exclude_none=True)])
                return BroadcastOutcome("continued", report, jobs=1)
