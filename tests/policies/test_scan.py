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


def write_all_stacks(synth_dir, dev_stack):
    """Every stack the environments define: ``dev_stack`` as realtime-dev, an empty one elsewhere."""
    for name in scan.expected_stacks():
        write_stack(synth_dir, name, dev_stack if name == "realtime-dev" else {"resource": {}})


def test_all_stacks_in_one_checkov_run_then_only_the_changed_ones(tmp_path):
    # GIVEN every stack, realtime-dev with a key that does not rotate and a queue without a DLQ
    write_all_stacks(tmp_path, BAD_KEY_STACK)
    # WHEN scanned
    results = {r.stack: r for r in scan.scan(tmp_path)}
    # THEN our checks (with terraform addresses) and the built-in ones fail realtime-dev only
    dev = results.pop("realtime-dev")
    failed = {(f.check_id, f.resource) for f in dev.failed}
    assert {
        ("CKV_RT_011", "aws_kms_key.key"),
        ("CKV_RT_013", "aws_sqs_queue.jobs"),
        ("CKV_AWS_7", "aws_kms_key.key"),
    } <= failed
    assert not dev.ok and all(r.ok for r in results.values())
    # AND the reports are on disk, the combined SARIF holding realtime-dev's findings as repo paths
    output = tmp_path / "checkov"
    assert {p.name for p in output.glob("realtime-dev.*")} == {
        "realtime-dev.json", "realtime-dev.sarif", "realtime-dev.fingerprint",
    }  # fmt: skip
    combined = json.loads((output / "checkov.sarif").read_text())
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in combined["runs"][0]["results"]
        for location in result["locations"]
    }
    assert len(uris) == 1 and uris.pop().endswith("realtime-dev/cdk.tf.json")
    assert len(combined["runs"][0]["results"]) == len(dev.failed)

    # WHEN nothing changed and only changed stacks are scanned
    again = {r.stack: r for r in scan.scan(tmp_path, changed_only=True)}
    # THEN every result is reused, failures included
    assert all(r.reused for r in again.values())
    assert {(f.check_id, f.resource) for f in again["realtime-dev"].failed} == failed

    # WHEN realtime-dev's key is fixed
    fixed = json.loads(json.dumps(BAD_KEY_STACK))
    fixed["resource"]["aws_kms_key"]["key"]["enable_key_rotation"] = True
    write_stack_file = tmp_path / "stacks" / "realtime-dev" / scan.STACK_FILE
    write_stack_file.write_text(json.dumps(fixed, indent=2))
    third = {r.stack: r for r in scan.scan(tmp_path, changed_only=True)}
    # THEN only realtime-dev is scanned again, and its rotation findings are gone
    assert [s for s, r in third.items() if not r.reused] == ["realtime-dev"]
    assert "CKV_RT_011" not in {f.check_id for f in third["realtime-dev"].failed}
    assert "CKV_RT_013" in {f.check_id for f in third["realtime-dev"].failed}


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
    text = scan.summary([result], 1.0, scan.SYNTH_DIR / "checkov")
    assert "FAIL realtime-dev" in text
    assert "CKV_RT_011 aws_kms_key.key: Ensure rotation" in text
    assert "- rotation is off" in text
    assert "1 stacks, 3 passed, 1 failed" in text
    assert text.endswith("ADR 0011): " + ", ".join(scan.configured_skips()))
