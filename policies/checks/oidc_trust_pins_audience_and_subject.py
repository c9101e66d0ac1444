"""CKV_RT_012: a role trusted by an OIDC provider (Vercel) pins both ``aud`` and ``sub``.

Without ``sub`` any project of the Vercel team (or, without ``aud``, any audience the issuer signs
for) could assume the role that sends to the broadcast queue.
"""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_iam import statements_from_resource, verdict, web_identity_trust_findings


class OidcTrustPinsAudienceAndSubject(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure an OIDC-federated role's trust policy pins aud and sub with StringEquals",
            id="CKV_RT_012",
            categories=[CheckCategories.IAM],
            supported_resources=["aws_iam_role"],
        )

    def scan_resource_conf(self, conf):
        documents = statements_from_resource(conf, self.entity_type, only=("assume_role_policy",))
        applies, findings = web_identity_trust_findings(documents.statements)
        return verdict(self, applies, findings, documents.unreadable)


check = OidcTrustPinsAudienceAndSubject()
