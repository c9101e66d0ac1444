"""``python -m policies.scan``: checkov over every synthesized stack; exit 1 on any failed check.

All stacks under ``cdktf.out/stacks/`` are scanned by one checkov process with ``.checkov.yaml``
and the custom checks in ``policies/checks/``. A run is start-up bound (~2.5 s of imports, then
~0.4 s per stack), so one process for all seven stacks beats one process per stack, even in
parallel on two cores (measured in docs/policy.md). Results land in ``cdktf.out/checkov/``:
``<stack>.json`` and ``<stack>.sarif`` per stack, and ``checkov.sarif``, every stack in one SARIF
run, which the pull-request workflow uploads to code scanning.

Every stack the environments define must have been synthesized (``make synth``): a scan that
silently skipped a stack would report green for infrastructure nobody checked.

``--changed`` (the pre-commit hook) scans only the stacks whose inputs changed since their last
scan: their JSON, ``.checkov.yaml``, the checks, or the set of alarm runbooks (CKV_RT_007). The
others keep their previous results, failures included (``<stack>.fingerprint``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.resources import terraform_address

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / ".checkov.yaml"
CHECKS_DIR = ROOT / "policies" / "checks"
RUNBOOKS_DIR = ROOT / "runbooks" / "alarms"
SYNTH_DIR = ROOT / "cdktf.out"
STACK_FILE = "cdk.tf.json"
RESULT_LISTS = ("passed_checks", "failed_checks", "skipped_checks")


class ScanError(RuntimeError):
    """The scan could not run (nothing synthesized, a stack missing, checkov broke)."""


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    details: tuple[str, ...] = ()


@dataclass
class StackResult:
    stack: str
    passed: int = 0
    skipped: int = 0
    failed: list[Finding] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)
    #: ids of the checks that passed on at least one resource (what the stack was really held to)
    passing_checks: set[str] = field(default_factory=set, repr=False)
    sarif: dict[str, Any] | None = field(default=None, repr=False)
    #: True when the results are those of an earlier scan (``--changed``, inputs unchanged)
    reused: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.parsing_errors


def expected_stacks() -> list[str]:
    """Every stack the environment files define: ``realtime-<env>``, and ``realtime-vercel-<env>``
    where the environment feeds Vercel (docs/contracts.md)."""
    from stacks.config import PROJECT, load_all

    names = []
    for env in load_all().values():
        names.append(env.stack_name)
        if env.vercel is not None:
            names.append(f"{PROJECT}-vercel-{env.name}")
    return names


def synthesized_stacks(synth_dir: Path) -> list[str]:
    stacks_dir = synth_dir / "stacks"
    if not stacks_dir.is_dir():
        raise ScanError(f"no synthesized stacks: {stacks_dir} does not exist (run `make synth` first)")
    found = sorted(p.name for p in stacks_dir.iterdir() if (p / STACK_FILE).is_file())
    if not found:
        raise ScanError(
            f"no synthesized stacks: no */{STACK_FILE} under {stacks_dir} (run `make synth` first)"
        )
    return found


def fingerprint(stack_file: Path) -> str:
    """Hash of everything that decides a stack's results: its JSON, the checkov config, the custom
    checks, and which alarm runbooks exist (CKV_RT_007)."""
    digest = hashlib.sha256()
    for path in [
        stack_file,
        CONFIG_FILE,
        *sorted(CHECKS_DIR.glob("*.py")),
        *sorted(CHECKS_DIR.glob("*.yaml")),
    ]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for runbook in sorted(RUNBOOKS_DIR.glob("*.md")):
        digest.update(runbook.name.encode() + b"\0")
    return digest.hexdigest()


def checkov_command(stack_files: list[Path], output_dir: Path) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("checkov")),
        "--config-file", str(CONFIG_FILE),
        "--external-checks-dir", str(CHECKS_DIR),
        "--framework", "terraform_json",
        "--output", "json", "--output", "sarif",
        "--output-file-path", str(output_dir),
    ]  # fmt: skip
    for stack_file in stack_files:
        # relative to the repo when inside it: SARIF locations must be repository paths
        command += ["--file", os.path.relpath(stack_file, ROOT)]
    return command


def stack_of(path: str) -> str:
    """The stack a reported file belongs to: ``.../stacks/<stack>/cdk.tf.json`` -> ``<stack>``."""
    return Path(path).parent.name


def run_checkov(stack_files: list[Path]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One checkov process over ``stack_files``: (its JSON report, its SARIF log)."""
    with tempfile.TemporaryDirectory(prefix="checkov-") as raw:
        env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
        completed = subprocess.run(  # noqa: S603 - the venv's checkov, fixed arguments
            checkov_command(stack_files, Path(raw)),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        report_file, sarif_file = Path(raw) / "results_json.json", Path(raw) / "results_sarif.sarif"
        # checkov exits 1 when a check failed (reported by the caller); anything else means it broke.
        if completed.returncode not in (0, 1) or not report_file.is_file() or not sarif_file.is_file():
            raise ScanError(f"checkov failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
        report = json.loads(report_file.read_text())
        return (report[0] if isinstance(report, list) else report), json.loads(sarif_file.read_text())


def split_by_stack(report: dict[str, Any], sarif: dict[str, Any], stacks: list[str]) -> dict[str, tuple]:
    """checkov's report and SARIF for several stacks -> ``{stack: (report, sarif)}`` in the same
    formats, each holding that stack's records only (a stack with no results gets empty ones)."""
    results = report.get("results", {})
    run = sarif["runs"][0]
    split = {}
    for stack in stacks:
        stack_results = {key: [r for r in results.get(key, []) if stack_of(r["file_abs_path"]) == stack]
                         for key in RESULT_LISTS}  # fmt: skip
        stack_results["parsing_errors"] = [
            p for p in results.get("parsing_errors", []) if stack_of(p) == stack
        ]
        stack_sarif_results = [
            r for r in run.get("results", [])
            if stack_of(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) == stack
        ]  # fmt: skip
        split[stack] = (
            {"check_type": "terraform_json", "results": stack_results},
            {**sarif, "runs": [{**run, "results": stack_sarif_results}]},
        )
    return split


def result_from_report(stack: str, report: dict[str, Any], stack_json: dict[str, Any]) -> StackResult:
    """Counts and failures of one stack's checkov JSON report, with terraform addresses."""
    results = report.get("results", {})
    return StackResult(
        stack=stack,
        passed=len(results.get("passed_checks", [])),
        skipped=len(results.get("skipped_checks", [])),
        parsing_errors=list(results.get("parsing_errors", [])),
        passing_checks={record["check_id"] for record in results.get("passed_checks", [])},
        failed=[
            Finding(
                check_id=record["check_id"],
                check_name=record["check_name"],
                resource=terraform_address(record["resource"], stack_json),
                details=tuple(record.get("details") or ()),
            )
            for record in results.get("failed_checks", [])
        ],
    )


def combined_sarif(results: list[StackResult]) -> dict[str, Any]:
    """One SARIF run holding every stack's results (code scanning rejects several runs of one tool
    and category in an upload); rule indexes are renumbered against the merged rule list."""
    runs = [run for r in results if r.sarif for run in r.sarif.get("runs", [])]
    rules: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}
    merged_results = []
    for run in runs:
        for rule in run["tool"]["driver"].get("rules", []):
            if rule["id"] not in index_of:
                index_of[rule["id"]] = len(rules)
                rules.append(rule)
        for item in run.get("results", []):
            merged_results.append({**item, "ruleIndex": index_of[item["ruleId"]]})
    driver = dict(runs[0]["tool"]["driver"]) if runs else {"name": "Checkov"}
    driver["rules"] = rules
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": merged_results}],
    }


def scan(
    synth_dir: Path = SYNTH_DIR, output_dir: Path | None = None, changed_only: bool = False
) -> list[StackResult]:
    """Scan every synthesized stack (with ``changed_only``, those whose inputs changed since their
    last scan); raise ScanError when a stack the environments define was not synthesized."""
    stacks = synthesized_stacks(synth_dir)
    missing = sorted(set(expected_stacks()) - set(stacks))
    if missing:
        raise ScanError(
            f"not synthesized: {', '.join(missing)} (run `make synth`; found {', '.join(stacks)})"
        )
    output_dir = output_dir or synth_dir / "checkov"
    output_dir.mkdir(parents=True, exist_ok=True)
    stack_file = {stack: synth_dir / "stacks" / stack / STACK_FILE for stack in stacks}
    fingerprints = {stack: fingerprint(path) for stack, path in stack_file.items()}

    def previous(stack: str) -> Path:
        return output_dir / f"{stack}.fingerprint"

    reused = {
        s
        for s in stacks
        if changed_only and previous(s).is_file() and previous(s).read_text() == fingerprints[s]
    }
    to_scan = [s for s in stacks if s not in reused]
    if to_scan:
        report, sarif = run_checkov([stack_file[s] for s in to_scan])
        for stack, (stack_report, stack_sarif) in split_by_stack(report, sarif, to_scan).items():
            (output_dir / f"{stack}.json").write_text(json.dumps(stack_report, indent=1))
            (output_dir / f"{stack}.sarif").write_text(json.dumps(stack_sarif, indent=1))
            previous(stack).write_text(fingerprints[stack])

    results = []
    for stack in stacks:
        result = result_from_report(
            stack,
            json.loads((output_dir / f"{stack}.json").read_text()),
            json.loads(stack_file[stack].read_text()),
        )
        result.sarif = json.loads((output_dir / f"{stack}.sarif").read_text())
        result.reused = stack in reused
        results.append(result)
    (output_dir / "checkov.sarif").write_text(json.dumps(combined_sarif(results), indent=1))
    return results


def configured_skips() -> list[str]:
    """Built-in checks ``.checkov.yaml`` skips (checkov then runs them nowhere and reports nothing)."""
    import yaml

    return list(yaml.safe_load(CONFIG_FILE.read_text()).get("skip-check") or [])


def summary(results: list[StackResult], seconds: float, output_dir: Path) -> str:
    width = max(len(r.stack) for r in results)
    lines = []
    for r in results:
        lines.append(
            f"{'ok  ' if r.ok else 'FAIL'} {r.stack:<{width}}  passed {r.passed:>3}  failed {len(r.failed):>3}  "
            f"skipped {r.skipped:>3}" + ("  (unchanged: previous results)" if r.reused else "")
        )
        lines += [f"       parsing error: {e}" for e in r.parsing_errors]
        for f in r.failed:
            lines.append(f"       {f.check_id} {f.resource}: {f.check_name}")
            lines += [f"         - {d}" for d in f.details]
    lines.append(
        f"checkov: {len(results)} stacks, {sum(r.passed for r in results)} passed, "
        f"{sum(len(r.failed) for r in results)} failed, {sum(r.skipped for r in results)} skipped "
        f"in {seconds:.1f}s; reports in {output_dir}"
    )
    lines.append(f"not run, skipped in .checkov.yaml (ADR 0011): {', '.join(configured_skips()) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.scan", description=__doc__.splitlines()[0])
    parser.add_argument("--synth-dir", type=Path, default=SYNTH_DIR, help="cdktf output folder (cdktf.out)")
    parser.add_argument(
        "--changed",
        action="store_true",
        help="scan only stacks whose JSON, checks, checkov config or runbooks changed since their last scan",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        results = scan(args.synth_dir, changed_only=args.changed)
    except ScanError as error:
        print(f"policy scan: {error}", file=sys.stderr)
        return 2
    print(summary(results, time.monotonic() - started, args.synth_dir / "checkov"))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
