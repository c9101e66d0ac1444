"""Typed bindings for the two pieces of the ``vercel/vercel`` provider this repository uses.

No prebuilt cdktf binding exists for it (TOOLCHAIN.md), and generating one (``cdktf get``) needs
the registry; these two classes are all the stacks need. The API token is NOT an argument: the
provider reads ``VERCEL_API_TOKEN`` from the environment at plan/apply time, so it never appears in
code, configuration or synthesized JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdktf import (
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    TerraformResourceLifecycle,
)
from constructs import Construct

VERCEL_PROVIDER_SOURCE = "vercel/vercel"
# Exact pin: a provider upgrade is a reviewed change (ADR 0002).
VERCEL_PROVIDER_VERSION = "3.15.1"


class VercelProvider(TerraformProvider):
    """``provider "vercel" { team = <team id> }``; authentication comes from ``VERCEL_API_TOKEN``."""

    def __init__(self, scope: Construct, construct_id: str, *, team_id: str):
        super().__init__(scope, construct_id, terraform_resource_type="vercel",
                         terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                             provider_name="vercel", provider_version_constraint=VERCEL_PROVIDER_VERSION),
                         terraform_provider_source=VERCEL_PROVIDER_SOURCE)
        self._team_id = team_id

    def _synthesize_attributes(self) -> dict[str, Any]:
        return {"team": self._team_id}


class ProjectEnvironmentVariable(TerraformResource):
    """``vercel_project_environment_variable``: one variable for one Vercel target."""

    def __init__(self, scope: Construct, construct_id: str, *, provider: VercelProvider, project_id: str,
                 team_id: str, key: str, value: str, targets: Sequence[str], comment: str,
                 sensitive: bool = False, lifecycle: TerraformResourceLifecycle | None = None):
        super().__init__(scope, construct_id, terraform_resource_type="vercel_project_environment_variable",
                         terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                             provider_name="vercel", provider_version_constraint=VERCEL_PROVIDER_VERSION),
                         provider=provider, lifecycle=lifecycle)
        self.variable_key = key
        self._attributes = {"project_id": project_id, "team_id": team_id, "key": key, "value": value,
                            "target": list(targets), "comment": comment, "sensitive": sensitive}

    def _synthesize_attributes(self) -> dict[str, Any]:
        return dict(self._attributes)
