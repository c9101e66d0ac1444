"""CKV_RT_001: the connection table has TTL on expiresAt, PITR and CMK encryption."""

HARDENED = {
    "name": "realtime-dev-connections",
    "hash_key": "connectionId",
    "ttl": {"attribute_name": "expiresAt", "enabled": True},
    "point_in_time_recovery": {"enabled": True},
    "server_side_encryption": {"enabled": True, "kms_key_arn": "${aws_kms_key.key.arn}"},
}


def test_passes_the_hardened_table_and_fails_each_missing_property(check):
    # GIVEN the hardened table and one copy per missing property
    tables = {
        "hardened": HARDENED,
        "no_ttl": {k: v for k, v in HARDENED.items() if k != "ttl"},
        "ttl_disabled": {**HARDENED, "ttl": {"attribute_name": "expiresAt", "enabled": False}},
        "ttl_on_other_attribute": {**HARDENED, "ttl": {"attribute_name": "ttl", "enabled": True}},
        "no_pitr": {k: v for k, v in HARDENED.items() if k != "point_in_time_recovery"},
        "aws_owned_key": {**HARDENED, "server_side_encryption": {"enabled": False}},
        "aws_managed_key": {
            **HARDENED,
            "server_side_encryption": {"enabled": True, "kms_key_arn": "alias/aws/dynamodb"},
        },
    }
    # WHEN only CKV_RT_001 runs
    results = check("CKV_RT_001", resources={"aws_dynamodb_table": tables})
    # THEN exactly the hardened table passes
    assert results.passed == {"aws_dynamodb_table.hardened"}
    assert results.failed == {f"aws_dynamodb_table.{name}" for name in tables} - results.passed
    assert results.details["aws_dynamodb_table.no_pitr"] == ["point-in-time recovery is off"]
