"""policies.scan: what `make policy` runs."""

import json

import pytest

from policies import scan

BAD_KEY_STACK = {
    "resource": {
        "aws_kms_key": {"key": {"description": "no rotation", "enable_key_rotation": False}},
        "aws_sqs_queue": {"jobs": {"name": "realtime-test-jobs"}},
    }
}


def write_stack(synth_dir, name, document):
    stack_dir = synth_dir / "stacks" / name
    stack_dir.mkdir(parents=True)
    (stack_dir / scan.STACK_FILE).write_text(json.dumps(document, indent=2))


def test_nothing_synthesized_is_an_error_not_a_green_scan(tmp_path, capsys):
    # GIVEN an empty synth dir WHEN scanning THEN exit 2 and a message that says what to do
    assert scan.main(["--synth-dir", str(tmp_path)]) == 2
    assert "no synthesized stacks" in capsys.readouterr().err
    (tmp_path / "stacks").mkdir()
    with pytest.raises(scan.ScanError, match="run `make synth` first"):
        scan.synthesized_stacks(tmp_path)


def test_a_missing_environment_stack_is_an_error(tmp_path):
    # GIVEN only one of the stacks the environments define
    write_stack(tmp_path, "realtime-dev", {"resource": {}})
    # WHEN scanning THEN the missing stacks are named before any checkov run
    with pytest.raises(scan.ScanError) as error:
        scan.scan(tmp_path)
    assert "realtime-prod" in str(error.value) and "realtime-vercel-dev" in str(error.value)
    assert "realtime-dev," not in str(error.value).split("(")[0]


def test_expected_stacks_follow_the_contract():
    assert set(scan.expected_stacks()) == {
        "realtime-dev", "realtime-staging", "realtime-prod", "realtime-local",
        "realtime-vercel-dev", "realtime-vercel-staging", "realtime-vercel-prod",
    }  # fmt: skip


def test_one_stack_through_the_checkov_command_line(tmp_path):
    # GIVEN a stack with a key that does not rotate and a queue without a DLQ
    write_stack(tmp_path, "realtime-test", BAD_KEY_STACK)
    output = tmp_path / "checkov"
    output.mkdir()
    # WHEN checkov scans it with .checkov.yaml and the custom checks
    result = scan.scan_stack(tmp_path, "realtime-test", output)
    # THEN our checks ran (by their terraform addresses) next to the built-in ones, with reports on disk
    failed = {(f.check_id, f.resource) for f in result.failed}
    assert {("CKV_RT_011", "aws_kms_key.key"), ("CKV_RT_010", "aws_sqs_queue.jobs")} <= failed
    assert ("CKV_AWS_7", "aws_kms_key.key") in failed  # built-in, same key
    assert not result.ok
    assert (output / "realtime-test.json").is_file()
    sarif = json.loads((output / "realtime-test.sarif").read_text())
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
        for loc in r["locations"]
    }
    assert all(not uri.startswith("/") for uri in uris)


def test_combined_sarif_is_one_run_with_renumbered_rules():
    def run(*rule_ids):
        return {
            "runs": [
                {
                    "tool": {"driver": {"name": "Checkov", "rules": [{"id": r} for r in rule_ids]}},
                    "results": [{"ruleId": r, "ruleIndex": i} for i, r in enumerate(rule_ids)],
                }
            ]
        }

    a = scan.StackResult("a", sarif=run("CKV_RT_001", "CKV_AWS_7"))
    b = scan.StackResult("b", sarif=run("CKV_AWS_7", "CKV_RT_010"))
    combined = scan.combined_sarif([a, b])
    assert len(combined["runs"]) == 1
    rules = [r["id"] for r in combined["runs"][0]["tool"]["driver"]["rules"]]
    assert rules == ["CKV_RT_001", "CKV_AWS_7", "CKV_RT_010"]
    assert [(r["ruleId"], rules[r["ruleIndex"]]) for r in combined["runs"][0]["results"]] == [
        ("CKV_RT_001", "CKV_RT_001"), ("CKV_AWS_7", "CKV_AWS_7"),
        ("CKV_AWS_7", "CKV_AWS_7"), ("CKV_RT_010", "CKV_RT_010"),
    ]  # fmt: skip


def test_summary_names_each_failure_with_its_details():
    result = scan.StackResult(
        "realtime-dev",
        passed=3,
        failed=[scan.Finding("CKV_RT_011", "Ensure rotation", "aws_kms_key.key", ("rotation is off",))],
    )
    text = scan.summary([result], 1.0)
    assert "FAIL realtime-dev" in text
    assert "CKV_RT_011 aws_kms_key.key: Ensure rotation" in text
    assert "- rotation is off" in text
    assert "1 stacks, 3 passed, 1 failed" in text
