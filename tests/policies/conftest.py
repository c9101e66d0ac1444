"""Run one custom check, in process, over a small terraform JSON stack written for the test.

The checks are loaded exactly as ``checkov --external-checks-dir policies/checks`` loads them, so a
check that would not load in the real scan does not load here either.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")

from checkov.runner_filter import RunnerFilter  # noqa: E402 - after BC_SKIP_MAPPING
from checkov.terraform.checks.resource.registry import resource_registry  # noqa: E402
from checkov.terraform_json.runner import TerraformJsonRunner  # noqa: E402

from policies.resources import terraform_address  # noqa: E402
from policies.scan import CHECKS_DIR  # noqa: E402


@dataclass(frozen=True)
class CheckResults:
    """Terraform addresses the check passed and failed, and its details per failed address."""

    passed: set[str]
    failed: set[str]
    details: dict[str, list[str]]


def run_check(check_id: str, stack: dict[str, Any], directory: Path) -> CheckResults:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cdk.tf.json").write_text(json.dumps(stack, indent=2))
    # Loading registers the checks in checkov's global registries; a second load is a no-op.
    resource_registry.load_external_checks(str(CHECKS_DIR))
    report = TerraformJsonRunner().run(
        root_folder=str(directory),
        external_checks_dir=[str(CHECKS_DIR)],
        runner_filter=RunnerFilter(framework=["terraform_json"], checks=[check_id]),
    )
    assert not report.parsing_errors, report.parsing_errors
    records = report.passed_checks + report.failed_checks
    assert {r.check_id for r in records} <= {check_id}
    return CheckResults(
        passed={terraform_address(r.resource, stack) for r in report.passed_checks},
        failed={terraform_address(r.resource, stack) for r in report.failed_checks},
        details={terraform_address(r.resource, stack): list(r.details) for r in report.failed_checks},
    )


@pytest.fixture
def check(tmp_path):
    """``check("CKV_RT_001", resources={...}, data={...}, provider={...})`` -> :class:`CheckResults`,
    each stack in a folder of its own."""
    counter = iter(range(1000))

    def _run(
        check_id: str,
        resources: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        provider: dict[str, Any] | None = None,
    ):
        stack: dict[str, Any] = {"resource": resources or {}}
        if data:
            stack["data"] = data
        if provider:
            stack["provider"] = provider
        return run_check(check_id, stack, tmp_path / f"stack-{next(counter)}")

    return _run
