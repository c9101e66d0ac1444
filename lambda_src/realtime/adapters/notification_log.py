"""The notification log on its own DynamoDB table (ADR 0016): PK ``userId`` (a user's sub, or ``#global``),
SK ``cursor`` (realtime.cursors), TTL ``expiresAt``. Items hold the exact frame that was posted.

Every read is strongly consistent: a resume must see a notification the broadcast function stored a
moment before. Every AWS error leaves this module as a domain error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from realtime.adapters.dynamodb import _code, _n, _s, _translated, batch_until_processed
from realtime.ports import GLOBAL_PARTITION, LogEntry

PARTITION_KEY = "userId"
SORT_KEY = "cursor"
#: BatchWriteItem's maximum number of requests per call.
BATCH_WRITE_ITEMS = 25
# CURSOR is a DynamoDB reserved word: expressions name the keys through #p / #c (DynamoDB refuses
# names an expression does not use, so each call passes the ones it does).
_PARTITION = {"#p": PARTITION_KEY}
_BOTH = {"#p": PARTITION_KEY, "#c": SORT_KEY}


def _item(entry: LogEntry) -> dict[str, Any]:
    return {PARTITION_KEY: _s(entry.partition), SORT_KEY: _s(entry.cursor), "requestId": _s(entry.request_id),
            "frame": _s(entry.frame), "expiresAt": _n(entry.expires_at)}


def _entry(item: dict[str, Any]) -> LogEntry:
    settled = item.get("settledAt")
    return LogEntry(partition=item[PARTITION_KEY]["S"], cursor=item[SORT_KEY]["S"],
                    request_id=item.get("requestId", {}).get("S", ""), frame=item.get("frame", {}).get("S", ""),
                    expires_at=int(item.get("expiresAt", {}).get("N", "0")),
                    settled_at=int(settled["N"]) if settled else None)


class DynamoNotificationLog:
    def __init__(self, client: Any, table_name: str, *, sleep=time.sleep, rng: random.Random | None = None):
        self.client = client
        self.table = table_name
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def _key(self, partition: str, cursor: str) -> dict[str, Any]:
        return {PARTITION_KEY: _s(partition), SORT_KEY: _s(cursor)}

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            for _ in batch_until_processed(lambda pending: self.client.batch_write_item(RequestItems=pending),
                                           {self.table: requests[start:start + BATCH_WRITE_ITEMS]},
                                           "UnprocessedItems", self._sleep, self._rng, "log writes"):
                pass

    def append(self, entries: Sequence[LogEntry]) -> None:
        with _translated():
            self._batch_write([{"PutRequest": {"Item": _item(entry)}} for entry in entries])

    def _query(self, limit: int | None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self.table, "ConsistentRead": True, **kwargs}
        returned = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - returned
            response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                returned += 1
                yield item
            if not response.get("LastEvaluatedKey") or (limit is not None and returned >= limit):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def read_after(self, partition: str, lower: str, limit: int) -> list[LogEntry]:
        with _translated():
            return [_entry(item) for item in self._query(
                limit, KeyConditionExpression="#p = :p AND #c > :lower", ExpressionAttributeNames=_BOTH,
                ExpressionAttributeValues={":p": _s(partition), ":lower": _s(lower)})]

    def read_before(self, partition: str, upper: str, lower: str, limit: int) -> list[LogEntry]:
        # BETWEEN is inclusive: one more item covers ``upper`` itself, dropped below.
        with _translated():
            items = list(self._query(limit + 1, ScanIndexForward=False, ExpressionAttributeNames=_BOTH,
                                     KeyConditionExpression="#p = :p AND #c BETWEEN :lower AND :upper",
                                     ExpressionAttributeValues={":p": _s(partition), ":lower": _s(lower),
                                                                ":upper": _s(upper)}))
        return [_entry(item) for item in items if lower < item[SORT_KEY]["S"] < upper][:limit]

    def get(self, partition: str, cursor: str) -> LogEntry | None:
        with _translated():
            item = self.client.get_item(TableName=self.table, Key=self._key(partition, cursor),
                                        ConsistentRead=True).get("Item")
        return _entry(item) if item else None

    def settle_segment(self, cursor: str, segment: int, total: int, now: int) -> None:
        key = self._key(GLOBAL_PARTITION, cursor)
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
            if len(done.get("settledSegments", {}).get("NS", [])) < total or "settledAt" in done:
                return
            try:
                self.client.update_item(
                    TableName=self.table, Key=key, UpdateExpression="SET settledAt = :now",
                    ConditionExpression="attribute_not_exists(settledAt)",
                    ExpressionAttributeValues={":now": _n(now)})
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise

    def entries(self, partition: str) -> list[LogEntry]:
        with _translated():
            return [_entry(item) for item in self._query(
                None, KeyConditionExpression="#p = :p", ExpressionAttributeNames=_PARTITION,
                ExpressionAttributeValues={":p": _s(partition)})]

    def purge(self, partition: str) -> int:
        with _translated():
            keys = [{PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]} for item in self._query(
                None, KeyConditionExpression="#p = :p", ExpressionAttributeNames=_BOTH,
                ExpressionAttributeValues={":p": _s(partition)}, ProjectionExpression="#p, #c")]
            self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
        return len(keys)
