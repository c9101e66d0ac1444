"""``realtime-<env>``: the WebSocket backend of one environment on AWS (or the emulator, ``local``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cdktf import Aspects, AssetType, LocalBackend, S3Backend, TerraformAsset, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion
from constructs import Construct

from stacks.config import EnvConfig
from stacks.constructs.broadcast_queue import BroadcastQueue, BroadcastQueueProps, DeadLetterQueue
from stacks.constructs.connection_table import ConnectionTable, ConnectionTableProps
from stacks.constructs.emulator import TargetPlatform, aws_provider
from stacks.constructs.guardrails import NamingGuardrail
from stacks.constructs.handler_function import (
    ARCHITECTURE,
    RUNTIME,
    HandlerFunction,
    HandlerFunctionProps,
)
from stacks.constructs.kms_key import CustomerManagedKey, KmsKeyProps
from stacks.constructs.local_identity import LocalIdentity, LocalIdentityProps
from stacks.constructs.monitoring import AlarmSpec, Companion, Monitoring, MonitoringProps
from stacks.constructs.notification_log import NotificationLog, NotificationLogProps
from stacks.constructs.vercel_oidc_role import VercelOidcRole, VercelOidcRoleProps
from stacks.constructs.websocket_api import WebSocketApi, WebSocketApiProps, WebSocketHandlers
from stacks.packaging import Artifact, LambdaArtifacts

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_NAMES = ("authorizer", "connect", "disconnect", "default", "broadcast", "sweeper")
JWKS_CACHE_TTL_SECONDS = 3600
#: One broadcast request per invocation: a crashed invocation then holds no request it never started
#: (with 10, nine waited out the visibility timeout: 12 minutes). ADR 0019.
BROADCAST_BATCH_SIZE = 1
BROADCAST_MAX_RECEIVES = 5
SWEEPER_SCHEDULE = "rate(1 minute)"
#: The inbox (ADR 0020) beside the resumes that did not recover: both are what a reconnecting tab reads.
INBOX_METRICS = (
    Companion("HistoryRequests", "Sum", "history requests"),
    Companion("HistoryItemsRead", "Sum", "history items read"),
    Companion("ReadMarks", "Sum", "read marks"),
    Companion("HistoryLatency", "p99", "history p99 (ms)", right_axis=True),
)


@dataclass(frozen=True)
class FunctionSizing:
    memory_mb: int
    timeout_seconds: int
    #: Reserved concurrency: a flood on one route cannot starve the others (or the account).
    reserved_concurrency: int


# Request-path functions answer within API Gateway's 29 s; the broadcast function fans out for up to
# a minute (a segment re-queues itself with 20 s left; the queue's visibility timeout is 6x this, so a
# crashed request is redelivered after 6 minutes, not 12: ADR 0019); one sweeper at a time is enough
# (and avoids two sweeps racing on the counter).
FUNCTION_SIZING = {
    "authorizer": FunctionSizing(memory_mb=256, timeout_seconds=10, reserved_concurrency=100),
    "connect": FunctionSizing(memory_mb=256, timeout_seconds=10, reserved_concurrency=100),
    "disconnect": FunctionSizing(memory_mb=256, timeout_seconds=10, reserved_concurrency=100),
    "default": FunctionSizing(memory_mb=256, timeout_seconds=10, reserved_concurrency=100),
    "broadcast": FunctionSizing(memory_mb=512, timeout_seconds=60, reserved_concurrency=20),
    "sweeper": FunctionSizing(memory_mb=256, timeout_seconds=50, reserved_concurrency=1),
}


def metrics_namespace(cfg: EnvConfig) -> str:
    return f"Realtime/{cfg.name}"


def local_websocket_url(gateway_url: str, stage: str) -> str:
    """``http://127.0.0.1:3001`` -> ``ws://127.0.0.1:3001/local``."""
    return f"ws://{urlsplit(gateway_url).netloc}/{stage}"


class RealtimeAwsStack(TerraformStack):
    """KMS key, connection table, notification log, broadcast queue, six functions, WebSocket API, Vercel
    OIDC role (not ``local``), alarms; its outputs feed ``realtime-vercel-<env>`` and the local stack."""

    def __init__(self, scope: Construct, cfg: EnvConfig, artifacts: LambdaArtifacts, *, stack_dir: Path):
        super().__init__(scope, cfg.stack_name)
        self.cfg = cfg
        Aspects.of(self).add(NamingGuardrail(cfg.stack_name))
        platform = TargetPlatform.for_env(cfg)
        self._backend(cfg, stack_dir)
        aws_provider(self, cfg)
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        partition = DataAwsPartition(self, "partition").partition

        key = CustomerManagedKey(self, "key", KmsKeyProps(
            alias=f"alias/{cfg.stack_name}", description=f"{cfg.stack_name}: connections, queues, logs, alarms",
            account_id=account_id, region=cfg.region, partition=partition))
        table = ConnectionTable(self, "connection-table", ConnectionTableProps(
            name=cfg.resource_name("connections"), key=key, deletion_protection=platform.deletion_protection))
        notification_log = NotificationLog(self, "notification-log", NotificationLogProps(
            name=cfg.resource_name("notifications"), key=key, deletion_protection=platform.deletion_protection))
        queue = BroadcastQueue(self, "broadcast-queue", BroadcastQueueProps(
            name=cfg.resource_name("broadcast"), key=key,
            visibility_timeout_seconds=6 * FUNCTION_SIZING["broadcast"].timeout_seconds,
            max_receive_count=BROADCAST_MAX_RECEIVES, compare_redrive_policy=platform.stable_sqs_redrive_policy))
        async_dlq = DeadLetterQueue(self, "lambda-dlq", name=cfg.resource_name("lambda-dlq"), key=key)
        api = WebSocketApi(self, "websocket-api", WebSocketApiProps(
            name=cfg.resource_name("ws"), stage_name=cfg.stage_name, region=cfg.region, account_id=account_id,
            partition=partition, key=key, log_retention_days=cfg.logs.retention_days,
            throttling_rate_limit=cfg.throttling.rate_limit, throttling_burst_limit=cfg.throttling.burst_limit,
            explicit_deployment=platform.apigatewayv2_deployments))

        identity = None
        if cfg.cognito.local_user_pool:
            assert cfg.emulator is not None  # noqa: S101 - config.py guarantees it
            identity = LocalIdentity(self, "local-identity", LocalIdentityProps(
                pool_name=cfg.resource_name("users"), client_name=cfg.resource_name("web"),
                region=cfg.region, aws_endpoint=cfg.emulator.aws_endpoint))
        connections_endpoint = (f"{cfg.emulator.gateway_url}/{cfg.stage_name}" if cfg.emulator
                                else api.connections_endpoint)

        code = self._asset("lambda-code", artifacts.code)
        layer_code = self._asset("lambda-layer", artifacts.layer)
        layer = LambdaLayerVersion(
            self, "dependencies-layer", layer_name=cfg.resource_name("dependencies"),
            filename=str(layer_code.path), source_code_hash=layer_code.source_code_hash,
            compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURE],
            description="lambda_src/requirements.txt (python-jose, pydantic)")
        environment = self._environment(cfg, table.table_name, notification_log.table_name, connections_endpoint,
                                        queue.queue_url, identity)
        functions = {
            name: HandlerFunction(self, f"{name}-function", HandlerFunctionProps(
                handler_name=name, function_name=cfg.resource_name(name), code=code,
                layer_arn=layer.arn, environment=environment[name], key=key,
                log_retention_days=cfg.logs.retention_days,
                reserved_concurrency=FUNCTION_SIZING[name].reserved_concurrency,
                timeout_seconds=FUNCTION_SIZING[name].timeout_seconds,
                memory_mb=FUNCTION_SIZING[name].memory_mb,
                dead_letter_queue_arn=async_dlq.queue_arn,
                compare_dlq_and_logging=platform.lambda_reads_back_dlq_and_logging))
            for name in FUNCTION_NAMES
        }
        for function in functions.values():
            async_dlq.grant_send(function.role)

        # Least privilege, function by function (docs/contracts.md says what each one does).
        for name in ("connect", "disconnect", "default", "broadcast", "sweeper"):
            table.grant_connection_writes(functions[name].role)
        table.grant_user_queries(functions["connect"].role)
        table.grant_user_queries(functions["broadcast"].role)
        table.grant_scan(functions["broadcast"].role)
        table.grant_expiry_queries(functions["sweeper"].role)
        table.grant_scan(functions["sweeper"].role)
        for name in ("default", "broadcast", "sweeper"):
            api.grant_manage_connections(functions[name].role)
        api.grant_inspect_connections(functions["connect"].role)  # GetConnection at the per-user cap (ADR 0021)
        queue.grant_consume(functions["broadcast"].role)
        queue.grant_send(functions["broadcast"].role)
        notification_log.grant_appends(functions["broadcast"].role)
        notification_log.grant_reads(functions["default"].role)
        notification_log.grant_read_state_writes(functions["default"].role)

        api.route_to(WebSocketHandlers(authorizer=functions["authorizer"], connect=functions["connect"],
                                       disconnect=functions["disconnect"], default=functions["default"]))
        functions["broadcast"].consume_queue(queue.queue_arn, BROADCAST_BATCH_SIZE)
        functions["sweeper"].run_on_schedule(cfg.resource_name("sweeper"), SWEEPER_SCHEDULE)

        vercel_role = None
        if cfg.vercel is not None:
            vercel_role = VercelOidcRole(self, "vercel-oidc", VercelOidcRoleProps(
                role_name=cfg.resource_name("vercel-broadcast"), team_slug=cfg.vercel.team_slug,
                subjects=cfg.vercel.subjects))
            queue.grant_send(vercel_role.role)

        monitoring = Monitoring(self, "monitoring", MonitoringProps(
            name_prefix=cfg.stack_name, region=cfg.region, key=key,
            notification_email=cfg.alarms.notification_email,
            alarms=self._alarms(cfg, api, functions, queue, async_dlq)))

        # Typed handles for the Vercel stack (cross-stack references become remote state).
        self.websocket_url = (local_websocket_url(cfg.emulator.gateway_url, cfg.stage_name) if cfg.emulator
                              else api.websocket_url)
        self.broadcast_queue_url = queue.queue_url
        self.vercel_role_arn = vercel_role.role_arn if vercel_role else None
        outputs = {
            "websocket_url": self.websocket_url,
            "connections_endpoint": connections_endpoint,
            "connections_table_name": table.table_name,
            "notifications_table_name": notification_log.table_name,
            "broadcast_queue_url": queue.queue_url,
            "broadcast_dlq_url": queue.dlq_url,
            "region": cfg.region,
            "api_id": api.api_id,
            "stage_name": cfg.stage_name,
            "alarm_topic_arn": monitoring.topic_arn,
        }
        if vercel_role is not None:
            outputs["vercel_role_arn"] = vercel_role.role_arn
        if identity is not None and cfg.emulator is not None:
            outputs.update(user_pool_id=identity.user_pool_id, user_pool_client_id=identity.client_id,
                           jwks_url=identity.jwks_url, aws_endpoint=cfg.emulator.aws_endpoint)
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)

    def _asset(self, construct_id: str, artifact: Artifact) -> Artifact:
        """Copies the zip into the stack directory (``assets/…``): the stack dir is self-contained."""
        asset = TerraformAsset(self, construct_id, path=str(artifact.path), type=AssetType.FILE)
        return Artifact(path=Path(asset.path), source_code_hash=artifact.source_code_hash)

    def _backend(self, cfg: EnvConfig, stack_dir: Path) -> None:
        if cfg.state.backend == "s3":
            S3Backend(self, bucket=cfg.state.bucket, key=cfg.state.key, region=cfg.state.region, encrypt=True)
            # S3-native locking (terraform >= 1.10): no DynamoDB lock table. cdktf 0.21 has no typed field.
            self.add_override("terraform.backend.s3.use_lockfile", True)
        else:
            assert cfg.state.path is not None  # noqa: S101 - config.py guarantees it
            # terraform runs in the stack directory: the repo-relative path is made relative to it.
            LocalBackend(self, path=os.path.relpath(REPO_ROOT / cfg.state.path, stack_dir))

    @staticmethod
    def _environment(cfg: EnvConfig, table_name: str, notifications_table: str, connections_endpoint: str,
                     queue_url: str, identity: LocalIdentity | None) -> dict[str, dict[str, str]]:
        """Each function's variables, exactly the names in docs/contracts.md."""
        common = {"ENVIRONMENT": cfg.name, "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": metrics_namespace(cfg)}
        if identity is not None:
            issuer, jwks_url, client_ids = identity.issuer, identity.jwks_url, identity.client_id
        else:
            assert cfg.cognito.issuer and cfg.cognito.jwks_url  # noqa: S101 - config.py guarantees it
            issuer, jwks_url = cfg.cognito.issuer, cfg.cognito.jwks_url
            client_ids = ",".join(cfg.cognito.client_ids)
        table = {"CONNECTIONS_TABLE": table_name}
        endpoint = {"CONNECTIONS_ENDPOINT": connections_endpoint}
        global_limit = {"GLOBAL_CONNECTION_LIMIT": str(cfg.connections.global_limit)}
        # The authorizer's token rules, also applied by default to an in-band refresh (ADR 0016).
        token_rules = {
            "COGNITO_ISSUER": issuer, "COGNITO_JWKS_URL": jwks_url, "COGNITO_CLIENT_IDS": client_ids,
            "COGNITO_TOKEN_USE": cfg.cognito.token_use,
            "MAX_TOKEN_AGE_SECONDS": str(cfg.connections.max_token_age_seconds),
            "JWKS_CACHE_TTL_SECONDS": str(JWKS_CACHE_TTL_SECONDS),
        }
        log = {"NOTIFICATIONS_TABLE": notifications_table,
               "NOTIFICATION_RETENTION_SECONDS": str(cfg.notifications.retention_hours * 3600)}
        specific = {
            "authorizer": {
                **token_rules,
                "ALLOWED_ORIGINS": ",".join(cfg.origins.allowed),
                "ALLOW_MISSING_ORIGIN": "true" if cfg.origins.allow_missing else "false",
            },
            "connect": {**table, **endpoint, **global_limit,
                        "PER_USER_CONNECTION_LIMIT": str(cfg.connections.per_user_limit)},
            "disconnect": {**table},
            "default": {**table, **endpoint, "MAX_MESSAGE_BYTES": str(cfg.messages.max_bytes),
                        "MESSAGE_RATE_LIMIT_PER_MINUTE": str(cfg.messages.rate_limit_per_minute),
                        "MAX_RATE_VIOLATIONS": str(cfg.messages.max_rate_violations),
                        **log, "RESUME_MAX_NOTIFICATIONS": str(cfg.notifications.replay_limit),
                        "READ_BUDGET_ITEMS": str(cfg.notifications.read_budget_items),
                        "READ_BUDGET_WINDOW_SECONDS": str(cfg.notifications.read_budget_window_seconds),
                        **token_rules},
            "broadcast": {**table, **endpoint, **log, "BROADCAST_QUEUE_URL": queue_url,
                          "BROADCAST_CONCURRENCY": str(cfg.broadcast.concurrency),
                          "BROADCAST_SCAN_SEGMENTS": str(cfg.broadcast.scan_segments),
                          "ANNOUNCEMENT_INTERVAL_SECONDS": str(cfg.broadcast.announcement_interval_seconds)},
            "sweeper": {**table, **endpoint, **global_limit},
        }
        return {name: {**common, **variables} for name, variables in specific.items()}

    @staticmethod
    def _alarms(cfg: EnvConfig, api: WebSocketApi, functions: dict[str, HandlerFunction],
                queue: BroadcastQueue, async_dlq: DeadLetterQueue) -> list[AlarmSpec]:
        namespace = metrics_namespace(cfg)
        api_dimensions = {"ApiId": api.api_id, "Stage": cfg.stage_name}
        near_limit = math.ceil(cfg.connections.global_limit * cfg.alarms.connections_utilization_percent / 100)
        alarms = [
            AlarmSpec("connections-near-limit",
                      f"Active connections reached {cfg.alarms.connections_utilization_percent} % of the "
                      f"global limit ({cfg.connections.global_limit}); new connections will soon get 503.",
                      namespace, "ActiveConnections", "Maximum", near_limit, period_seconds=60,
                      evaluation_periods=3),
            AlarmSpec("authorizer-denials-spike",
                      "Many handshakes rejected by the authorizer (expired/forged tokens or bad origins).",
                      namespace, "AuthorizerDenials", "Sum", cfg.alarms.authorizer_denials_per_5min),
            AlarmSpec("api-integration-errors", "API Gateway could not invoke a route's Lambda.",
                      "AWS/ApiGateway", "IntegrationError", "Sum", cfg.alarms.api_errors_per_5min,
                      api_dimensions),
            AlarmSpec("api-execution-errors", "API Gateway failed to execute requests (e.g. throttling, 5xx).",
                      "AWS/ApiGateway", "ExecutionError", "Sum", cfg.alarms.api_errors_per_5min,
                      api_dimensions),
        ]
        for name, function in functions.items():
            dimensions = {"FunctionName": function.function_name}
            alarms.append(AlarmSpec(f"{name}-errors", f"The {name} function raised errors.",
                                    "AWS/Lambda", "Errors", "Sum", 1, dimensions))
            alarms.append(AlarmSpec(f"{name}-throttles", f"The {name} function hit its reserved concurrency.",
                                    "AWS/Lambda", "Throttles", "Sum", 1, dimensions))
        alarms += [
            AlarmSpec("broadcast-dlq-not-empty",
                      "Broadcast requests failed repeatedly and wait in the dead-letter queue.",
                      "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 1,
                      {"QueueName": queue.dlq_name}),
            AlarmSpec("broadcast-delivery-failures",
                      "Posting to connections failed (other than gone connections).",
                      namespace, "DeliveryFailures", "Sum", cfg.alarms.delivery_failures_per_5min),
            AlarmSpec("resumes-not-recovered",
                      "Many reconnecting clients could not resume from the notification log and refetch everything.",
                      namespace, "ResumesNotRecovered", "Sum", cfg.alarms.resumes_not_recovered_per_5min,
                      companions=INBOX_METRICS),
            AlarmSpec("lambda-dlq-not-empty",
                      "An asynchronous invocation (the sweeper's schedule) failed all retries.",
                      "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 1,
                      {"QueueName": async_dlq.queue_name}),
        ]
        return alarms
