"""CKV_RT_002 (policies held by resources) and CKV_RT_003 (aws_iam_policy_document data sources):
no statement allows ``*`` or ``service:*`` actions."""

import json


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


EXACT = {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "${aws_sqs_queue.q.arn}"}
LAMBDA_TRUST = policy(
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
)


def test_resource_policies_in_every_form(check):
    # GIVEN policies as JSON strings, jsonencode() and data-source references, good and bad
    resources = {
        "aws_iam_role_policy": {
            "exact": {"role": "r", "policy": policy(EXACT)},
            "service_wildcard": {"role": "r", "policy": policy(EXACT, {**EXACT, "Action": "dynamodb:*"})},
            "star": {"role": "r", "policy": policy({**EXACT, "Action": "*"})},
            "not_action": {
                "role": "r",
                "policy": policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
            },
            "denied_star": {
                "role": "r",
                "policy": policy(EXACT, {"Effect": "Deny", "Action": "*", "Resource": "*"}),
            },
            "jsonencode_exact": {
                "role": "r",
                "policy": '${jsonencode({"Statement" = [{"Effect" = "Allow", "Action" = ["sqs:SendMessage"], '
                '"Resource" = aws_sqs_queue.q.arn}]})}',
            },
            "jsonencode_wildcard": {
                "role": "r",
                "policy": '${jsonencode({"Statement" = [{"Effect" = "Allow", "Action" = "kms:*", '
                '"Resource" = aws_kms_key.k.arn}]})}',
            },
            "unreadable": {"role": "r", "policy": '${file("policy.json")}'},
            "malformed_condition": {
                "role": "r",
                "policy": policy({**EXACT, "Condition": "aws:SecureTransport"}),
            },
        },
        "aws_iam_role": {
            "trust_only": {"assume_role_policy": LAMBDA_TRUST},
            "wildcard_inline": {
                "assume_role_policy": LAMBDA_TRUST,
                "inline_policy": [{"name": "p", "policy": policy({**EXACT, "Action": "s3:*"})}],
            },
            "delegates_to_document": {
                "assume_role_policy": "${data.aws_iam_policy_document.trust.json}",
                "inline_policy": [{"name": "p", "policy": "${data.aws_iam_policy_document.grants.json}"}],
            },
        },
        "aws_kms_key_policy": {
            "key_admin_star": {
                "key_id": "k",
                "policy": policy({**EXACT, "Action": "kms:*", "Principal": {"AWS": "x"}}),
            },
        },
    }
    # WHEN only CKV_RT_002 runs
    results = check("CKV_RT_002", resources=resources)
    # THEN the exact, deny-only and delegating documents pass; the rest fail, unreadable ones too
    assert results.passed == {
        "aws_iam_role_policy.exact",
        "aws_iam_role_policy.denied_star",
        "aws_iam_role_policy.jsonencode_exact",
        "aws_iam_role.trust_only",
    }
    assert results.failed == {
        "aws_iam_role_policy.service_wildcard",
        "aws_iam_role_policy.star",
        "aws_iam_role_policy.not_action",
        "aws_iam_role_policy.jsonencode_wildcard",
        "aws_iam_role_policy.unreadable",
        "aws_iam_role_policy.malformed_condition",
        "aws_iam_role.wildcard_inline",
        "aws_kms_key_policy.key_admin_star",
    }
    # (delegates_to_document has no statements of its own: CKV_RT_003 checks the documents)
    assert results.details["aws_iam_role_policy.service_wildcard"] == ["allows wildcard action 'dynamodb:*'"]


def test_policy_document_data_sources(check):
    # GIVEN aws_iam_policy_document data sources
    data = {
        "aws_iam_policy_document": {
            "exact": {
                "statement": [{"actions": ["sqs:SendMessage"], "resources": ["${aws_sqs_queue.q.arn}"]}]
            },
            "service_wildcard": {
                "statement": [{"actions": ["sqs:SendMessage", "sqs:*"], "resources": ["*"]}]
            },
            "star": {"statement": [{"effect": "Allow", "actions": ["*"], "resources": ["*"]}]},
            "not_actions": {"statement": [{"not_actions": ["iam:PassRole"], "resources": ["*"]}]},
            "deny_star": {"statement": [{"effect": "Deny", "actions": ["*"], "resources": ["*"]}]},
        }
    }
    # WHEN only CKV_RT_003 runs
    results = check("CKV_RT_003", data=data)
    # THEN
    assert results.passed == {"data.aws_iam_policy_document.exact", "data.aws_iam_policy_document.deny_star"}
    assert results.failed == {
        "data.aws_iam_policy_document.service_wildcard",
        "data.aws_iam_policy_document.star",
        "data.aws_iam_policy_document.not_actions",
    }
