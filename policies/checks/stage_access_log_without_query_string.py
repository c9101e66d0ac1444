"""CKV_RT_008: the WebSocket stage's access log never records the query string.

Browsers cannot set headers on a WebSocket handshake, so the token travels in the query string
(ADR 0003); any access-log variable that can carry request parameters would write it to the logs.
The stage must log (access_log_settings with a destination and a format) and the format may use
none of these variables.
"""

import re

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr

#: Access-log variables that can expand to request parameters (query string included).
REQUEST_PARAMETER_VARIABLES = re.compile(
    r"querystring|\$request\.|\$input\.|\$method\.request|\$context\.requestOverride|\$util\.",
    re.IGNORECASE,
)


class StageAccessLogWithoutQueryString(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure the API stage writes access logs whose format never contains the query string",
            id="CKV_RT_008",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_apigatewayv2_stage"],
        )

    def scan_resource_conf(self, conf):
        destination = attr(conf, "access_log_settings", "destination_arn")
        log_format = attr(conf, "access_log_settings", "format")
        if not destination or not isinstance(log_format, str) or not log_format:
            self.details.append("access_log_settings needs destination_arn and format")
            return CheckResult.FAILED
        leaks = sorted({m.group(0) for m in REQUEST_PARAMETER_VARIABLES.finditer(log_format)})
        if leaks:
            self.details.append(f"access-log format uses request-parameter variables: {leaks}")
            return CheckResult.FAILED
        return CheckResult.PASSED


check = StageAccessLogWithoutQueryString()
