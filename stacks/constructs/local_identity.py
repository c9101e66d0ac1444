"""``local`` only: a Cognito user pool and web app client in the emulator, so the authorizer
verifies real RS256 tokens (moto signs them) instead of being switched off locally."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.cognito_user_pool import CognitoUserPool, CognitoUserPoolPasswordPolicy
from cdktf_cdktf_provider_aws.cognito_user_pool_client import CognitoUserPoolClient
from constructs import Construct


@dataclass(frozen=True)
class LocalIdentityProps:
    #: ``realtime-local-users``; the client is ``realtime-local-web``.
    pool_name: str
    client_name: str
    region: str
    #: The emulator's endpoint: it serves the pool's JWKS at ``<endpoint>/<pool id>/.well-known/jwks.json``.
    aws_endpoint: str


class LocalIdentity(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: LocalIdentityProps):
        super().__init__(scope, construct_id)
        self.pool = CognitoUserPool(
            self, "pool", name=props.pool_name,
            password_policy=CognitoUserPoolPasswordPolicy(
                minimum_length=12, require_lowercase=True, require_uppercase=True, require_numbers=True,
                require_symbols=False, temporary_password_validity_days=1))
        # Public client (no secret) with USER_PASSWORD_AUTH: tests and `wsctl` sign users in directly.
        self.client = CognitoUserPoolClient(
            self, "client", name=props.client_name, user_pool_id=self.pool.id, generate_secret=False,
            explicit_auth_flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
        self._region = props.region
        self._aws_endpoint = props.aws_endpoint

    @property
    def user_pool_id(self) -> str:
        return self.pool.id

    @property
    def client_id(self) -> str:
        return self.client.id

    @property
    def issuer(self) -> str:
        """moto signs with the real AWS issuer host, whatever endpoint served the token."""
        return f"https://cognito-idp.{self._region}.amazonaws.com/{self.pool.id}"

    @property
    def jwks_url(self) -> str:
        return f"{self._aws_endpoint}/{self.pool.id}/.well-known/jwks.json"
