"""CKV_RT_010: a redrive policy really moves poison messages aside.

It must name the dead-letter queue (``deadLetterTargetArn``) and give up after a finite number of
receives (``maxReceiveCount`` >= 1), whether it is written on the queue (``redrive_policy``) or as
its own ``aws_sqs_queue_redrive_policy`` resource. That every queue has one, or is a dead-letter
queue itself, is a question about two resources: ``sqs_queue_has_dlq.yaml`` (CKV_RT_013).
"""

import json

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr, resource_reference


def _decoded(value):
    """The redrive policy as a dict (JSON string or already decoded), or None when unreadable."""
    if isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


class SqsRedrivePolicyValid(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every SQS redrive policy names a dead-letter queue and a maxReceiveCount of at least 1",
            id="CKV_RT_010",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_sqs_queue", "aws_sqs_queue_redrive_policy"],
        )

    def scan_resource_conf(self, conf):
        value = attr(conf, "redrive_policy")
        if value in (None, "") and self.entity_type == "aws_sqs_queue":
            return CheckResult.UNKNOWN  # no inline policy: CKV_RT_013 decides whether one is needed
        policy = _decoded(value)
        if policy is None:
            self.details.append(f"redrive_policy is not a JSON object: {value!r}")
            return CheckResult.FAILED
        target = policy.get("deadLetterTargetArn")
        receives = policy.get("maxReceiveCount")
        problems = []
        if not (resource_reference(target, "aws_sqs_queue", "arn") or str(target or "").startswith("arn:")):
            problems.append(f"deadLetterTargetArn {target!r} is not a queue ARN")
        if not isinstance(receives, int) or receives < 1:
            problems.append(f"maxReceiveCount {receives!r} is not an integer >= 1")
        self.details.extend(problems)
        return CheckResult.FAILED if problems else CheckResult.PASSED


check = SqsRedrivePolicyValid()
