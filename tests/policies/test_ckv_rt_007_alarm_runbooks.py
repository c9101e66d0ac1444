"""CKV_RT_007: every alarm's description names its own runbook, and the runbook exists."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runbook():
    """The repo path of a runbook that exists (any alarm's; the check only needs the file)."""
    runbooks = sorted((ROOT / "runbooks" / "alarms").glob("*.md"))
    assert runbooks, "runbooks/alarms/ holds no runbook"
    return runbooks[0].relative_to(ROOT).as_posix()


def alarm(name, description):
    return {
        "alarm_name": name,
        "alarm_description": description,
        "comparison_operator": "GreaterThanThreshold",
    }


def test_alarms_name_an_existing_runbook_of_their_own(check, runbook):
    # GIVEN alarms naming an existing runbook, a missing one, another alarm's, and none
    key = runbook.removeprefix("runbooks/alarms/").removesuffix(".md")
    alarms = {
        "documented": alarm(f"realtime-dev-{key}", f"Something is wrong. Runbook: {runbook}"),
        "reference_name": alarm(f"${{var.prefix}}-{key}", f"Runbook: {runbook}"),
        "missing_runbook": alarm("realtime-dev-nope", "Runbook: runbooks/alarms/nope.md"),
        "someone_elses_runbook": alarm("realtime-dev-not-this-alarm", f"Runbook: {runbook}"),
        "no_runbook": alarm(f"realtime-dev-{key}", "Something is wrong."),
        "outside_the_repo": alarm("realtime-dev-passwd", "Runbook: runbooks/alarms/../../../etc/passwd.md"),
    }
    # WHEN only CKV_RT_007 runs
    results = check("CKV_RT_007", resources={"aws_cloudwatch_metric_alarm": alarms})
    # THEN
    assert results.passed == {
        "aws_cloudwatch_metric_alarm.documented",
        "aws_cloudwatch_metric_alarm.reference_name",
    }
    assert results.failed == {
        "aws_cloudwatch_metric_alarm.missing_runbook",
        "aws_cloudwatch_metric_alarm.someone_elses_runbook",
        "aws_cloudwatch_metric_alarm.no_runbook",
        "aws_cloudwatch_metric_alarm.outside_the_repo",
    }
