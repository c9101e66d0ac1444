"""Where the stack runs: real AWS or the embedded AWS (moto server) of the ``local`` environment.

Every difference between the two is decided HERE and nowhere else: the provider settings and the
moto workarounds measured in TOOLCHAIN.md. Constructs never look at the environment's name; they
read the :class:`TargetPlatform` capabilities they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints
from constructs import Construct

from stacks.config import PROJECT, EnvConfig

# Every service the realtime stack declares resources in, routed to the emulator
# (cdktf spells terraform's `lambda` endpoint `lambda_`).
EMULATED_SERVICES = ("apigateway", "apigatewayv2", "cloudwatch", "cognitoidp", "dynamodb", "events",
                     "iam", "kms", "lambda_", "logs", "sns", "sqs", "sts")
# moto accepts any credentials; these never leave the machine.
EMULATOR_CREDENTIALS = "test"


@dataclass(frozen=True)
class TargetPlatform:
    """Capabilities of the AWS the stack is applied to."""

    #: API Gateway v2 ``CreateDeployment`` exists (moto: 404), so stages get explicit deployments.
    apigatewayv2_deployments: bool
    #: Lambda reads back ``dead_letter_config`` and ``logging_config``. moto drops both, so on the
    #: emulator terraform must not compare them (they are still declared: local = what runs in AWS).
    lambda_reads_back_dlq_and_logging: bool
    #: Tables are protected against deletion (off on the emulator: its state is thrown away).
    deletion_protection: bool
    #: SQS returns RedrivePolicy as sent; moto reformats it, so terraform must not compare it.
    stable_sqs_redrive_policy: bool

    @classmethod
    def for_env(cls, cfg: EnvConfig) -> TargetPlatform:
        real_aws = not cfg.targets_emulator
        return cls(apigatewayv2_deployments=real_aws, lambda_reads_back_dlq_and_logging=real_aws,
                   deletion_protection=real_aws, stable_sqs_redrive_policy=real_aws)


def aws_provider(scope: Construct, cfg: EnvConfig) -> AwsProvider:
    """The AWS provider of ``realtime-<env>``: real account (pinned by id) or the emulator."""
    settings: dict[str, Any] = {
        "region": cfg.region,
        "default_tags": [AwsProviderDefaultTags(tags={"project": PROJECT, "environment": cfg.name,
                                                      "managed-by": "cdktf"})],
    }
    if cfg.account_id is not None:
        # Refuses to run with credentials of any other account: no dev apply lands in prod.
        settings["allowed_account_ids"] = [cfg.account_id]
    if cfg.emulator is not None:
        endpoint = cfg.emulator.aws_endpoint
        settings.update(
            access_key=EMULATOR_CREDENTIALS, secret_key=EMULATOR_CREDENTIALS,
            skip_credentials_validation=True, skip_requesting_account_id=False,
            skip_metadata_api_check="true", skip_region_validation=True,
            endpoints=[AwsProviderEndpoints(**{service: endpoint for service in EMULATED_SERVICES})])
    return AwsProvider(scope, "aws", **settings)
