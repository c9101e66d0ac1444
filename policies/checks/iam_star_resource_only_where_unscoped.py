"""CKV_RT_016: ``Resource: "*"`` only for actions AWS cannot scope to a resource.

ADR 0014 lists the exceptions: the X-Ray write actions. Everything else names exact ARNs (table,
index, queue, key, log group, ``.../<stage>/<METHOD>/@connections/*``), and the KMS key policy names
its own key. checkov's CKV_AWS_356 asks the same of ``aws_iam_policy``/``aws_iam_policy_document``
only, so it never sees the role policies (``aws_iam_role_policy``) or key policies these stacks use.
"""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_iam import POLICY_ATTRIBUTES, star_resource_findings, statements_from_resource, verdict

#: Actions without resource-level permissions that the stacks use (runbooks/decisions/0014-*.md).
UNSCOPED_ACTIONS = frozenset({"xray:puttracesegments", "xray:puttelemetryrecords"})


class IamStarResourceOnlyWhereUnscoped(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name='Ensure IAM statements use Resource "*" only for actions AWS cannot scope to a resource',
            id="CKV_RT_016",
            categories=[CheckCategories.IAM],
            supported_resources=list(POLICY_ATTRIBUTES),
        )

    def scan_resource_conf(self, conf):
        documents = statements_from_resource(conf, self.entity_type)
        applies, findings = star_resource_findings(documents.statements, UNSCOPED_ACTIONS)
        return verdict(self, applies, findings, documents.unreadable)


check = IamStarResourceOnlyWhereUnscoped()
