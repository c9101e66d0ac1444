"""The connection table (schema in docs/contracts.md): one row per open WebSocket plus ``#``-prefixed
meta items (global counter, announcement throttle, broadcast idempotency)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTableGlobalSecondaryIndex,
)
from constructs import Construct

from stacks.constructs.iam import LeastPrivilegeRole
from stacks.constructs.kms_key import CustomerManagedKey
from stacks.constructs.table_hardening import hardened_table

PARTITION_KEY = "connectionId"
BY_USER_INDEX = "byUser"
BY_TOKEN_EXPIRY_INDEX = "byTokenExpiry"  # noqa: S105 - an index name
# Everything the runtime does to single items: the connect transaction (Put + counter Update),
# the rate-limit Update, deletes on disconnect/sweep, conditional checks, batched stale-row deletes.
ITEM_WRITE_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
                      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")


@dataclass(frozen=True)
class ConnectionTableProps:
    #: ``realtime-<env>-connections``.
    name: str
    key: CustomerManagedKey
    #: Refuse ``DeleteTable`` (off only on the emulator).
    deletion_protection: bool


class ConnectionTable(Construct):
    """On-demand table, TTL ``expiresAt``, PITR, SSE with the CMK, sparse KEYS_ONLY GSIs."""

    def __init__(self, scope: Construct, construct_id: str, props: ConnectionTableProps):
        super().__init__(scope, construct_id)
        self._key = props.key
        self.table = DynamodbTable(
            self, "table",
            name=props.name,
            hash_key=PARTITION_KEY,
            attribute=[
                DynamodbTableAttribute(name=PARTITION_KEY, type="S"),
                DynamodbTableAttribute(name="userId", type="S"),
                DynamodbTableAttribute(name="expiryBucket", type="S"),
                DynamodbTableAttribute(name="tokenExpiresAt", type="N"),
            ],
            global_secondary_index=[
                DynamodbTableGlobalSecondaryIndex(name=BY_USER_INDEX, hash_key="userId",
                                                  projection_type="KEYS_ONLY"),
                DynamodbTableGlobalSecondaryIndex(name=BY_TOKEN_EXPIRY_INDEX, hash_key="expiryBucket",
                                                  range_key="tokenExpiresAt", projection_type="KEYS_ONLY"),
            ],
            **hardened_table(props.key, props.deletion_protection),
        )

        self.table_name: str = self.table.name
        self.table_arn: str = self.table.arn

    def index_arn(self, index: str) -> str:
        return f"{self.table_arn}/index/{index}"

    def grant_connection_writes(self, role: LeastPrivilegeRole) -> None:
        """Item reads and writes on the table itself (not its indexes)."""
        role.add_statement("ConnectionItems", ITEM_WRITE_ACTIONS, [self.table_arn])
        self._key.grant_encrypt_decrypt(role)

    def grant_user_queries(self, role: LeastPrivilegeRole) -> None:
        """``Query`` on ``byUser``: a user's connections (per-user cap, targeted broadcasts)."""
        role.add_statement("ConnectionsByUser", ["dynamodb:Query"], [self.index_arn(BY_USER_INDEX)])
        self._key.grant_encrypt_decrypt(role)

    def grant_expiry_queries(self, role: LeastPrivilegeRole) -> None:
        """``Query`` on ``byTokenExpiry``: connections whose token expires in a given minute."""
        role.add_statement("ConnectionsByTokenExpiry", ["dynamodb:Query"],
                           [self.index_arn(BY_TOKEN_EXPIRY_INDEX)])
        self._key.grant_encrypt_decrypt(role)

    def grant_scan(self, role: LeastPrivilegeRole) -> None:
        """Parallel ``Scan`` of the table: global broadcasts and the counter reconciliation."""
        role.add_statement("ConnectionScan", ["dynamodb:Scan"], [self.table_arn])
        self._key.grant_encrypt_decrypt(role)
