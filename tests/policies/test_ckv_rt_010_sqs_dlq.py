"""CKV_RT_010: every SQS queue has a dead-letter queue or is one."""

import json


def test_queues_without_a_dlq_fail(check):
    # GIVEN queues with a redrive policy, dead-letter queues, and queues with neither
    redrive = {"deadLetterTargetArn": "${aws_sqs_queue.dlq.arn}", "maxReceiveCount": 5}
    queues = {
        "broadcast": {"name": "realtime-dev-broadcast", "redrive_policy": json.dumps(redrive)},
        "dlq": {"name": "realtime-dev-broadcast-dlq"},
        "declared_dlq": {
            "name": "realtime-dev-parking",
            "redrive_allow_policy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": ["x"]}),
        },
        "no_dlq": {"name": "realtime-dev-jobs"},
        "zero_receives": {
            "name": "realtime-dev-x",
            "redrive_policy": json.dumps({**redrive, "maxReceiveCount": 0}),
        },
        "no_target": {"name": "realtime-dev-y", "redrive_policy": json.dumps({"maxReceiveCount": 3})},
    }
    # WHEN only CKV_RT_010 runs
    results = check("CKV_RT_010", resources={"aws_sqs_queue": queues})
    # THEN
    assert results.passed == {"aws_sqs_queue.broadcast", "aws_sqs_queue.dlq", "aws_sqs_queue.declared_dlq"}
    assert results.failed == {
        "aws_sqs_queue.no_dlq",
        "aws_sqs_queue.zero_receives",
        "aws_sqs_queue.no_target",
    }
