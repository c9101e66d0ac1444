"""CKV_RT_017: a table outside the emulator cannot be deleted by a mistaken apply or console click."""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr

#: The emulator's tables (``realtime-local-*``) are thrown away with it: protection stays off there.
EMULATOR_NAME_PREFIX = "realtime-local-"


class DynamodbDeletionProtection(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every DynamoDB table outside the emulator has deletion protection enabled",
            id="CKV_RT_017",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_dynamodb_table"],
        )

    def scan_resource_conf(self, conf):
        name = attr(conf, "name")
        if isinstance(name, str) and name.startswith(EMULATOR_NAME_PREFIX):
            return CheckResult.UNKNOWN
        if attr(conf, "deletion_protection_enabled") is not True:
            self.details.append("deletion_protection_enabled is not true (the table and its history could be deleted)")
            return CheckResult.FAILED
        return CheckResult.PASSED


check = DynamodbDeletionProtection()
