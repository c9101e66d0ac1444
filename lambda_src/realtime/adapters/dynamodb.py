"""Connection store on the DynamoDB table described in docs/contracts.md (ADR 0004, ADR 0016).

Uses the low-level client (no resource layer: less import time, explicit types). Every AWS error
leaves this module as a domain error.

Besides one row per connection the table keeps one membership item per user (``#user#<userId>``, a map
of connection id → connect time) written in the same transactions as the rows. Broadcasts read it with
strong consistency: the ``byUser`` GSI is eventually consistent and can miss a connection registered a
moment ago, which would then get a notification neither live nor by replay.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
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
from realtime.ports import (
    Claim,
    Connection,
    ExpiringConnection,
    MessageWindow,
    Page,
    expiry_bucket,
    oldest_live,
)

COUNTER_KEY = "#counter"
ANNOUNCEMENT_KEY = "#announcement"
MEMBERSHIP_PREFIX = "#user#"
#: Per-user read budget of ``resume`` (ADR 0018), one item per fixed window.
BUDGET_PREFIX = "#budget#"
#: BatchGetItem's maximum number of keys per call.
BATCH_GET_KEYS = 100
#: Unprocessed batch items are retried this often (with backoff) before the call counts as throttled.
BATCH_ATTEMPTS = 5
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


def batch_until_processed(call: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any],
                          unprocessed: str, sleep: Callable[[float], None], rng: random.Random,
                          what: str) -> Iterator[dict[str, Any]]:
    """Yields each response of a BatchGetItem/BatchWriteItem ``call`` and calls again with what came back
    as ``unprocessed`` (``UnprocessedKeys``/``UnprocessedItems``), with jittered backoff; Throttled
    after :data:`BATCH_ATTEMPTS` calls that still left some."""
    for attempt in range(BATCH_ATTEMPTS):
        response = call(request)
        yield response
        request = response.get(unprocessed) or {}
        if not request:
            return
        sleep(rng.uniform(0, 0.05 * 2 ** attempt))
    raise Throttled(f"{what} unprocessed")


def membership_key(user_id: str) -> str:
    return MEMBERSHIP_PREFIX + user_id


class _MembershipMoved(Exception):
    """The user's membership item changed between our read and our transaction: read it again."""


class _NoMembership(Exception):
    """A row from before membership items existed: remove it without touching a membership item."""


class DynamoConnectionStore:
    def __init__(self, client: Any, table_name: str, *, scan_page_size: int = 1000,
                 sleep=time.sleep, rng: random.Random | None = None, clock=time.time):
        self.client = client
        self.table = table_name
        self.scan_page_size = scan_page_size
        self._clock = clock
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

    def _membership(self, user_id: str) -> tuple[dict[str, int], int | None]:
        """(connection id → connect time, version) of a user; version None when there is no item yet."""
        item = self.client.get_item(TableName=self.table, Key=self._key(membership_key(user_id)),
                                    ConsistentRead=True).get("Item")
        if not item:
            return {}, None
        members = {cid: int(value["N"]) for cid, value in item.get("members", {}).get("M", {}).items()}
        return members, int(item.get("ver", {}).get("N", "0"))

    def add(self, connection: Connection, *, global_limit: int, per_user_limit: int) -> None:
        item = {
            "connectionId": _s(connection.connection_id),
            "userId": _s(connection.user_id),
            "connectedAt": _n(connection.connected_at),
            "tokenExpiresAt": _n(connection.token_expires_at),
            "expiryBucket": _s(connection.expiry_bucket),
            "expiresAt": _n(connection.expires_at),
        }
        counter = {"Update": {"TableName": self.table, "Key": self._key(COUNTER_KEY),
                              "UpdateExpression": "ADD active :one",
                              "ConditionExpression": "attribute_not_exists(active) OR active < :limit",
                              "ExpressionAttributeValues": {":one": _n(1), ":limit": _n(global_limit)}}}
        row = {"Put": {"TableName": self.table, "Item": item,
                       "ConditionExpression": "attribute_not_exists(connectionId)"}}
        with _translated():
            for _attempt in range(TRANSACTION_ATTEMPTS):
                members, version = self._membership(connection.user_id)
                oldest = oldest_live(connection.connected_at)
                live = [cid for cid, at in members.items() if at > oldest]
                if len(live) >= per_user_limit:
                    raise UserLimitReached()
                stale = [cid for cid in members if cid not in live]
                try:
                    self._transact([counter, row, self._join(connection, version, stale)],
                                   on_condition=(GlobalLimitReached, DuplicateConnection, _MembershipMoved))
                    return
                except _MembershipMoved:
                    continue  # another connect of this user won the race: count again
            raise Throttled("membership contention")

    def _join(self, connection: Connection, version: int | None, stale: list[str]) -> dict[str, Any]:
        """The membership write of a connect: create the item, or add to it (dropping dead members)."""
        key = self._key(membership_key(connection.user_id))
        if version is None:
            return {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(connectionId)",
                            "Item": {**key, "members": {"M": {connection.connection_id: _n(connection.connected_at)}},
                                     "ver": _n(1), "expiresAt": _n(connection.expires_at)}}}
        names = {"#new": connection.connection_id, **{f"#s{i}": cid for i, cid in enumerate(stale)}}
        update = "SET members.#new = :at, ver = :next, expiresAt = :exp"
        if stale:
            update += " REMOVE " + ", ".join(f"members.#s{i}" for i in range(len(stale)))
        return {"Update": {"TableName": self.table, "Key": key, "UpdateExpression": update,
                           "ConditionExpression": "ver = :ver", "ExpressionAttributeNames": names,
                           "ExpressionAttributeValues": {":at": _n(connection.connected_at), ":ver": _n(version),
                                                         ":next": _n(version + 1),
                                                         ":exp": _n(connection.expires_at)}}}

    def members(self, user_id: str) -> dict[str, int]:
        with _translated():
            return self._membership(user_id)[0]

    def remove(self, connection_id: str) -> bool:
        return self._remove(connection_id, connected_before=None)

    def remove_stale(self, connection_id: str, connected_before: int) -> bool:
        return self._remove(connection_id, connected_before)

    def _remove(self, connection_id: str, connected_before: int | None) -> bool:
        if connection_id.startswith("#"):
            return False
        with _translated():
            current = self.get(connection_id)
            if current is None:
                return False
            if connected_before is not None and current.connected_at >= connected_before:
                return False  # still inside $connect (API Gateway answers 410 until it returns)
            delete: dict[str, Any] = {"TableName": self.table, "Key": self._key(connection_id),
                                      "ConditionExpression": "attribute_exists(connectionId)"}
            if connected_before is not None:
                delete["ConditionExpression"] += " AND connectedAt < :cutoff"
                delete["ExpressionAttributeValues"] = {":cutoff": _n(connected_before)}
            items = [{"Delete": delete},
                     {"Update": {"TableName": self.table, "Key": self._key(COUNTER_KEY),
                                 "UpdateExpression": "ADD active :minus",
                                 "ExpressionAttributeValues": {":minus": _n(-1)}}},
                     {"Update": {"TableName": self.table, "Key": self._key(membership_key(current.user_id)),
                                 "UpdateExpression": "REMOVE members.#c", "ConditionExpression": "attribute_exists(members)",
                                 "ExpressionAttributeNames": {"#c": connection_id}}}]
            try:
                self._transact(items, on_condition=(LookupError, None, _NoMembership))
            except LookupError:
                return False
            except _NoMembership:
                try:
                    self._transact(items[:2], on_condition=(LookupError, None))
                except LookupError:
                    return False
            return True

    def refresh_token(self, connection_id: str, user_id: str, token_expires_at: int) -> bool:
        bucket = expiry_bucket(token_expires_at)
        return self._update_if(Key=self._key(connection_id), ConditionExpression="userId = :user",
                               UpdateExpression="SET tokenExpiresAt = :exp, expiryBucket = :bucket",
                               ExpressionAttributeValues={":exp": _n(token_expires_at), ":user": _s(user_id),
                                                          ":bucket": _s(bucket)})

    def _update_if(self, **kwargs: Any) -> bool:
        """A conditional UpdateItem: False when its condition does not hold."""
        with _translated():
            try:
                self.client.update_item(TableName=self.table, **kwargs)
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    return False
                raise
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
                                         token_expires_at=int(item["tokenExpiresAt"]["N"]),
                                         user_id=item.get("userId", {}).get("S", ""))
                if self.get(connection_id) is None:
                    return None
        # The row exists but concurrent messages kept moving its window: not "unknown" (that closes the
        # connection), an error the client is answered INTERNAL_ERROR for.
        raise StoreUnavailable("rate window contention")

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
        return list(dict.fromkeys(cid for ids in self.connections_by_user(user_ids).values() for cid in ids))

    def connections_by_user(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        users = list(dict.fromkeys(user_ids))
        found: dict[str, dict[str, None]] = {user_id: {} for user_id in users}
        with _translated():
            for start in range(0, len(users), BATCH_GET_KEYS):
                for user_id, members in self._members_of(users[start:start + BATCH_GET_KEYS]).items():
                    found[user_id].update(dict.fromkeys(members))
            # The index as well: rows written before membership items existed (the deploy that added
            # them) are found only there. Duplicates merge; a lagging index only ever adds nothing.
            for user_id in users:
                found[user_id].update(dict.fromkeys(
                    item["connectionId"]["S"]
                    for page in self._pages("query", IndexName=BY_USER, KeyConditionExpression="userId = :u",
                                            ExpressionAttributeValues={":u": _s(user_id)})
                    for item in page.get("Items", [])))
        return {user_id: list(ids) for user_id, ids in found.items()}

    def _members_of(self, users: list[str]) -> dict[str, list[str]]:
        oldest = oldest_live(self._clock())
        request = {self.table: {"Keys": [self._key(membership_key(user)) for user in users],
                                "ConsistentRead": True, "ProjectionExpression": "connectionId, members"}}
        members: dict[str, list[str]] = {}
        for response in batch_until_processed(lambda pending: self.client.batch_get_item(RequestItems=pending),
                                              request, "UnprocessedKeys", self._sleep, self._rng, "membership reads"):
            for item in response.get("Responses", {}).get(self.table, []):
                user_id = item["connectionId"]["S"][len(MEMBERSHIP_PREFIX):]
                members.setdefault(user_id, []).extend(
                    cid for cid, at in item.get("members", {}).get("M", {}).items() if int(at["N"]) > oldest)
        return members

    def scan_page(self, segment: int, total_segments: int, cursor: str | None) -> Page:
        # The base table, strongly consistent (a GSI scan could miss a row written a moment ago); only
        # connection rows carry userId, so meta and membership items are filtered out.
        kwargs: dict[str, Any] = {"TableName": self.table, "Segment": segment, "TotalSegments": total_segments,
                                  "Limit": self.scan_page_size, "ConsistentRead": True,
                                  "ProjectionExpression": "connectionId",
                                  "FilterExpression": "attribute_exists(userId)"}
        if cursor:
            kwargs["ExclusiveStartKey"] = {"connectionId": _s(json.loads(cursor)["connectionId"])}
        with _translated():
            response = self.client.scan(**kwargs)
        last = response.get("LastEvaluatedKey")
        next_cursor = json.dumps({"connectionId": last["connectionId"]["S"]}, separators=(",", ":")) if last else None
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

    def spend_read_budget(self, user_id: str, items: int, window: int, limit: int, expires_at: int) -> bool:
        """One item per user and window, ``#budget#<userId>#<window>`` (no ``userId`` attribute: never a row,
        never scanned), its TTL the window's end: the count and its refusal in one conditional update."""
        if items > limit:
            return False
        with _translated():
            try:
                self.client.update_item(
                    TableName=self.table, Key=self._key(f"{BUDGET_PREFIX}{user_id}#{window}"),
                    UpdateExpression="ADD readItems :n SET expiresAt = :exp",
                    ConditionExpression="attribute_not_exists(readItems) OR readItems <= :room",
                    ExpressionAttributeValues={":n": _n(items), ":exp": _n(expires_at), ":room": _n(limit - items)})
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def try_announce(self, request_id: str, now: int, interval_seconds: int) -> bool:
        return self._update_if(
            Key=self._key(ANNOUNCEMENT_KEY), UpdateExpression="SET lastAt = :now, requestId = :id",
            ConditionExpression="attribute_not_exists(lastAt) OR lastAt <= :cutoff OR requestId = :id",
            ExpressionAttributeValues={":now": _n(now), ":cutoff": _n(now - interval_seconds), ":id": _s(request_id)})
