"""The notification log on its own DynamoDB table (ADR 0016, ADR 0018): PK ``userId`` (a user's sub, or
``#global``), SK ``cursor`` (the key schema the table was created with; it now holds these keys):

* ``#head``: the stream's head — ``head`` N (highest offset stored), ``epoch`` S, ``initial`` BOOL (first
  epoch of the stream), ``settled`` N (global: contiguous offset whose fan-outs all finished), ``storedAt`` N.
  Never expires.
* ``o<20-digit offset>``: an entry — the exact frame posted, ``requestId``, ``epoch``, ``storedAt``,
  ``expiresAt`` (TTL); global entries also ``settledSegments`` NS and ``settledAt`` N.
* ``r#<request id>``: the idempotency item of a request in this stream — its ``offset``; TTL like the entry.
* ``#read`` and ``m#<stream>#<offset>`` (a user's partition only): the user's read state (ADR 0020,
  :class:`DynamoReadStateStore`), written by the default function.

An append is one ``TransactWriteItems``: the head moves from the offset it was read at (condition on
``head`` and ``epoch``), the entry and the idempotency item are put only if absent. A cancelled
transaction whose idempotency item exists means the request is already stored (its offset is reused);
any other cancellation re-reads the head and retries with jitter. Every AWS error leaves this module as
a domain error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from realtime.adapters.dynamodb import _code, _n, _s, _translated, batch_until_processed
from realtime.errors import Throttled
from realtime.ports import (
    GLOBAL_PARTITION,
    GLOBAL_SETTLE_SECONDS,
    NO_STREAM,
    FrameBuilder,
    LogEntry,
    ReadPositions,
    StreamHead,
    new_epoch,
    settled_upto,
)

PARTITION_KEY = "userId"
SORT_KEY = "cursor"
HEAD_KEY = "#head"
ENTRY_PREFIX = "o"
REQUEST_PREFIX = "r#"
OFFSET_DIGITS = 20
#: BatchWriteItem's maximum number of requests per call.
BATCH_WRITE_ITEMS = 25
#: Appends to one stream that lost the race for its head retry this often (with jittered backoff) before
#: the request fails and SQS redelivers it (idempotent: the offset is allocated once).
APPEND_ATTEMPTS = 16
APPEND_BACKOFF_SECONDS = 0.01
APPEND_BACKOFF_CAP_SECONDS = 0.4
_CANCELLED = ("TransactionCanceledException", "TransactionConflictException")
# Every attribute is named through a placeholder: CURSOR is a DynamoDB reserved word, and so may others be.
_NAMES = {"#p": PARTITION_KEY, "#c": SORT_KEY}


def item_key(partition: str, sort_key: str) -> dict[str, Any]:
    """The primary key of an item of the notification-log table."""
    return {PARTITION_KEY: _s(partition), SORT_KEY: _s(sort_key)}


def entry_key(offset: int) -> str:
    return f"{ENTRY_PREFIX}{offset:0{OFFSET_DIGITS}d}"


def request_key(request_id: str) -> str:
    return REQUEST_PREFIX + request_id


def _entry(item: dict[str, Any]) -> LogEntry:
    settled = item.get("settledAt")
    return LogEntry(partition=item[PARTITION_KEY]["S"], offset=int(item["offset"]["N"]),
                    epoch=item.get("epoch", {}).get("S", ""), request_id=item.get("requestId", {}).get("S", ""),
                    frame=item.get("frame", {}).get("S", ""), stored_at=int(item.get("storedAt", {}).get("N", "0")),
                    expires_at=int(item.get("expiresAt", {}).get("N", "0")),
                    settled_at=int(settled["N"]) if settled else None)


def _head(item: dict[str, Any] | None) -> StreamHead:
    if not item:
        return NO_STREAM
    return StreamHead(epoch=item["epoch"]["S"], offset=int(item["head"]["N"]),
                      initial=bool(item.get("initial", {}).get("BOOL", True)),
                      settled=int(item.get("settled", {}).get("N", "0")),
                      stored_at=int(item.get("storedAt", {}).get("N", "0")))


class DynamoNotificationLog:
    def __init__(self, client: Any, table_name: str, *, sleep=time.sleep, rng: random.Random | None = None,
                 clock=time.time):
        self.client = client
        self.table = table_name
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        #: Transactions cancelled by a concurrent append (the benchmark reports it).
        self.conflicts = 0

    def _get(self, partition: str, sort_key: str, consistent: bool = True) -> dict[str, Any] | None:
        return self.client.get_item(TableName=self.table, Key=item_key(partition, sort_key),
                                    ConsistentRead=consistent).get("Item")

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self.table, "ConsistentRead": True, **kwargs}
        while True:
            response = self.client.query(**kwargs)
            yield from response.get("Items", [])
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- heads and appends ------------------------------------------------------------------------
    def head(self, partition: str, *, consistent: bool = True) -> StreamHead:
        with _translated():
            return _head(self._get(partition, HEAD_KEY, consistent))

    def _stored(self, partition: str, request_id: str) -> LogEntry | None | bool:
        """The entry this request already has in the stream; None when it has one no longer stored; False
        when it has none."""
        item = self._get(partition, request_key(request_id))
        if item is None:
            return False
        entry = self._get(partition, entry_key(int(item["offset"]["N"])))
        return _entry(entry) if entry else None

    def append(self, partition: str, request_id: str, build: FrameBuilder, now: int, expires_at: int) -> LogEntry | None:
        with _translated():
            for attempt in range(APPEND_ATTEMPTS):
                head = _head(self._get(partition, HEAD_KEY))
                epoch = head.epoch or new_epoch()
                offset = head.offset + 1
                entry = LogEntry(partition=partition, offset=offset, epoch=epoch, request_id=request_id,
                                 frame=build(offset, epoch), stored_at=now, expires_at=expires_at)
                try:
                    self.client.transact_write_items(TransactItems=[
                        self._head_write(partition, head, epoch, offset, now),
                        {"Put": {"TableName": self.table, "Item": self._entry_item(entry),
                                 "ConditionExpression": "attribute_not_exists(#c)",
                                 "ExpressionAttributeNames": {"#c": SORT_KEY}}},
                        {"Put": {"TableName": self.table, "Item": {
                            **item_key(partition, request_key(request_id)), "offset": _n(offset),
                            "epoch": _s(epoch), "expiresAt": _n(expires_at)},
                            "ConditionExpression": "attribute_not_exists(#c)",
                            "ExpressionAttributeNames": {"#c": SORT_KEY}}},
                    ])
                    return entry
                except ClientError as error:
                    if _code(error) not in _CANCELLED:
                        raise
                stored = self._stored(partition, request_id)
                if stored is not False:
                    return stored  # redelivered, continued or taken over: stored once, its offset reused
                self.conflicts += 1
                self._sleep(self._rng.uniform(0, min(APPEND_BACKOFF_CAP_SECONDS,
                                                     APPEND_BACKOFF_SECONDS * 2 ** attempt)))
        raise Throttled(f"offset allocation in {partition!r} lost {APPEND_ATTEMPTS} races")

    def _head_write(self, partition: str, head: StreamHead, epoch: str, offset: int, now: int) -> dict[str, Any]:
        if head.epoch is None:  # the stream's first notification creates it, in its first epoch
            return {"Put": {"TableName": self.table, "Item": {
                **item_key(partition, HEAD_KEY), "head": _n(offset), "epoch": _s(epoch), "initial": {"BOOL": True},
                "settled": _n(0), "storedAt": _n(now)},
                "ConditionExpression": "attribute_not_exists(#c)", "ExpressionAttributeNames": {"#c": SORT_KEY}}}
        return {"Update": {"TableName": self.table, "Key": item_key(partition, HEAD_KEY),
                           "UpdateExpression": "SET #h = :new, #t = :now",
                           "ConditionExpression": "#h = :old AND #e = :epoch",
                           "ExpressionAttributeNames": {"#h": "head", "#t": "storedAt", "#e": "epoch"},
                           "ExpressionAttributeValues": {":new": _n(offset), ":now": _n(now),
                                                         ":old": _n(head.offset), ":epoch": _s(epoch)}}}

    def _entry_item(self, entry: LogEntry) -> dict[str, Any]:
        return {**item_key(entry.partition, entry_key(entry.offset)), "offset": _n(entry.offset),
                "epoch": _s(entry.epoch), "requestId": _s(entry.request_id), "frame": _s(entry.frame),
                "storedAt": _n(entry.stored_at), "expiresAt": _n(entry.expires_at)}

    # -- reads ------------------------------------------------------------------------------------
    def read_range(self, partition: str, after: int, upto: int) -> list[LogEntry]:
        if upto <= after:
            return []
        with _translated():
            return [_entry(item) for item in self._query(
                KeyConditionExpression="#p = :p AND #c BETWEEN :lower AND :upper", ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":p": _s(partition), ":lower": _s(entry_key(after + 1)),
                                           ":upper": _s(entry_key(upto))})]

    def get(self, partition: str, offset: int) -> LogEntry | None:
        with _translated():
            item = self._get(partition, entry_key(offset))
        return _entry(item) if item else None

    def entries(self, partition: str) -> list[LogEntry]:
        with _translated():
            return [_entry(item) for item in self._query(
                KeyConditionExpression="#p = :p AND begins_with(#c, :o)", ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":p": _s(partition), ":o": _s(ENTRY_PREFIX)})]

    def page(self, partition: str, before: int, limit: int) -> list[LogEntry]:
        if before <= 1 or limit <= 0:
            return []
        with _translated():
            response = self.client.query(
                TableName=self.table, ConsistentRead=True, ScanIndexForward=False, Limit=limit,
                KeyConditionExpression="#p = :p AND #c BETWEEN :lower AND :upper", ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":p": _s(partition), ":lower": _s(entry_key(1)),
                                           ":upper": _s(entry_key(before - 1))})
        return [_entry(item) for item in response.get("Items", [])]

    def live_offsets(self, partition: str, after: int, upto: int, now: float, limit: int) -> list[int]:
        if upto <= after or limit <= 0:
            return []
        offsets: list[int] = []
        with _translated():
            for item in self._query(
                    KeyConditionExpression="#p = :p AND #c BETWEEN :lower AND :upper", ScanIndexForward=False,
                    ExpressionAttributeNames={**_NAMES, "#o": "offset", "#x": "expiresAt"},
                    ExpressionAttributeValues={":p": _s(partition), ":lower": _s(entry_key(after + 1)),
                                               ":upper": _s(entry_key(upto))},
                    ProjectionExpression="#o, #x", Limit=limit):
                if int(item["expiresAt"]["N"]) > now:  # TTL deletes lazily
                    offsets.append(int(item["offset"]["N"]))
                    if len(offsets) >= limit:
                        break
        return offsets

    # -- global settling --------------------------------------------------------------------------
    def settle_segment(self, offset: int, segment: int, total: int, now: int) -> None:
        key = item_key(GLOBAL_PARTITION, entry_key(offset))
        with _translated():
            try:
                # A set of segment indexes: a redelivered segment job records itself only once.
                done = self.client.update_item(
                    TableName=self.table, Key=key, UpdateExpression="ADD settledSegments :segment",
                    ConditionExpression="attribute_exists(#c)", ExpressionAttributeNames={"#c": SORT_KEY},
                    ExpressionAttributeValues={":segment": {"NS": [str(segment)]}},
                    ReturnValues="ALL_NEW")["Attributes"]
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    return  # purged or expired meanwhile: nothing left to settle
                raise
            if len(done.get("settledSegments", {}).get("NS", [])) < total:
                return
            if "settledAt" not in done:
                try:
                    self.client.update_item(
                        TableName=self.table, Key=key, UpdateExpression="SET settledAt = :now",
                        ConditionExpression="attribute_not_exists(settledAt)",
                        ExpressionAttributeValues={":now": _n(now)})
                except ClientError as error:
                    if _code(error) != "ConditionalCheckFailedException":
                        raise
            self._advance_settled(now)

    def _advance_settled(self, now: int) -> None:
        head = _head(self._get(GLOBAL_PARTITION, HEAD_KEY))

        def settled(offset: int) -> bool:
            item = self._get(GLOBAL_PARTITION, entry_key(offset))
            return (item is None or "settledAt" in item
                    or int(item.get("storedAt", {}).get("N", "0")) <= now - GLOBAL_SETTLE_SECONDS)

        upto = settled_upto(head, settled)
        if upto <= head.settled:
            return
        try:
            # Monotone: a concurrent settle that got further wins; "all up to k settled" never becomes false.
            self.client.update_item(
                TableName=self.table, Key=item_key(GLOBAL_PARTITION, HEAD_KEY), UpdateExpression="SET #s = :k",
                ConditionExpression="(attribute_not_exists(#s) OR #s < :k) AND #e = :epoch",
                ExpressionAttributeNames={"#s": "settled", "#e": "epoch"},
                ExpressionAttributeValues={":k": _n(upto), ":epoch": _s(head.epoch or "")})
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    # -- purge ------------------------------------------------------------------------------------
    def purge(self, partition: str) -> tuple[int, str | None]:
        """New epoch first (appends racing with the purge then retry in it), then delete what the old epoch
        stored: entries and idempotency items."""
        with _translated():
            head = _head(self._get(partition, HEAD_KEY))
            epoch = None
            # The user's read state (``#read``, ``m#…``: ADR 0020) has no epoch, so it is deleted below too.
            if head.epoch is not None:
                epoch = new_epoch()
                self.client.update_item(
                    TableName=self.table, Key=item_key(partition, HEAD_KEY),
                    UpdateExpression="SET #e = :new, #i = :false, #s = #h",
                    ConditionExpression="#e = :old",
                    ExpressionAttributeNames={"#e": "epoch", "#i": "initial", "#s": "settled", "#h": "head"},
                    ExpressionAttributeValues={":new": _s(epoch), ":old": _s(head.epoch), ":false": {"BOOL": False}})
            stale = [item for item in self._query(
                KeyConditionExpression="#p = :p", ExpressionAttributeNames={**_NAMES, "#e": "epoch"},
                ExpressionAttributeValues={":p": _s(partition)}, ProjectionExpression="#p, #c, #e")
                if item[SORT_KEY]["S"] != HEAD_KEY and (epoch is None or item.get("epoch", {}).get("S") != epoch)]
            self._batch_write([{"DeleteRequest": {"Key": {PARTITION_KEY: item[PARTITION_KEY],
                                                          SORT_KEY: item[SORT_KEY]}}} for item in stale])
        return sum(1 for item in stale if item[SORT_KEY]["S"].startswith(ENTRY_PREFIX)), epoch

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            for _ in batch_until_processed(lambda pending: self.client.batch_write_item(RequestItems=pending),
                                           {self.table: requests[start:start + BATCH_WRITE_ITEMS]},
                                           "UnprocessedItems", self._sleep, self._rng, "log writes"):
                pass


READ_KEY = "#read"
MARK_PREFIX = "m#"
#: Every attribute the default function may write to the log (CKV_RT_018 checks its IAM condition against
#: exactly this set): keys, the read positions and their version, the TTL.
READ_STATE_ATTRIBUTES = (PARTITION_KEY, SORT_KEY, "readUser", "readGlobal", "ver", "expiresAt")
_POSITION_ATTRIBUTE = {"user": "readUser", "global": "readGlobal"}
#: Concurrent "mark all" calls of one user retry this often before the request fails (INTERNAL_ERROR).
RAISE_ATTEMPTS = 8


def mark_key(stream: str, offset: int) -> str:
    return f"{MARK_PREFIX}{stream}#{offset:0{OFFSET_DIGITS}d}"


def _positions(item: dict[str, Any] | None) -> ReadPositions:
    if not item:
        return ReadPositions()
    return ReadPositions(user=int(item.get("readUser", {}).get("N", "0")),
                         global_=int(item.get("readGlobal", {}).get("N", "0")),
                         version=int(item.get("ver", {}).get("N", "0")))


class DynamoReadStateStore:
    """A user's read state in the user's own partition of the notification log (ADR 0020): ``#read`` holds
    ``readUser``/``readGlobal`` (offsets) and ``ver``; ``m#<stream>#<offset>`` marks one notification read
    and expires with it. Raising the positions is a put conditioned on the version read (a conflict
    re-reads: concurrent calls converge to the maximum)."""

    def __init__(self, client: Any, table_name: str, *, sleep=time.sleep, rng: random.Random | None = None):
        self.client = client
        self.table = table_name
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.conflicts = 0

    def positions(self, user_id: str) -> ReadPositions:
        with _translated():
            return _positions(self.client.get_item(TableName=self.table, Key=item_key(user_id, READ_KEY),
                                                   ConsistentRead=True).get("Item"))

    def raise_positions(self, user_id: str, upto: dict[str, int], expires_at: int) -> ReadPositions:
        with _translated():
            for attempt in range(RAISE_ATTEMPTS):
                read = self.positions(user_id)
                wanted = ReadPositions(user=max(read.user, upto.get("user", 0)),
                                       global_=max(read.global_, upto.get("global", 0)), version=read.version + 1)
                if (wanted.user, wanted.global_) == (read.user, read.global_):
                    return read
                condition = ("attribute_not_exists(#c)" if read.version == 0 else "#v = :v")
                values = {} if read.version == 0 else {":v": _n(read.version)}
                try:
                    self.client.put_item(
                        TableName=self.table,
                        Item={**item_key(user_id, READ_KEY), "readUser": _n(wanted.user),
                              "readGlobal": _n(wanted.global_), "ver": _n(wanted.version), "expiresAt": _n(expires_at)},
                        ConditionExpression=condition,
                        ExpressionAttributeNames={"#c": SORT_KEY} if read.version == 0 else {"#v": "ver"},
                        **({"ExpressionAttributeValues": values} if values else {}))
                    return wanted
                except ClientError as error:
                    if _code(error) != "ConditionalCheckFailedException":
                        raise
                self.conflicts += 1
                self._sleep(self._rng.uniform(0, min(APPEND_BACKOFF_CAP_SECONDS, APPEND_BACKOFF_SECONDS * 2 ** attempt)))
        raise Throttled("read position contention")

    def mark(self, user_id: str, stream: str, offset: int, expires_at: int) -> None:
        with _translated():
            self.client.put_item(TableName=self.table, Item={**item_key(user_id, mark_key(stream, offset)),
                                                             "expiresAt": _n(expires_at)})

    def marks(self, user_id: str, stream: str, after: int, upto: int, now: float) -> set[int]:
        if upto <= after:
            return set()
        found: set[int] = set()
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "#p = :p AND #c BETWEEN :lower AND :upper",
            "ExpressionAttributeNames": {**_NAMES, "#x": "expiresAt"}, "ProjectionExpression": "#c, #x",
            "ExpressionAttributeValues": {":p": _s(user_id), ":lower": _s(mark_key(stream, after + 1)),
                                          ":upper": _s(mark_key(stream, upto))}}
        with _translated():
            while True:
                response = self.client.query(**kwargs)
                for item in response.get("Items", []):
                    if int(item["expiresAt"]["N"]) > now:
                        found.add(int(item[SORT_KEY]["S"].rsplit("#", 1)[1]))
                if not response.get("LastEvaluatedKey"):
                    return found
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
