"""Vercel OIDC federation: Vercel functions of one project and target assume a role that may only
send broadcast requests. No long-lived AWS keys live in Vercel (ADR 0001)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from constructs import Construct

from stacks.constructs.iam import LeastPrivilegeRole, Statement, policy_document

VERCEL_OIDC_HOST = "oidc.vercel.com"


@dataclass(frozen=True)
class VercelOidcRoleProps:
    #: ``realtime-<env>-vercel-broadcast``.
    role_name: str
    #: Team slug: issuer ``https://oidc.vercel.com/<team_slug>``, audience ``https://vercel.com/<team_slug>``.
    team_slug: str
    #: Exact ``sub`` claims (``owner:<team>:project:<name>:environment:<target>``) whose deployments may
    #: assume the role: ``VercelConfig.subjects``, which no other environment's role trusts (ADR 0001).
    subjects: tuple[str, ...]


class VercelOidcRole(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: VercelOidcRoleProps):
        super().__init__(scope, construct_id)
        issuer_host = f"{VERCEL_OIDC_HOST}/{props.team_slug}"
        audience = f"https://vercel.com/{props.team_slug}"
        self.provider = IamOpenidConnectProvider(self, "provider", url=f"https://{issuer_host}",
                                                 client_id_list=[audience])
        # Web-identity trust: audience AND subject (team, project, target) pinned.
        trust = policy_document([Statement(
            sid="VercelDeploymentsOfThisProject", actions=("sts:AssumeRoleWithWebIdentity",),
            principal={"Federated": self.provider.arn},
            condition={"StringEquals": {
                f"{issuer_host}:aud": audience,
                f"{issuer_host}:sub": list(props.subjects),
            }})])
        self.execution = LeastPrivilegeRole(self, "role", name=props.role_name, trust_policy=trust)

    @property
    def role(self) -> LeastPrivilegeRole:
        return self.execution

    @property
    def role_arn(self) -> str:
        return self.execution.arn
