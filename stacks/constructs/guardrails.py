"""Synthesis-time guardrails (cdktf Aspects) that hold for every ``realtime-<env>`` stack.

Wildcard IAM actions are refused earlier, where statements are built (``iam.Statement``); this aspect
holds the naming rule ``{project}-{env}-{component}`` for every named AWS resource, so two
environments in one account can never collide and every resource says which stack owns it.
"""

from __future__ import annotations

from typing import Any

import jsii
from cdktf import IAspect, TerraformResource
from constructs import IConstruct

# Attributes that carry an AWS-side name, per the provider's schema.
NAME_ATTRIBUTES = ("name", "function_name", "alarm_name", "dashboard_name", "layer_name")
# A stage is named after its environment (contract: stage name = environment name).
UNPREFIXED_TYPES = {"aws_apigatewayv2_stage"}


class NamingViolation(ValueError):
    """A resource name that does not carry the stack's ``realtime-<env>`` prefix."""


@jsii.implements(IAspect)
class NamingGuardrail:
    def __init__(self, prefix: str):
        #: ``realtime-<env>``; log groups (``/aws/lambda/realtime-dev-…``) and aliases contain it.
        self.prefix = prefix

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource) or node.terraform_resource_type in UNPREFIXED_TYPES:
            return
        attributes: dict[str, Any] = next(iter(node.to_terraform()["resource"].values()))
        (config,) = attributes.values()
        for attribute in NAME_ATTRIBUTES:
            value = config.get(attribute)
            if isinstance(value, str) and not value.startswith("${") and self.prefix not in value:
                raise NamingViolation(f"{node.node.path}: {attribute} {value!r} does not contain "
                                      f"{self.prefix!r} (AWS names are {{project}}-{{env}}-{{component}})")
