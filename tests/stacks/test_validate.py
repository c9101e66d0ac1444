"""`terraform init -backend=false` + `terraform validate` of every AWS stack, offline (mirror)."""

from __future__ import annotations

import pytest

from stacks import validate


@pytest.mark.slow
@pytest.mark.parametrize("stack", validate.AWS_STACKS)
def test_terraform_validate(synth_dir, stack):
    result = validate.validate_stack(synth_dir / "stacks" / stack)
    assert result.ok, result.detail


def test_validate_reports_a_missing_synthesis(tmp_path):
    result = validate.validate_stack(tmp_path / "stacks" / "realtime-dev")
    assert not result.ok and "make synth" in result.detail


def test_a_machine_cli_config_that_does_not_exist_falls_back_to_the_project_one(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "absent.rc"))
    assert validate.terraform_environment()["TF_CLI_CONFIG_FILE"] == str(validate.PROJECT_CLI_CONFIG)
