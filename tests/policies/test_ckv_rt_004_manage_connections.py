"""CKV_RT_004: execute-api:ManageConnections reaches one stage's @connections only."""

import json

API = "${aws_apigatewayv2_api.ws.execution_arn}"


def grant(*resources, action="execute-api:ManageConnections"):
    statement = {"Effect": "Allow", "Action": [action], "Resource": list(resources)}
    return {"role": "r", "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


def test_only_one_stage_connections_pass(check):
    # GIVEN grants scoped well and badly
    policies = {
        "one_stage_all_methods": grant(*(f"{API}/dev/{m}/@connections/*" for m in ("POST", "GET", "DELETE"))),
        "stage_execution_arn": grant("${aws_apigatewayv2_stage.dev.execution_arn}/POST/@connections/*"),
        "literal_arn": grant("arn:aws:execute-api:eu-west-1:111111111111:a1b2c3/prod/POST/@connections/*"),
        "any_stage": grant(f"{API}/*/POST/@connections/*"),
        "whole_api": grant(f"{API}/*"),
        "two_stages": grant(f"{API}/dev/POST/@connections/*", f"{API}/prod/POST/@connections/*"),
        "any_api": grant("arn:aws:execute-api:eu-west-1:111111111111:*/dev/POST/@connections/*"),
        "not_connections": grant(f"{API}/dev/POST/messages"),
        "other_action": grant(f"{API}/*", action="execute-api:Invoke"),
    }
    # WHEN only CKV_RT_004 runs
    results = check("CKV_RT_004", resources={"aws_iam_role_policy": policies})
    # THEN policies without ManageConnections are not evaluated at all
    assert results.passed == {
        "aws_iam_role_policy.one_stage_all_methods",
        "aws_iam_role_policy.stage_execution_arn",
        "aws_iam_role_policy.literal_arn",
    }
    assert results.failed == {
        "aws_iam_role_policy.any_stage",
        "aws_iam_role_policy.whole_api",
        "aws_iam_role_policy.two_stages",
        "aws_iam_role_policy.any_api",
        "aws_iam_role_policy.not_connections",
    }
