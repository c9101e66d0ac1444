"""One Lambda handler: the function, its own role and its own log group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import LambdaEventSourceMapping
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionDeadLetterConfig,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from stacks.constructs.iam import LeastPrivilegeRole, service_trust
from stacks.constructs.kms_key import CustomerManagedKey
from stacks.packaging import Artifact

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
# X-Ray accepts trace segments only on "*": the API has no resource-level permissions (ADR 0014).
XRAY_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")


@dataclass(frozen=True)
class HandlerFunctionProps:
    #: ``authorizer``, ``connect``…; the handler is ``handlers.<handler_name>.handler``.
    handler_name: str
    #: ``realtime-<env>-<handler_name>``.
    function_name: str
    #: The code zip, its path as terraform sees it from the stack directory.
    code: Artifact
    #: ARN of the dependency layer version.
    layer_arn: str
    #: Variables from docs/contracts.md (no secrets: the token never reaches the stack).
    environment: Mapping[str, str]
    key: CustomerManagedKey
    log_retention_days: int
    #: Caps the function's share of the account's concurrency (and its blast radius).
    reserved_concurrency: int
    timeout_seconds: int
    memory_mb: int
    #: Target of failed asynchronous invocations (the sweeper's schedule; harmless for the others).
    dead_letter_queue_arn: str
    #: False on the emulator: moto drops ``dead_letter_config``/``logging_config`` on read.
    compare_dlq_and_logging: bool = True


class HandlerFunction(Construct):
    """Function + role + log group; other constructs grant to :attr:`role`."""

    def __init__(self, scope: Construct, construct_id: str, props: HandlerFunctionProps):
        super().__init__(scope, construct_id)
        self.handler_name = props.handler_name
        self.role = LeastPrivilegeRole(self, "execution", name=props.function_name,
                                       trust_policy=service_trust("lambda.amazonaws.com"))
        # Created by terraform before the function, so Lambda never auto-creates it unencrypted
        # and with infinite retention.
        self.log_group = CloudwatchLogGroup(self, "logs", name=f"/aws/lambda/{props.function_name}",
                                            retention_in_days=props.log_retention_days,
                                            kms_key_id=props.key.arn)
        self.role.add_statement("OwnLogStreams", ["logs:CreateLogStream", "logs:PutLogEvents"],
                                [f"{self.log_group.arn}:*"])
        self.role.add_statement("XRayTraces", XRAY_ACTIONS, ["*"])
        # Environment variables are encrypted with the CMK; the function decrypts them at init.
        props.key.grant_decrypt(self.role)

        self.function = LambdaFunction(
            self, "function",
            function_name=props.function_name,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=f"handlers.{props.handler_name}.handler",
            filename=str(props.code.path),
            source_code_hash=props.code.source_code_hash,
            layers=[props.layer_arn],
            memory_size=props.memory_mb,
            timeout=props.timeout_seconds,
            reserved_concurrent_executions=props.reserved_concurrency,
            kms_key_arn=props.key.arn,
            environment=LambdaFunctionEnvironment(variables=dict(sorted(props.environment.items()))),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            dead_letter_config=LambdaFunctionDeadLetterConfig(target_arn=props.dead_letter_queue_arn),
            # Names the managed group explicitly: a renamed function can never fall back to an
            # auto-created, unencrypted, never-expiring group. Text: the runtime writes its own JSON.
            logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=self.log_group.name),
            lifecycle=None if props.compare_dlq_and_logging
            else TerraformResourceLifecycle(ignore_changes=["dead_letter_config", "logging_config"]),
            depends_on=[self.log_group, self.role.policy],
        )

    @property
    def function_name(self) -> str:
        return self.function.function_name

    @property
    def function_arn(self) -> str:
        return self.function.arn

    @property
    def invoke_arn(self) -> str:
        return self.function.invoke_arn

    def run_on_schedule(self, rule_name: str, expression: str) -> None:
        """Invoke the function asynchronously from an EventBridge schedule (``rate(1 minute)``)."""
        rule = CloudwatchEventRule(self, "schedule", name=rule_name, schedule_expression=expression,
                                   description=f"Runs {self.handler_name} on {expression}")
        CloudwatchEventTarget(self, "schedule-target", rule=rule.name, arn=self.function.arn,
                              target_id=self.handler_name)
        LambdaPermission(self, "schedule-invoke", action="lambda:InvokeFunction",
                         function_name=self.function.function_name, principal="events.amazonaws.com",
                         source_arn=rule.arn)

    def consume_queue(self, queue_arn: str, batch_size: int) -> LambdaEventSourceMapping:
        """Poll an SQS queue; failed records of a batch are retried alone (ReportBatchItemFailures).

        The caller grants the consume permissions first (``queue.grant_consume(fn.role)``): AWS checks
        them when the mapping is created.
        """
        return LambdaEventSourceMapping(self, "queue-events", event_source_arn=queue_arn,
                                        function_name=self.function.arn, batch_size=batch_size,
                                        function_response_types=["ReportBatchItemFailures"],
                                        depends_on=[self.role.policy])
