"""The IAM guardrail fails synthesis at the statement that asks for a wildcard action."""

from __future__ import annotations

import pytest

from stacks.constructs.iam import Statement, WildcardActionError


@pytest.mark.parametrize("action", ["*", "dynamodb:*", "sqs:*", "kms"])
def test_wildcard_or_malformed_actions_are_refused(action):
    with pytest.raises(WildcardActionError, match="realtime-dev/connect"):
        Statement(sid="Bad", actions=("dynamodb:GetItem", action), resources=("arn:aws:dynamodb:x",),
                  origin="realtime-dev/connect")


def test_exact_actions_pass_and_render_sorted():
    statement = Statement(sid="Ok", actions=("sqs:SendMessage", "kms:Decrypt"), resources=("arn:a", "arn:b"))
    assert statement.to_json() == {"Sid": "Ok", "Effect": "Allow", "Action": ["kms:Decrypt", "sqs:SendMessage"],
                                   "Resource": ["arn:a", "arn:b"]}
