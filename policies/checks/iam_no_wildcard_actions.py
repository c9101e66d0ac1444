"""CKV_RT_002: no policy document held by a resource allows ``*`` or ``service:*`` actions."""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_iam import POLICY_ATTRIBUTES, statements_from_resource, verdict, wildcard_action_findings


class IamNoWildcardActions(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure no IAM statement in a resource's policy allows '*' or 'service:*' actions",
            id="CKV_RT_002",
            categories=[CheckCategories.IAM],
            supported_resources=list(POLICY_ATTRIBUTES),
        )

    def scan_resource_conf(self, conf):
        documents = statements_from_resource(conf, self.entity_type)
        findings = wildcard_action_findings(documents.statements)
        return verdict(self, bool(documents.statements), findings, documents.unreadable)


check = IamNoWildcardActions()
