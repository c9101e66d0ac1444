"""CKV_RT_010: redrive policies name a DLQ and a maxReceiveCount >= 1.
CKV_RT_013 (graph): every SQS queue has a dead-letter queue or is one."""

import json

REDRIVE = {"deadLetterTargetArn": "${aws_sqs_queue.dlq.arn}", "maxReceiveCount": 5}


def test_redrive_policies_must_name_a_dlq_and_a_receive_limit(check):
    # GIVEN inline and separate redrive policies, good and bad, and a queue without one
    resources = {
        "aws_sqs_queue": {
            "inline": {"name": "realtime-dev-broadcast", "redrive_policy": json.dumps(REDRIVE)},
            "inline_zero_receives": {
                "name": "a",
                "redrive_policy": json.dumps({**REDRIVE, "maxReceiveCount": 0}),
            },
            "no_policy": {"name": "realtime-dev-jobs"},
        },
        "aws_sqs_queue_redrive_policy": {
            "separate": {"queue_url": "${aws_sqs_queue.main.url}", "redrive_policy": json.dumps(REDRIVE)},
            "literal_arn": {
                "queue_url": "${aws_sqs_queue.main.url}",
                "redrive_policy": json.dumps(
                    {**REDRIVE, "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:dlq"}
                ),
            },
            "no_target": {
                "queue_url": "${aws_sqs_queue.main.url}",
                "redrive_policy": json.dumps({"maxReceiveCount": 3}),
            },
            "receives_as_string": {
                "queue_url": "${aws_sqs_queue.main.url}",
                "redrive_policy": json.dumps({**REDRIVE, "maxReceiveCount": "5"}),
            },
            "not_json": {"queue_url": "${aws_sqs_queue.main.url}", "redrive_policy": "${var.redrive}"},
        },
    }
    # WHEN only CKV_RT_010 runs
    results = check("CKV_RT_010", resources=resources)
    # THEN a queue without an inline policy is left to CKV_RT_013
    assert results.passed == {
        "aws_sqs_queue.inline",
        "aws_sqs_queue_redrive_policy.separate",
        "aws_sqs_queue_redrive_policy.literal_arn",
    }
    assert results.failed == {
        "aws_sqs_queue.inline_zero_receives",
        "aws_sqs_queue_redrive_policy.no_target",
        "aws_sqs_queue_redrive_policy.receives_as_string",
        "aws_sqs_queue_redrive_policy.not_json",
    }


def test_every_queue_has_a_dead_letter_queue_or_is_one(check):
    # GIVEN a queue redriven by a separate resource (as the stacks do), one redriven inline, their
    # dead-letter queues, and a queue with no dead-letter queue at all
    resources = {
        "aws_sqs_queue": {
            "main": {"name": "realtime-dev-broadcast"},
            "main_dlq": {"name": "realtime-dev-broadcast-dlq"},
            "inline": {"name": "realtime-dev-inline", "redrive_policy": json.dumps(REDRIVE)},
            "dlq": {
                "name": "realtime-dev-parking",
                "redrive_allow_policy": json.dumps({"redrivePermission": "allowAll"}),
            },
            "orphan": {"name": "realtime-dev-jobs"},
        },
        "aws_sqs_queue_redrive_policy": {
            "main_redrive": {
                "queue_url": "${aws_sqs_queue.main.url}",
                "redrive_policy": json.dumps(
                    {**REDRIVE, "deadLetterTargetArn": "${aws_sqs_queue.main_dlq.arn}"}
                ),
            }
        },
    }
    # WHEN only CKV_RT_013 runs
    results = check("CKV_RT_013", resources=resources)
    # THEN only the orphan fails (checkov's connection checks also report the connecting resource)
    assert results.passed == {
        "aws_sqs_queue.main",
        "aws_sqs_queue.main_dlq",
        "aws_sqs_queue.inline",
        "aws_sqs_queue.dlq",
        "aws_sqs_queue_redrive_policy.main_redrive",
    }
    assert results.failed == {"aws_sqs_queue.orphan"}
