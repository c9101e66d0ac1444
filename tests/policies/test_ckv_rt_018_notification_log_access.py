"""CKV_RT_018: only broadcast writes and only default reads the notification log."""

import json

LOG = "${aws_dynamodb_table.notification-log_table_FA2F17BA.arn}"
CONNECTIONS = "${aws_dynamodb_table.connection-table_D65301B6.arn}"


def policy(function, *actions, resource=LOG, condition=None):
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    if condition is not None:
        statement["Condition"] = condition
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


READ_STATE = {"ForAllValues:StringEquals": {"dynamodb:Attributes": [
    "userId", "cursor", "readUser", "readGlobal", "ver", "expiresAt"]}}


def test_default_may_put_only_read_state_attributes(check):
    # GIVEN the read-state grant as the stack writes it, and the ways it could be widened
    policies = {
        "default_read_state": policy("default", "dynamodb:PutItem", condition=READ_STATE),
        # a frame (forged notification), an unconditional put, UpdateItem under the same condition,
        # ForAnyValue (one allowed name suffices), and the grant on another function
        "default_puts_frames": policy("default", "dynamodb:PutItem", condition={"ForAllValues:StringEquals": {
            "dynamodb:Attributes": ["userId", "cursor", "frame"]}}),
        "default_puts_anything": policy("default", "dynamodb:PutItem"),
        "default_updates_read_state": policy("default", "dynamodb:UpdateItem", condition=READ_STATE),
        "default_any_value": policy("default", "dynamodb:PutItem", condition={"ForAnyValue:StringEquals": {
            "dynamodb:Attributes": ["userId"]}}),
        "sweeper_read_state": policy("sweeper", "dynamodb:PutItem", condition=READ_STATE),
    }
    # WHEN only CKV_RT_018 runs
    results = check("CKV_RT_018", resources={"aws_iam_role_policy": policies})
    # THEN only the exact read-state grant of the default function passes
    assert results.passed == {"aws_iam_role_policy.default_read_state"}
    assert results.failed == {f"aws_iam_role_policy.{name}" for name in policies} - results.passed
