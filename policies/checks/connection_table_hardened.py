"""CKV_RT_001: every table (connections, notification log) expires items, can be restored and uses our key."""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr, resource_reference


class ConnectionTableHardened(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every DynamoDB table has TTL on expiresAt, point-in-time recovery and CMK encryption",
            id="CKV_RT_001",
            categories=[CheckCategories.BACKUP_AND_RECOVERY, CheckCategories.ENCRYPTION],
            supported_resources=["aws_dynamodb_table"],
        )

    def scan_resource_conf(self, conf):
        problems = []
        if attr(conf, "ttl", "enabled") is not True or attr(conf, "ttl", "attribute_name") != "expiresAt":
            problems.append("TTL is not enabled on expiresAt (stale rows would never expire)")
        if attr(conf, "point_in_time_recovery", "enabled") is not True:
            problems.append("point-in-time recovery is off")
        key = attr(conf, "server_side_encryption", "kms_key_arn")
        if attr(conf, "server_side_encryption", "enabled") is not True or not resource_reference(
            key, "aws_kms_key", "arn"
        ):
            problems.append("not encrypted with the stack's customer-managed key (aws_kms_key.<name>.arn)")
        self.details.extend(problems)
        return CheckResult.FAILED if problems else CheckResult.PASSED


check = ConnectionTableHardened()
