"""CKV_RT_011: every customer-managed KMS key rotates."""


def test_keys_without_rotation_fail(check):
    # GIVEN keys with rotation on, off and unset
    keys = {
        "rotating": {"description": "realtime-dev", "enable_key_rotation": True},
        "rotation_off": {"description": "x", "enable_key_rotation": False},
        "rotation_unset": {"description": "y"},
    }
    # WHEN only CKV_RT_011 runs
    results = check("CKV_RT_011", resources={"aws_kms_key": keys})
    # THEN
    assert results.passed == {"aws_kms_key.rotating"}
    assert results.failed == {"aws_kms_key.rotation_off", "aws_kms_key.rotation_unset"}
