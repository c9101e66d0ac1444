"""CKV_RT_011: the stack's customer-managed key rotates its key material."""

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_value_check import BaseResourceValueCheck


class KmsKeyRotation(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every customer-managed KMS key has automatic rotation enabled",
            id="CKV_RT_011",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_kms_key"],
        )

    def get_inspected_key(self):
        return "enable_key_rotation"


check = KmsKeyRotation()
