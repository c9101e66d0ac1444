"""CKV_RT_010: no message is retried forever or silently dropped: every queue has a DLQ or is one.

A queue is a dead-letter queue when it says so: ``redrive_allow_policy`` naming which queues may use
it, or a name ending in ``-dlq`` (``realtime-<env>-broadcast-dlq``, docs/contracts.md).
"""

import json

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr


def _redrive_policy(value):
    """The redrive policy as a dict (JSON string or already decoded), or None."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return None


class SqsQueueHasDlq(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every SQS queue has a dead-letter queue or is one",
            id="CKV_RT_010",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_sqs_queue"],
        )

    def scan_resource_conf(self, conf):
        redrive = _redrive_policy(attr(conf, "redrive_policy"))
        if redrive is not None:
            if redrive.get("deadLetterTargetArn") and int(redrive.get("maxReceiveCount") or 0) >= 1:
                return CheckResult.PASSED
            self.details.append("redrive_policy needs deadLetterTargetArn and maxReceiveCount >= 1")
            return CheckResult.FAILED
        name = attr(conf, "name")
        if attr(conf, "redrive_allow_policy") or (isinstance(name, str) and name.endswith("-dlq")):
            return CheckResult.PASSED
        self.details.append("no redrive_policy, and the queue is not a dead-letter queue itself")
        return CheckResult.FAILED


check = SqsQueueHasDlq()
