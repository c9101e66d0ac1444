"""CKV_RT_004: ``execute-api:ManageConnections`` reaches one stage's @connections and nothing else."""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_iam import POLICY_ATTRIBUTES, manage_connections_findings, statements_from_resource, verdict


class ManageConnectionsOneStage(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure execute-api:ManageConnections is scoped to one stage's @connections",
            id="CKV_RT_004",
            categories=[CheckCategories.IAM],
            supported_resources=list(POLICY_ATTRIBUTES),
        )

    def scan_resource_conf(self, conf):
        documents = statements_from_resource(conf, self.entity_type)
        applies, findings = manage_connections_findings(documents.statements)
        return verdict(self, applies, findings, documents.unreadable)


check = ManageConnectionsOneStage()
