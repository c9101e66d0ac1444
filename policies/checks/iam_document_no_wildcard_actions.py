"""CKV_RT_003: no ``aws_iam_policy_document`` statement allows ``*`` or ``service:*`` actions."""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.data.base_check import BaseDataCheck
from rt_iam import statements_from_policy_document_data, verdict, wildcard_action_findings


class IamDocumentNoWildcardActions(BaseDataCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure no aws_iam_policy_document statement allows '*' or 'service:*' actions",
            id="CKV_RT_003",
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf):
        statements = statements_from_policy_document_data(conf)
        return verdict(self, bool(statements), wildcard_action_findings(statements))


check = IamDocumentNoWildcardActions()
