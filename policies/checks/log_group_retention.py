"""CKV_RT_006: every log group expires its events (CloudWatch's default keeps them forever)."""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_value_check import BaseResourceValueCheck

#: The values CloudWatch Logs accepts for retentionInDays; 0/unset means "never expire".
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip


class LogGroupRetention(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every CloudWatch log group has a retention period",
            id="CKV_RT_006",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_cloudwatch_log_group"],
        )

    def get_inspected_key(self):
        return "retention_in_days"

    def get_expected_values(self):
        return list(CLOUDWATCH_RETENTION_DAYS)


check = LogGroupRetention()
