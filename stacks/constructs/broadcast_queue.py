"""SQS queues: the broadcast-request queue (with its DLQ) and a plain dead-letter queue for
asynchronous Lambda invocations. Both encrypted with the CMK."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from stacks.constructs.iam import LeastPrivilegeRole
from stacks.constructs.kms_key import CustomerManagedKey

# Failed messages are kept for the maximum SQS allows: a DLQ is read by humans, days later.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# Data keys are reused for 5 minutes: fewer KMS calls per message at the cost of a longer key reuse.
KMS_DATA_KEY_REUSE_SECONDS = 300
CONSUME_ACTIONS = ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:ReceiveMessage")


@dataclass(frozen=True)
class BroadcastQueueProps:
    #: ``realtime-<env>-broadcast``; the DLQ is ``<name>-dlq``.
    name: str
    key: CustomerManagedKey
    #: At least 6x the consumer's timeout (AWS guidance for Lambda event sources).
    visibility_timeout_seconds: int
    #: Receives before a message moves to the DLQ.
    max_receive_count: int
    #: False on the emulator: moto reformats RedrivePolicy, so terraform must not diff it.
    compare_redrive_policy: bool


class BroadcastQueue(Construct):
    """Broadcast requests from Vercel (via the OIDC role) and from the broadcast function itself."""

    def __init__(self, scope: Construct, construct_id: str, props: BroadcastQueueProps):
        super().__init__(scope, construct_id)
        self._key = props.key
        self.dead_letter_queue = SqsQueue(
            self, "dlq", name=f"{props.name}-dlq", kms_master_key_id=props.key.arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            message_retention_seconds=DLQ_RETENTION_SECONDS)
        self.queue = SqsQueue(
            self, "queue", name=props.name, kms_master_key_id=props.key.arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            visibility_timeout_seconds=props.visibility_timeout_seconds,
            redrive_policy=json.dumps({"deadLetterTargetArn": self.dead_letter_queue.arn,
                                       "maxReceiveCount": props.max_receive_count}),
            lifecycle=None if props.compare_redrive_policy
            else TerraformResourceLifecycle(ignore_changes=["redrive_policy"]))

        self.queue_arn: str = self.queue.arn
        self.queue_url: str = self.queue.url
        self.dlq_url: str = self.dead_letter_queue.url
        self.dlq_name: str = self.dead_letter_queue.name

    def grant_send(self, role: LeastPrivilegeRole) -> None:
        """``SendMessage`` (producers: Vercel, and the broadcast function splitting global jobs)."""
        role.add_statement("BroadcastQueueSend", ["sqs:SendMessage"], [self.queue_arn])
        self._key.grant_encrypt_decrypt(role)

    def grant_consume(self, role: LeastPrivilegeRole) -> None:
        """What the Lambda event source mapping needs on the queue it polls."""
        role.add_statement("BroadcastQueueConsume", CONSUME_ACTIONS, [self.queue_arn])
        self._key.grant_decrypt(role)


class DeadLetterQueue(Construct):
    """Where Lambda puts asynchronous invocations (the sweeper's schedule) that kept failing."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str, key: CustomerManagedKey):
        super().__init__(scope, construct_id)
        self._key = key
        self.queue = SqsQueue(self, "queue", name=name, kms_master_key_id=key.arn,
                              kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
                              message_retention_seconds=DLQ_RETENTION_SECONDS)

        self.queue_arn: str = self.queue.arn
        self.queue_name: str = self.queue.name

    def grant_send(self, role: LeastPrivilegeRole) -> None:
        role.add_statement("AsyncDeadLetterSend", ["sqs:SendMessage"], [self.queue_arn])
        self._key.grant_encrypt_decrypt(role)
