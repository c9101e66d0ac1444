"""CKV_RT_005: every function logs to a log group the stack manages (retention, key, lifecycle).

Without ``logging_config.log_group`` pointing at a managed ``aws_cloudwatch_log_group``, Lambda
creates ``/aws/lambda/<name>`` itself on first invocation: never-expiring, unencrypted and outside
terraform. The reference also orders creation, so the group exists before the function can log.
CKV_RT_006 then holds every log group to a retention.
"""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr, resource_reference


class LambdaManagedLogGroup(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every Lambda function logs to a log group managed by the stack",
            id="CKV_RT_005",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf):
        log_group = attr(conf, "logging_config", "log_group")
        if resource_reference(log_group, "aws_cloudwatch_log_group", "name"):
            return CheckResult.PASSED
        self.details.append(
            f"logging_config.log_group is {log_group!r}, not ${{aws_cloudwatch_log_group.<name>.name}}"
        )
        return CheckResult.FAILED


check = LambdaManagedLogGroup()
