"""What every DynamoDB table of the stacks gets (CKV_RT_001, CKV_RT_017): items expire on ``expiresAt``,
point-in-time recovery, encryption with the stack's key, deletion protection outside the emulator."""

from __future__ import annotations

from typing import Any

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
    DynamodbTableTtl,
)

from stacks.constructs.kms_key import CustomerManagedKey

TTL_ATTRIBUTE = "expiresAt"


def hardened_table(key: CustomerManagedKey, deletion_protection: bool) -> dict[str, Any]:
    """Keyword arguments for ``DynamodbTable`` (on-demand billing included)."""
    return {
        "billing_mode": "PAY_PER_REQUEST",
        "ttl": DynamodbTableTtl(attribute_name=TTL_ATTRIBUTE, enabled=True),
        "point_in_time_recovery": DynamodbTablePointInTimeRecovery(enabled=True),
        "server_side_encryption": DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=key.arn),
        "deletion_protection_enabled": deletion_protection,
    }
