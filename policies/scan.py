"""``python -m policies.scan``: checkov over every synthesized stack; exit 1 on any failed check.

Each stack under ``cdktf.out/stacks/`` is scanned by its own checkov process (in parallel, one per
core) with ``.checkov.yaml`` and the custom checks in ``policies/checks/``. Results land in
``cdktf.out/checkov/``: ``<stack>.json`` and ``<stack>.sarif`` per stack, and ``checkov.sarif``, all
stacks in one SARIF run, which the pull-request workflow uploads for code-scanning annotations.

Every stack the environments define must have been synthesized (``make synth``): a scan that
silently skips a stack would report green for infrastructure nobody checked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.resources import terraform_address

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / ".checkov.yaml"
CHECKS_DIR = ROOT / "policies" / "checks"
SYNTH_DIR = ROOT / "cdktf.out"
STACK_FILE = "cdk.tf.json"


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
    #: ids of the checks that passed on at least one resource (what the stack was really held to)
    passing_checks: set[str] = field(default_factory=set)
    failed: list[Finding] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sarif: dict[str, Any] | None = None

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


def checkov_command(stack_dir: Path, output_dir: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("checkov")),
        "--config-file", str(CONFIG_FILE),
        "--external-checks-dir", str(CHECKS_DIR),
        "--framework", "terraform_json",
        "--directory", os.path.relpath(stack_dir, ROOT),  # relative: SARIF paths must be repo paths
        "--output", "json", "--output", "sarif",
        "--output-file-path", str(output_dir),
    ]  # fmt: skip


def scan_stack(synth_dir: Path, stack: str, output_dir: Path) -> StackResult:
    """Run checkov on one stack; its JSON and SARIF reports are written to ``output_dir``."""
    stack_dir = synth_dir / "stacks" / stack
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"checkov-{stack}-") as raw:
        env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
        completed = subprocess.run(  # noqa: S603 - our own checkov, fixed arguments
            checkov_command(stack_dir, Path(raw)),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        report_file, sarif_file = Path(raw) / "results_json.json", Path(raw) / "results_sarif.sarif"
        # checkov exits 1 when a check failed (reported below) and other codes when it broke.
        if completed.returncode not in (0, 1) or not report_file.is_file():
            raise ScanError(
                f"checkov failed on {stack} (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
            )
        shutil.copyfile(report_file, output_dir / f"{stack}.json")
        shutil.copyfile(sarif_file, output_dir / f"{stack}.sarif")
        report = json.loads(report_file.read_text())
        sarif = json.loads(sarif_file.read_text())
    result = result_from_report(stack, report, json.loads((stack_dir / STACK_FILE).read_text()))
    result.sarif = sarif
    result.seconds = time.monotonic() - started
    return result


def result_from_report(
    stack: str, report: dict[str, Any] | list[Any], stack_json: dict[str, Any]
) -> StackResult:
    """Counts and failures of checkov's JSON report (a list when several frameworks ran; an empty
    summary dict when the stack had nothing to scan)."""
    reports = report if isinstance(report, list) else [report]
    result = StackResult(stack)
    for part in reports:
        results = part.get("results", {})
        result.passed += len(results.get("passed_checks", []))
        result.passing_checks |= {record["check_id"] for record in results.get("passed_checks", [])}
        result.skipped += len(results.get("skipped_checks", []))
        result.parsing_errors += results.get("parsing_errors", [])
        result.failed += [
            Finding(
                check_id=record["check_id"],
                check_name=record["check_name"],
                resource=terraform_address(record["resource"], stack_json),
                details=tuple(record.get("details") or ()),
            )
            for record in results.get("failed_checks", [])
        ]
    return result


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
    synth_dir: Path = SYNTH_DIR, output_dir: Path | None = None, jobs: int | None = None
) -> list[StackResult]:
    """Scan every synthesized stack; raise ScanError when an expected stack was not synthesized."""
    stacks = synthesized_stacks(synth_dir)
    missing = sorted(set(expected_stacks()) - set(stacks))
    if missing:
        raise ScanError(
            f"not synthesized: {', '.join(missing)} (run `make synth`; found {', '.join(stacks)})"
        )
    output_dir = output_dir or synth_dir / "checkov"
    output_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda stack: scan_stack(synth_dir, stack, output_dir), stacks))
    (output_dir / "checkov.sarif").write_text(json.dumps(combined_sarif(results), indent=1))
    return results


def summary(results: list[StackResult], seconds: float) -> str:
    width = max(len(r.stack) for r in results)
    lines = []
    for r in results:
        status = "ok  " if r.ok else "FAIL"
        lines.append(
            f"{status} {r.stack:<{width}}  passed {r.passed:>3}  failed {len(r.failed):>3}  "
            f"skipped {r.skipped:>3}  ({r.seconds:.1f}s)"
        )
        lines += [f"       parsing error: {e}" for e in r.parsing_errors]
        for f in r.failed:
            lines.append(f"       {f.check_id} {f.resource}: {f.check_name}")
            lines += [f"         - {d}" for d in f.details]
    failed = sum(len(r.failed) for r in results)
    lines.append(
        f"checkov: {len(results)} stacks, {sum(r.passed for r in results)} passed, {failed} failed, "
        f"{sum(r.skipped for r in results)} skipped in {seconds:.1f}s; SARIF in cdktf.out/checkov/"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.scan", description=__doc__.splitlines()[0])
    parser.add_argument("--synth-dir", type=Path, default=SYNTH_DIR, help="cdktf output folder (cdktf.out)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel checkov processes (default: cores)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        results = scan(args.synth_dir, jobs=args.jobs)
    except ScanError as error:
        print(f"policy scan: {error}", file=sys.stderr)
        return 2
    print(summary(results, time.monotonic() - started))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
