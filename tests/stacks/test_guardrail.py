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


def _stack_with_queue(queue_name: str, outdir):
    from cdktf import App, Aspects, TerraformStack
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue

    from stacks.constructs.guardrails import NamingGuardrail

    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "realtime-dev")
    AwsProvider(stack, "aws", region="eu-west-1")
    SqsQueue(stack, "queue", name=queue_name)
    Aspects.of(stack).add(NamingGuardrail("realtime-dev"))
    return app


def test_naming_guardrail_fails_synthesis_for_a_foreign_name(tmp_path):
    with pytest.raises(Exception, match=r"realtime-dev/queue: name 'orders' does not contain 'realtime-dev'"):
        _stack_with_queue("orders", tmp_path).synth()


def test_naming_guardrail_accepts_the_stack_prefix(tmp_path):
    _stack_with_queue("realtime-dev-broadcast", tmp_path).synth()
    assert (tmp_path / "stacks" / "realtime-dev" / "cdk.tf.json").is_file()
