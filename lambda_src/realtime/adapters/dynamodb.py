"""Connection store on the DynamoDB table described in docs/contracts.md (ADR 0004).

Uses the low-level client (no resource layer: less import time, explicit types). Every AWS error
leaves this module as a domain error.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from realtime.errors import (
    DuplicateConnection,
    GlobalLimitReached,
    StoreUnavailable,
    Throttled,
    UserLimitReached,
)
from realtime.ports import Claim, Connection, ExpiringConnection, MessageWindow, Page

COUNTER_KEY = "#counter"
ANNOUNCEMENT_KEY = "#announcement"
BY_USER = "byUser"
BY_TOKEN_EXPIRY = "byTokenExpiry"  # noqa: S105 - index name
REQUEST_RETENTION_SECONDS = 86400
_THROTTLE_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                   "ThrottlingError", "ProvisionedThroughputExceeded", "TooManyRequestsException"}
#: Connect transactions all touch the counter item; concurrent ones conflict and are retried this often.
TRANSACTION_ATTEMPTS = 4


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons")
    if reasons:
        return [reason.get("Code") or "None" for reason in reasons]
    # Some emulators only put the reasons in the message: "... [ConditionalCheckFailed, None]".
    message = error.response.get("Error", {}).get("Message", "")
    if "[" in message and "]" in message:
        return [part.strip() for part in message[message.rindex("[") + 1:message.rindex("]")].split(",")]
    return []


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = _code(error)
        if code in _THROTTLE_CODES:
            raise Throttled(code) from None
        raise StoreUnavailable(code or "ClientError") from None
    except BotoCoreError as error:
        raise StoreUnavailable(type(error).__name__) from None


def _n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoConnectionStore:
    def __init__(self, client: Any, table_name: str, *, scan_page_size: int = 1000,
                 sleep=time.sleep, rng: random.Random | None = None):
        self.client = client
        self.table = table_name
        self.scan_page_size = scan_page_size
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def _key(self, connection_id: str) -> dict[str, Any]:
        return {"connectionId": _s(connection_id)}

    # -- connections ------------------------------------------------------------------------------
    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a query or scan (following LastEvaluatedKey)."""
        call = getattr(self.client, operation)
        while True:
            response = call(TableName=self.table, **kwargs)
            yield response
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _user_connection_count(self, user_id: str, stop_at: int) -> int:
        count = 0
        for page in self._pages("query", IndexName=BY_USER, Select="COUNT", KeyConditionExpression="userId = :u",
                                ExpressionAttributeValues={":u": _s(user_id)}):
            count += page.get("Count", 0)
            if count >= stop_at:
                break
        return count

    def add(self, connection: Connection, *, global_limit: int, per_user_limit: int) -> None:
        with _translated():
            if self._user_connection_count(connection.user_id, per_user_limit) >= per_user_limit:
                raise UserLimitReached()
            item = {
                "connectionId": _s(connection.connection_id),
                "userId": _s(connection.user_id),
                "connectedAt": _n(connection.connected_at),
                "tokenExpiresAt": _n(connection.token_expires_at),
                "expiryBucket": _s(connection.expiry_bucket),
                "expiresAt": _n(connection.expires_at),
            }
            self._transact([
                {"Update": {"TableName": self.table, "Key": self._key(COUNTER_KEY),
                            "UpdateExpression": "ADD active :one",
                            "ConditionExpression": "attribute_not_exists(active) OR active < :limit",
                            "ExpressionAttributeValues": {":one": _n(1), ":limit": _n(global_limit)}}},
                {"Put": {"TableName": self.table, "Item": item,
                         "ConditionExpression": "attribute_not_exists(connectionId)"}},
            ], on_condition=(GlobalLimitReached, DuplicateConnection))

    def remove(self, connection_id: str) -> bool:
        if connection_id.startswith("#"):
            return False
        with _translated():
            try:
                self._transact([
                    {"Delete": {"TableName": self.table, "Key": self._key(connection_id),
                                "ConditionExpression": "attribute_exists(connectionId)"}},
                    {"Update": {"TableName": self.table, "Key": self._key(COUNTER_KEY),
                                "UpdateExpression": "ADD active :minus",
                                "ExpressionAttributeValues": {":minus": _n(-1)}}},
                ], on_condition=(LookupError, None))
            except LookupError:
                return False
            return True

    def _transact(self, items: list[dict[str, Any]], on_condition: tuple) -> None:
        """Run a transaction; a failed condition on item i raises ``on_condition[i]``."""
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return
            except ClientError as error:
                if _code(error) != "TransactionCanceledException":
                    raise
                codes = _cancellation_codes(error)
                for index, code in enumerate(codes):
                    if code == "ConditionalCheckFailed" and index < len(on_condition) and on_condition[index]:
                        raise on_condition[index]() from None
                if any(code in _THROTTLE_CODES for code in codes):
                    raise Throttled("transaction throttled") from None
                if "TransactionConflict" not in codes or attempt == TRANSACTION_ATTEMPTS - 1:
                    raise Throttled("transaction conflict") if "TransactionConflict" in codes else \
                        StoreUnavailable("transaction canceled: " + ",".join(codes)) from None
                self._sleep(self._rng.uniform(0, 0.02 * 2 ** attempt))

    def get(self, connection_id: str) -> Connection | None:
        with _translated():
            item = self.client.get_item(TableName=self.table, Key=self._key(connection_id),
                                        ConsistentRead=True).get("Item")
        if not item or "userId" not in item:
            return None
        return Connection(connection_id=connection_id, user_id=item["userId"]["S"],
                          connected_at=int(item["connectedAt"]["N"]),
                          token_expires_at=int(item["tokenExpiresAt"]["N"]))

    def active_count(self) -> int:
        with _translated():
            item = self.client.get_item(TableName=self.table, Key=self._key(COUNTER_KEY),
                                        ConsistentRead=True).get("Item") or {}
        return int(item.get("active", {}).get("N", "0"))

    def count_connections(self) -> int:
        with _translated():
            return sum(page.get("Count", 0) for page in self._pages("scan", IndexName=BY_USER, Select="COUNT"))

    def adjust_counter(self, delta: int) -> None:
        with _translated():
            self.client.update_item(TableName=self.table, Key=self._key(COUNTER_KEY),
                                    UpdateExpression="ADD active :delta",
                                    ExpressionAttributeValues={":delta": _n(delta)})

    def count_message(self, connection_id: str, window: int) -> MessageWindow | None:
        attempts = [
            ("SET rateCount = rateCount + :one", "rateWindow = :w"),
            ("SET rateWindow = :w, rateCount = :one",
             "attribute_exists(userId) AND (attribute_not_exists(rateWindow) OR rateWindow < :w)"),
        ]
        with _translated():
            for _round in range(2):  # a concurrent message may move the window between the two updates
                for update, condition in attempts:
                    try:
                        item = self.client.update_item(
                            TableName=self.table, Key=self._key(connection_id), UpdateExpression=update,
                            ConditionExpression=condition, ReturnValues="ALL_NEW",
                            ExpressionAttributeValues={":one": _n(1), ":w": _n(window)})["Attributes"]
                    except ClientError as error:
                        if _code(error) != "ConditionalCheckFailedException":
                            raise
                        continue
                    return MessageWindow(count=int(item["rateCount"]["N"]),
                                         violations=int(item.get("rateViolations", {}).get("N", "0")),
                                         token_expires_at=int(item["tokenExpiresAt"]["N"]))
                if self.get(connection_id) is None:
                    return None
        return None

    def add_rate_violation(self, connection_id: str) -> int:
        with _translated():
            try:
                item = self.client.update_item(
                    TableName=self.table, Key=self._key(connection_id), UpdateExpression="ADD rateViolations :one",
                    ConditionExpression="attribute_exists(userId)", ReturnValues="UPDATED_NEW",
                    ExpressionAttributeValues={":one": _n(1)})["Attributes"]
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    return 0
                raise
        return int(item["rateViolations"]["N"])

    # -- queries ----------------------------------------------------------------------------------
    def connections_of_users(self, user_ids: Iterable[str]) -> list[str]:
        with _translated():
            return [item["connectionId"]["S"]
                    for user_id in dict.fromkeys(user_ids)
                    for page in self._pages("query", IndexName=BY_USER, KeyConditionExpression="userId = :u",
                                            ExpressionAttributeValues={":u": _s(user_id)})
                    for item in page.get("Items", [])]

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page:
        # The sparse KEYS_ONLY byUser index holds connection rows only, a few dozen bytes each.
        kwargs: dict[str, Any] = {"TableName": self.table, "IndexName": BY_USER, "Segment": segment,
                                  "TotalSegments": total_segments, "Limit": self.scan_page_size}
        if cursor:
            kwargs["ExclusiveStartKey"] = {name: _s(value) for name, value in json.loads(cursor).items()}
        with _translated():
            response = self.client.scan(**kwargs)
        last = response.get("LastEvaluatedKey")
        next_cursor = json.dumps({k: v["S"] for k, v in last.items()}, separators=(",", ":")) if last else None
        return Page([item["connectionId"]["S"] for item in response.get("Items", [])], next_cursor)

    def expiring(self, bucket: str, until: int) -> list[ExpiringConnection]:
        with _translated():
            return [ExpiringConnection(item["connectionId"]["S"], int(item["tokenExpiresAt"]["N"]))
                    for page in self._pages("query", IndexName=BY_TOKEN_EXPIRY,
                                            KeyConditionExpression="expiryBucket = :b AND tokenExpiresAt <= :t",
                                            ExpressionAttributeValues={":b": _s(bucket), ":t": _n(until)})
                    for item in page.get("Items", [])]

    # -- meta items -------------------------------------------------------------------------------
    def claim_request(self, key: str, now: int, lease_seconds: int) -> Claim:
        with _translated():
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={"connectionId": _s(key), "claimedAt": _n(now), "expiresAt": _n(now + REQUEST_RETENTION_SECONDS)},
                    ConditionExpression="attribute_not_exists(connectionId) OR "
                                        "(attribute_not_exists(completedAt) AND claimedAt < :stale)",
                    ExpressionAttributeValues={":stale": _n(now - lease_seconds)})
                return Claim.CLAIMED
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise
            item = self.client.get_item(TableName=self.table, Key=self._key(key), ConsistentRead=True).get("Item")
        return Claim.COMPLETED if item and "completedAt" in item else Claim.IN_PROGRESS

    def complete_request(self, key: str, now: int) -> None:
        with _translated():
            self.client.update_item(TableName=self.table, Key=self._key(key),
                                    UpdateExpression="SET completedAt = :now, expiresAt = :exp",
                                    ExpressionAttributeValues={":now": _n(now),
                                                               ":exp": _n(now + REQUEST_RETENTION_SECONDS)})

    def release_request(self, key: str) -> None:
        with _translated():
            try:
                self.client.delete_item(TableName=self.table, Key=self._key(key),
                                        ConditionExpression="attribute_not_exists(completedAt)")
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise

    def try_announce(self, request_id: str, now: int, interval_seconds: int) -> bool:
        with _translated():
            try:
                self.client.update_item(
                    TableName=self.table, Key=self._key(ANNOUNCEMENT_KEY),
                    UpdateExpression="SET lastAt = :now, requestId = :id",
                    ConditionExpression="attribute_not_exists(lastAt) OR lastAt <= :cutoff OR requestId = :id",
                    ExpressionAttributeValues={":now": _n(now), ":cutoff": _n(now - interval_seconds),
                                               ":id": _s(request_id)})
                return True
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise
        return False
