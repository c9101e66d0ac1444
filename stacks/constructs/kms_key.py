"""The stack's customer-managed KMS key: table, queues, log groups, SNS topic and Lambda
environment variables are all encrypted with it."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.kms_key_policy import KmsKeyPolicy
from constructs import Construct

from stacks.constructs.iam import LeastPrivilegeRole, Statement, policy_document

# Administration of the key, delegated to the account's IAM (who may do it is decided there).
# Named one by one: no ``kms:*`` and no ``kms:Create*``-style patterns.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
    "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:RevokeGrant", "kms:ScheduleKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
)
# Cryptographic use, through IAM policies of this account's principals (the grants below).
KEY_USE_ACTIONS = (
    "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
)
# Services that encrypt on their own behalf (AWS-owned principals, no IAM role to grant to).
LOGS_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                "kms:ReEncryptFrom", "kms:ReEncryptTo")
ALARM_PUBLISH_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


@dataclass(frozen=True)
class KmsKeyProps:
    #: ``alias/realtime-<env>``.
    alias: str
    description: str
    account_id: str
    region: str
    partition: str
    #: 7..30 days before a scheduled deletion happens.
    deletion_window_days: int = 30


class CustomerManagedKey(Construct):
    """KMS key with rotation and an explicit key policy; grant methods for its users."""

    def __init__(self, scope: Construct, construct_id: str, props: KmsKeyProps):
        super().__init__(scope, construct_id)
        self.key = KmsKey(self, "key", description=props.description, enable_key_rotation=True,
                          deletion_window_in_days=props.deletion_window_days,
                          key_usage="ENCRYPT_DECRYPT", customer_master_key_spec="SYMMETRIC_DEFAULT")
        # Token strings are taken once: equal grants then compare equal and merge.
        self.arn: str = self.key.arn
        KmsAlias(self, "alias", name=props.alias, target_key_id=self.key.key_id)
        account_root = f"arn:{props.partition}:iam::{props.account_id}:root"
        logs_arn = f"arn:{props.partition}:logs:{props.region}:{props.account_id}:log-group:*"
        # A separate key-policy resource can name the key's own ARN as Resource (the inline
        # ``policy`` argument cannot reference its own key), so no statement says Resource "*".
        statements = [
            Statement(sid="KeyAdministrationByAccountIam", principal={"AWS": account_root},
                      actions=KEY_ADMIN_ACTIONS, resources=(self.key.arn,)),
            Statement(sid="KeyUseByAccountIam", principal={"AWS": account_root},
                      actions=KEY_USE_ACTIONS, resources=(self.key.arn,)),
            Statement(sid="GrantsForAwsResourcesOnly", principal={"AWS": account_root},
                      actions=("kms:CreateGrant",), resources=(self.key.arn,),
                      condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            Statement(sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
                      principal={"Service": f"logs.{props.region}.amazonaws.com"},
                      actions=LOGS_ACTIONS, resources=(self.key.arn,),
                      condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arn}}),
            Statement(sid="CloudWatchAlarmsPublishToEncryptedTopic",
                      principal={"Service": "cloudwatch.amazonaws.com"},
                      actions=ALARM_PUBLISH_ACTIONS, resources=(self.key.arn,),
                      condition={"StringEquals": {"aws:SourceAccount": props.account_id}}),
        ]
        KmsKeyPolicy(self, "policy", key_id=self.key.key_id, policy=policy_document(statements))

    def grant_decrypt(self, role: LeastPrivilegeRole) -> None:
        """Read data encrypted with the key (Lambda environment variables, SQS messages)."""
        role.add_statement("StackKey", ["kms:Decrypt"], [self.arn])

    def grant_encrypt_decrypt(self, role: LeastPrivilegeRole) -> None:
        """Write and read data encrypted with the key (DynamoDB items, SQS messages sent)."""
        role.add_statement("StackKey", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [self.arn])
