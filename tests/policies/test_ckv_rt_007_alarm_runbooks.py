"""CKV_RT_007: every alarm's description names its own runbook, and the runbook exists."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runbook():
    """A runbook file that exists for the duration of the test (removed afterwards)."""
    path = ROOT / "runbooks" / "alarms" / "zz-policy-test-alarm.md"
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        path.write_text("# zz-policy-test-alarm\n")
    yield "runbooks/alarms/zz-policy-test-alarm.md"
    if created:
        path.unlink()


def alarm(name, description):
    return {
        "alarm_name": name,
        "alarm_description": description,
        "comparison_operator": "GreaterThanThreshold",
    }


def test_alarms_name_an_existing_runbook_of_their_own(check, runbook):
    # GIVEN alarms naming an existing runbook, a missing one, another alarm's, and none
    alarms = {
        "documented": alarm("realtime-dev-zz-policy-test-alarm", f"Something is wrong. Runbook: {runbook}"),
        "reference_name": alarm("${var.prefix}-zz-policy-test-alarm", f"Runbook: {runbook}"),
        "missing_runbook": alarm("realtime-dev-nope", "Runbook: runbooks/alarms/nope.md"),
        "someone_elses_runbook": alarm("realtime-dev-connect-errors", f"Runbook: {runbook}"),
        "no_runbook": alarm("realtime-dev-zz-policy-test-alarm", "Something is wrong."),
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
