"""CKV_RT_009: ``$connect`` runs the REQUEST authorizer before a connection is accepted.

API Gateway supports authorizers on ``$connect`` only; once it allowed the handshake, every later
frame of the connection is trusted, so ``$connect`` is the single gate. Other routes are not
evaluated (the built-in CKV_AWS_309 is skipped for them, ADR 0011).
"""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr, resource_reference


class ConnectRouteCustomAuthorizer(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure the $connect route uses the CUSTOM (Lambda REQUEST) authorizer",
            id="CKV_RT_009",
            categories=[CheckCategories.IAM],
            supported_resources=["aws_apigatewayv2_route"],
        )

    def scan_resource_conf(self, conf):
        if attr(conf, "route_key") != "$connect":
            return CheckResult.UNKNOWN
        authorization = attr(conf, "authorization_type")
        authorizer = attr(conf, "authorizer_id")
        if authorization == "CUSTOM" and resource_reference(authorizer, "aws_apigatewayv2_authorizer", "id"):
            return CheckResult.PASSED
        self.details.append(
            f"authorization_type={authorization!r}, authorizer_id={authorizer!r}: expected CUSTOM and "
            "${aws_apigatewayv2_authorizer.<name>.id}"
        )
        return CheckResult.FAILED


check = ConnectRouteCustomAuthorizer()
