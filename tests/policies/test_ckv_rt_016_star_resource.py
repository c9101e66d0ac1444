"""CKV_RT_016: Resource "*" only for the actions AWS cannot scope (ADR 0014: X-Ray writes)."""

import json


def policy(*statements, kind="role"):
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return {"role": "r", "policy": document} if kind == "role" else {"key_id": "k", "policy": document}


XRAY = {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}
EXACT = {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": "${aws_dynamodb_table.t.arn}"}


def test_star_resource_only_for_unscoped_actions(check):
    # GIVEN policies with exact resources, the X-Ray exception, and "*" where an ARN was possible
    resources = {
        "aws_iam_role_policy": {
            "exact_and_xray": policy(EXACT, XRAY),
            "namespace_arn": policy(
                {
                    "Effect": "Allow",
                    "Action": "logs:DescribeLogGroups",
                    "Resource": "arn:aws:logs:eu-west-1:1:log-group:*",
                }
            ),
            "table_on_star": policy({**EXACT, "Resource": "*"}),
            "xray_plus_one": policy({**XRAY, "Action": XRAY["Action"] + ["sqs:SendMessage"]}),
            "star_in_a_list": policy({**EXACT, "Resource": ["${aws_dynamodb_table.t.arn}", "*"]}),
            "deny_on_star": policy(
                EXACT, {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"}
            ),
        },
        "aws_kms_key_policy": {
            "own_key": policy(
                {
                    **EXACT,
                    "Action": "kms:Decrypt",
                    "Resource": "${aws_kms_key.k.arn}",
                    "Principal": {"AWS": "x"},
                },
                kind="key",
            ),
            "key_on_star": policy(
                {**EXACT, "Action": "kms:Decrypt", "Resource": "*", "Principal": {"AWS": "x"}}, kind="key"
            ),
        },
        "aws_iam_role": {
            "trust_without_resource": {
                "assume_role_policy": json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                            }
                        ]
                    }
                )
            }
        },
    }
    # WHEN only CKV_RT_016 runs
    results = check("CKV_RT_016", resources=resources)
    # THEN a trust policy (no Resource at all) is not evaluated
    assert results.passed == {
        "aws_iam_role_policy.exact_and_xray",
        "aws_iam_role_policy.namespace_arn",
        "aws_iam_role_policy.deny_on_star",
        "aws_kms_key_policy.own_key",
    }
    assert results.failed == {
        "aws_iam_role_policy.table_on_star",
        "aws_iam_role_policy.xray_plus_one",
        "aws_iam_role_policy.star_in_a_list",
        "aws_kms_key_policy.key_on_star",
    }
    assert results.details["aws_iam_role_policy.xray_plus_one"] == [
        "Resource \"*\" for ['sqs:SendMessage'], which can be scoped"
    ]
