"""``realtime-vercel-<env>``: the web app's environment variables in Vercel, pointing at
``realtime-<env>``. Kept apart from the AWS stack: the vercel/vercel provider cannot be installed
offline, and a stack that needs it could not be validated (TOOLCHAIN.md)."""

from __future__ import annotations

from cdktf import S3Backend, TerraformStack
from constructs import Construct

from stacks.aws_stack import RealtimeAwsStack
from stacks.config import PROJECT, EnvConfig
from stacks.constructs.vercel import ProjectEnvironmentVariable, VercelProvider


def vercel_stack_name(cfg: EnvConfig) -> str:
    return f"{PROJECT}-vercel-{cfg.name}"


def vercel_variables(cfg: EnvConfig, aws: RealtimeAwsStack) -> dict[str, tuple[str, str]]:
    """``{key: (value, comment)}`` from docs/contracts.md; values are references to ``aws``'s outputs."""
    assert cfg.vercel is not None and aws.vercel_role_arn is not None  # noqa: S101 - no Vercel in local
    # The keys come from the config, which checks them across environments (ADR 0001).
    endpoint, public_endpoint, region, queue_url, role_arn = cfg.vercel.variable_keys
    endpoint_comment = f"WebSocket URL of {cfg.stack_name} (wss://…/{cfg.stage_name})"
    return {
        endpoint: (aws.websocket_url, endpoint_comment),
        public_endpoint: (aws.websocket_url, endpoint_comment + ", browser-visible"),
        region: (cfg.region, f"AWS region of {cfg.stack_name}"),
        queue_url: (aws.broadcast_queue_url, "SQS queue for broadcast requests"),
        role_arn: (aws.vercel_role_arn, "Role assumed with Vercel OIDC to send broadcast requests"),
    }


class RealtimeVercelStack(TerraformStack):
    """One ``vercel_project_environment_variable`` per variable and Vercel target; no ``git_branch``,
    so each covers every branch of its target, which no other environment writes (ADR 0001)."""

    def __init__(self, scope: Construct, cfg: EnvConfig, aws: RealtimeAwsStack):
        super().__init__(scope, vercel_stack_name(cfg))
        if cfg.vercel is None or cfg.state.backend != "s3":
            raise ValueError(f"{cfg.source}: the Vercel stack needs [vercel] and an s3 state backend")
        assert cfg.state.key is not None  # noqa: S101 - config.py guarantees it
        S3Backend(self, bucket=cfg.state.bucket, key=cfg.state.key.replace(".tfstate", "-vercel.tfstate"),
                  region=cfg.state.region, encrypt=True)
        self.add_override("terraform.backend.s3.use_lockfile", True)
        provider = VercelProvider(self, "vercel", team_id=cfg.vercel.team_id)
        for key, (value, comment) in vercel_variables(cfg, aws).items():
            for target in cfg.vercel.targets:
                ProjectEnvironmentVariable(
                    self, f"{key.lower().replace('_', '-')}-{target}", provider=provider,
                    project_id=cfg.vercel.project_id, team_id=cfg.vercel.team_id, key=key, value=value,
                    targets=[target], comment=comment)
        self.add_dependency(aws)
