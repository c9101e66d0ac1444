"""The notification log (ADR 0016, ADR 0018): every notification, per user (PK ``userId``) and once for
global announcements (``#global``), numbered by offset in its stream (SK ``cursor`` — the key the table was
created with — holds ``#head``, ``o<offset>``, ``r#<request id>`` and a user's read state ``#read`` and
``m#<stream>#<offset>``: ADR 0020), kept for the environment's retention
(TTL ``expiresAt``), so that a client that reconnects recovers exactly what it missed."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
)
from constructs import Construct

from stacks.constructs.iam import LeastPrivilegeRole
from stacks.constructs.kms_key import CustomerManagedKey
from stacks.constructs.table_hardening import hardened_table

PARTITION_KEY = "userId"
SORT_KEY = "cursor"
# The broadcast function stores entries in one TransactWriteItems per (stream, notification) — its Put
# (entry, idempotency item, a new stream's head) and Update (the head) need PutItem and UpdateItem —,
# reads heads, idempotency items and a global's stored frame (GetItem), and records finished scan
# segments (UpdateItem); nothing else writes.
APPEND_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
# The default function answers a resume and a 2.0 ping: heads (GetItem), then ranges (Query).
READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
# The default function writes a user's read state (ADR 0020): the ``#read`` item and ``m#…`` marks, with
# PutItem only and only these attributes (``dynamodb:Attributes``), so it can never write a frame, a head or
# an epoch. The same set as ``realtime.adapters.notification_log.READ_STATE_ATTRIBUTES`` (a stack test).
READ_STATE_ACTIONS = ("dynamodb:PutItem",)
READ_STATE_ATTRIBUTES = ("userId", "cursor", "readUser", "readGlobal", "ver", "expiresAt")


@dataclass(frozen=True)
class NotificationLogProps:
    #: ``realtime-<env>-notifications``.
    name: str
    key: CustomerManagedKey
    #: Refuse ``DeleteTable`` (off only on the emulator).
    deletion_protection: bool


class NotificationLog(Construct):
    """On-demand table, PK ``userId`` + SK ``cursor``, TTL, PITR, SSE with the CMK; no index (every read is
    one item or a key range of one partition)."""

    def __init__(self, scope: Construct, construct_id: str, props: NotificationLogProps):
        super().__init__(scope, construct_id)
        self._key = props.key
        self.table = DynamodbTable(
            self, "table",
            name=props.name,
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attribute=[DynamodbTableAttribute(name=PARTITION_KEY, type="S"),
                       DynamodbTableAttribute(name=SORT_KEY, type="S")],
            **hardened_table(props.key, props.deletion_protection),
        )
        self.table_name: str = self.table.name
        self.table_arn: str = self.table.arn

    def grant_appends(self, role: LeastPrivilegeRole) -> None:
        """Allocate offsets, store notifications and settle global ones (the broadcast function only)."""
        role.add_statement("NotificationLogAppends", APPEND_ACTIONS, [self.table_arn])
        self._key.grant_encrypt_decrypt(role)

    def grant_read_state_writes(self, role: LeastPrivilegeRole) -> None:
        """Write a user's read state — positions and marks, nothing else (the default function only)."""
        role.add_statement("NotificationLogReadState", READ_STATE_ACTIONS, [self.table_arn], condition={
            "ForAllValues:StringEquals": {"dynamodb:Attributes": list(READ_STATE_ATTRIBUTES)}})
        self._key.grant_encrypt_decrypt(role)

    def grant_reads(self, role: LeastPrivilegeRole) -> None:
        """Read a user's and the global stream for a resume or a pong (the default function only)."""
        role.add_statement("NotificationLogReads", READ_ACTIONS, [self.table_arn])
        self._key.grant_encrypt_decrypt(role)
