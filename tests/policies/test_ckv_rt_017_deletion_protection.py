"""CKV_RT_017: DynamoDB tables outside the emulator have deletion protection."""

TABLE = {"hash_key": "userId", "deletion_protection_enabled": True}


def test_protected_tables_pass_unprotected_fail_and_the_emulator_is_not_evaluated(check):
    # GIVEN protected and unprotected tables, in a deployed environment and in the emulator
    tables = {
        "protected": {**TABLE, "name": "realtime-prod-notifications"},
        "unprotected": {**TABLE, "name": "realtime-prod-connections", "deletion_protection_enabled": False},
        "unset": {"name": "realtime-dev-notifications", "hash_key": "userId"},
        "emulator": {"name": "realtime-local-notifications", "hash_key": "userId", "deletion_protection_enabled": False},
    }
    # WHEN only CKV_RT_017 runs
    results = check("CKV_RT_017", resources={"aws_dynamodb_table": tables})
    # THEN exactly the protected one passes and the emulator's table is not reported either way
    assert results.passed == {"aws_dynamodb_table.protected"}
    assert results.failed == {"aws_dynamodb_table.unprotected", "aws_dynamodb_table.unset"}
