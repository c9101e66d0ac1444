"""CKV_RT_005: every function logs to a managed log group; CKV_RT_006: every log group has a retention."""

FUNCTION = {
    "function_name": "realtime-dev-connect",
    "handler": "handlers.connect.handler",
    "runtime": "python3.12",
}


def test_functions_log_to_a_managed_log_group(check):
    # GIVEN functions with and without a managed log group
    functions = {
        "managed": {
            **FUNCTION,
            "logging_config": {"log_format": "JSON", "log_group": "${aws_cloudwatch_log_group.logs.name}"},
        },
        "default_group": FUNCTION,
        "literal_group": {**FUNCTION, "logging_config": {"log_format": "Text", "log_group": "/aws/lambda/x"}},
        "not_a_log_group": {**FUNCTION, "logging_config": {"log_group": "${aws_s3_bucket.b.bucket}"}},
    }
    # WHEN only CKV_RT_005 runs
    results = check("CKV_RT_005", resources={"aws_lambda_function": functions})
    # THEN
    assert results.passed == {"aws_lambda_function.managed"}
    assert results.failed == {
        "aws_lambda_function.default_group",
        "aws_lambda_function.literal_group",
        "aws_lambda_function.not_a_log_group",
    }


def test_log_groups_have_a_retention(check):
    # GIVEN log groups with valid, missing, "never expire" and invalid retentions
    groups = {
        "year_and_a_month": {"name": "/aws/lambda/a", "retention_in_days": 400},
        "one_day": {"name": "/aws/lambda/b", "retention_in_days": 1},
        "never_expire": {"name": "/aws/lambda/c", "retention_in_days": 0},
        "unset": {"name": "/aws/lambda/d"},
        "not_a_cloudwatch_value": {"name": "/aws/apigateway/e", "retention_in_days": 42},
    }
    # WHEN only CKV_RT_006 runs
    results = check("CKV_RT_006", resources={"aws_cloudwatch_log_group": groups})
    # THEN
    assert results.passed == {"aws_cloudwatch_log_group.year_and_a_month", "aws_cloudwatch_log_group.one_day"}
    assert results.failed == {
        "aws_cloudwatch_log_group.never_expire",
        "aws_cloudwatch_log_group.unset",
        "aws_cloudwatch_log_group.not_a_cloudwatch_value",
    }
