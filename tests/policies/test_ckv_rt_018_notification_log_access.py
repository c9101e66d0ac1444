"""CKV_RT_018: only broadcast writes and only default reads the notification log."""

import json

LOG = "${aws_dynamodb_table.notification-log_table_FA2F17BA.arn}"
CONNECTIONS = "${aws_dynamodb_table.connection-table_D65301B6.arn}"


def policy(function, *actions, resource=LOG):
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    return {"name": f"realtime-dev-{function}-least-privilege", "role": "r",
            "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


def test_each_function_gets_exactly_its_share_of_the_log(check):
    # GIVEN role policies as the stack writes them and as it must never write them
    policies = {
        "broadcast_appends": policy("broadcast", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
        "default_reads": policy("default", "dynamodb:GetItem", "dynamodb:Query"),
        "default_writes": policy("default", "dynamodb:GetItem", "dynamodb:PutItem"),
        # default moving a head (UpdateItem) or broadcast deleting history (a purge is an operator's)
        "default_moves_heads": policy("default", "dynamodb:UpdateItem"),
        "broadcast_deletes": policy("broadcast", "dynamodb:PutItem", "dynamodb:BatchWriteItem"),
        "broadcast_reads": policy("broadcast", "dynamodb:Query"),
        "sweeper_reads": policy("sweeper", "dynamodb:Query"),
        "connect_on_connections": policy("connect", "dynamodb:PutItem", resource=CONNECTIONS),
        "unknown_role": {**policy("default", "dynamodb:Query"), "name": "someone-else"},
    }
    # WHEN only CKV_RT_018 runs
    results = check("CKV_RT_018", resources={"aws_iam_role_policy": policies})
    # THEN the owners' grants pass, every other access fails, policies that do not name the log are not evaluated
    assert results.passed == {"aws_iam_role_policy.broadcast_appends", "aws_iam_role_policy.default_reads"}
    assert results.failed == {"aws_iam_role_policy.default_writes", "aws_iam_role_policy.broadcast_reads",
                              "aws_iam_role_policy.default_moves_heads", "aws_iam_role_policy.broadcast_deletes",
                              "aws_iam_role_policy.sweeper_reads", "aws_iam_role_policy.unknown_role"}
    assert any("PutItem" in detail for detail in results.details["aws_iam_role_policy.default_writes"])
