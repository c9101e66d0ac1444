"""The progress lines of `wsctl local up` read from a real `terraform apply -json` of realtime-local.

``recordings/terraform-apply-cold.jsonl`` is the raw output of a cold apply into an empty emulator
(79 resources; the KMS key and the three SQS queues are the long waits). Replayed on a clock driven by
each line's own ``@timestamp``, the parser must say what the apply was doing at that moment.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime
from pathlib import Path

import pytest

from wsctl.errors import WsctlError
from wsctl.local import paths, stack
from wsctl.local.progress import ApplyProgress

RECORDING = Path(__file__).parent / "recordings" / "terraform-apply-cold.jsonl"


class ReplayClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timestamp(line: str) -> float:
    return datetime.fromisoformat(json.loads(line)["@timestamp"].replace("Z", "+00:00")).timestamp()


def replay_until(message_prefix: str, *, plus_seconds: float = 0.0) -> ApplyProgress:
    """Feed the recording up to (and including) the first line whose message starts with the prefix."""
    clock = ReplayClock()
    lines = RECORDING.read_text().splitlines()
    clock.now = timestamp(lines[0])
    progress = ApplyProgress(clock=clock)
    for line in lines:
        clock.now = timestamp(line)
        progress.feed(line)
        if json.loads(line)["@message"].startswith(message_prefix):
            clock.now += plus_seconds
            return progress
    raise AssertionError(f"no line starts with {message_prefix!r}")


def test_before_the_plan_summary_it_says_planning():
    progress = replay_until("aws_iam_role.connect-function_execution_role_8C847015: Plan to create")
    assert progress.total is None
    assert progress.line().startswith("terraform apply: planning, 2 changes so far (")


def test_the_plan_summary_sets_the_total():
    progress = replay_until("Plan: 79 to add")
    assert (progress.done, progress.total) == (0, 79)
    assert progress.line().startswith("terraform apply: 0/79 resources")


def test_a_long_kms_key_wait_is_named():
    # GIVEN the apply 10 s into creating the KMS key, the only resource still in progress
    progress = replay_until("aws_kms_key.key_F64E54E4: Still creating... [10s elapsed]")
    # THEN the line names it with its wait
    line = progress.line()
    assert line.startswith("terraform apply: 12/79 resources, 1 in progress (")
    assert line.endswith("; waiting on aws_kms_key.key_F64E54E4 10 s"), line


def test_short_waits_are_not_named():
    progress = replay_until("aws_kms_key.key_F64E54E4: Creating...", plus_seconds=2)
    assert "waiting on" not in progress.line()


def test_the_two_dead_letter_queues_are_named_while_they_wait():
    progress = replay_until("aws_sqs_queue.broadcast-queue_dlq_7D4908FE: Still creating... [20s elapsed]")
    line = progress.line()
    assert "waiting on aws_sqs_queue.lambda-dlq_queue_B198F2DC 20 s, aws_sqs_queue.broadcast-queue_dlq_7D4908FE 20 s" \
        in line, line


def test_terraforms_elapsed_seconds_win_over_when_the_line_was_read():
    # GIVEN only a progress line for a resource whose start was never seen (the clock is at 0)
    progress = ApplyProgress(clock=ReplayClock())
    progress.feed(json.dumps({"type": "change_summary", "changes": {"add": 1, "operation": "plan"}}))
    progress.feed(json.dumps({"type": "apply_progress", "hook": {
        "resource": {"addr": "aws_sqs_queue.q"}, "action": "create", "elapsed_seconds": 20}}))
    # THEN the wait counts from when terraform started it
    assert "waiting on aws_sqs_queue.q 20 s" in progress.line()


def test_the_whole_recording_ends_all_done_and_reads_are_not_counted():
    progress = ApplyProgress(clock=ReplayClock())
    for line in RECORDING.read_text().splitlines():
        progress.feed(line)
    # two data sources are read during the apply: they are not among the 79 planned changes
    assert (progress.done, progress.total, progress.failed, progress.applying) == (79, 79, 0, {})
    assert progress.line().startswith("terraform apply: 79/79 resources (")


def test_an_errored_resource_and_its_diagnostic_are_reported():
    progress = ApplyProgress(clock=ReplayClock())
    hook = {"resource": {"addr": "aws_sqs_queue.q"}, "action": "create"}
    for document in ({"type": "change_summary", "changes": {"add": 2, "operation": "plan"}},
                     {"type": "apply_start", "hook": hook},
                     {"type": "apply_errored", "hook": hook},
                     {"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "creating SQS Queue",
                                                           "detail": "AccessDenied\nmore", "address": "aws_sqs_queue.q"}}):
        progress.feed(json.dumps(document))
    assert progress.line().startswith("terraform apply: 0/2 resources, 1 failed (")
    assert progress.errors == ["Error: creating SQS Queue (aws_sqs_queue.q): AccessDenied"]


def test_lines_that_are_not_terraform_json_pass_through():
    progress = ApplyProgress(clock=ReplayClock())
    assert progress.feed("panic: runtime error\n") == "panic: runtime error"
    assert progress.feed("  \n") is None
    assert progress.feed('{"type": "version", "@message": "Terraform 1.11.4"}') == "Terraform 1.11.4"


# ---- run_apply: the lines `wsctl local up` logs while a (replayed) terraform runs ----------------

FAKE_TERRAFORM = """\
import sys, time
lines = open(sys.argv[1]).read().splitlines()
for line in lines[:-{tail}]:
    print(line, flush=True)
    time.sleep({pause})
sys.exit({code})
"""


def fake_terraform(tmp_path: Path, *, tail: int = 1, pause: float = 0.0, code: int = 0) -> list[str]:
    script = tmp_path / "terraform.py"
    script.write_text(FAKE_TERRAFORM.format(tail=tail, pause=pause, code=code))
    return [sys.executable, str(script), str(RECORDING)]


@pytest.fixture
def local_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(paths, "STACK_DIR", tmp_path)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    return tmp_path


def test_run_apply_reports_every_interval_and_once_at_the_end(local_dirs):
    # GIVEN a terraform that takes ~1.3 s for the 259 recorded lines
    reported: list[str] = []
    progress = stack.run_apply(fake_terraform(local_dirs, pause=0.005), env=dict(os.environ),
                               report=reported.append, interval=0.3)
    # THEN several lines while it runs, counts never going back, and a final 79/79
    assert len(reported) >= 3, reported
    counts = [int(line.split(": ", 1)[1].split("/")[0]) for line in reported if "/79" in line]
    assert counts == sorted(counts)
    assert reported[-1].startswith("terraform apply: 79/79 resources")
    assert progress.done == 79
    # AND the log keeps terraform's messages, the raw JSON beside it
    log = (local_dirs / "logs" / "terraform-apply.log").read_text()
    assert "Apply complete! Resources: 79 added" in log
    assert (local_dirs / "logs" / "terraform-apply.jsonl").read_text().count("\n") == 258


def test_run_apply_failure_names_terraforms_error(local_dirs):
    script = local_dirs / "failing.py"
    script.write_text("import json\nprint(json.dumps({'type': 'diagnostic', '@message': 'Error: boom', "
                      "'diagnostic': {'severity': 'error', 'summary': 'boom', 'detail': ''}}))\nraise SystemExit(1)\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(WsctlError, match=r"terraform apply failed: Error: boom \(full log: logs/terraform-apply.log\)"):
        stack.run_apply([sys.executable, str(script)], env=dict(os.environ), report=None)
