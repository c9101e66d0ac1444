"""``python -m stacks.validate``: ``terraform init -backend=false`` + ``terraform validate`` for every
synthesized AWS stack, offline against the provider mirror (``TF_CLI_CONFIG_FILE``, set by the Makefile).

The Vercel stacks are not validated: their provider cannot be installed offline (TOOLCHAIN.md).
Exit status 1 names every stack that failed and why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from stacks.config import ENVIRONMENT_NAMES, PROJECT
from stacks.outdir import resolve_outdir

AWS_STACKS = tuple(f"{PROJECT}-{env}" for env in ENVIRONMENT_NAMES)


@dataclass(frozen=True)
class StackResult:
    stack: str
    ok: bool
    detail: str


PROJECT_CLI_CONFIG = Path(__file__).resolve().parent.parent / ".tfcli" / "terraform.rc"


def terraform_environment() -> dict[str, str]:
    """The caller's environment, with the project's CLI config (offline mirror) unless a usable one is set.

    The machine's own ``TF_CLI_CONFIG_FILE`` may point at a file that does not exist; then terraform
    would try the registry and fail offline.
    """
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    configured = env.get("TF_CLI_CONFIG_FILE")
    if (not configured or not Path(configured).is_file()) and PROJECT_CLI_CONFIG.is_file():
        env["TF_CLI_CONFIG_FILE"] = str(PROJECT_CLI_CONFIG)
    return env


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = terraform_environment()
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603


def validate_stack(stack_dir: Path) -> StackResult:
    stack = stack_dir.name
    if not (stack_dir / "cdk.tf.json").is_file():
        return StackResult(stack, False, f"{stack_dir}/cdk.tf.json missing: run `make synth` first")
    init = _run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], stack_dir)
    if init.returncode != 0:
        hint = "" if PROJECT_CLI_CONFIG.is_file() else f" ({PROJECT_CLI_CONFIG} is missing: run `make setup`)"
        return StackResult(stack, False, f"terraform init failed{hint}:\n{init.stderr.strip() or init.stdout.strip()}")
    result = _run(["terraform", "validate", "-json", "-no-color"], stack_dir)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return StackResult(stack, False, f"terraform validate failed:\n{result.stderr.strip()}")
    if report.get("valid"):
        warnings = [d["summary"] for d in report.get("diagnostics", []) if d.get("severity") == "warning"]
        return StackResult(stack, True, "valid" + (f" ({len(warnings)} warnings)" if warnings else ""))
    problems = [f"  {d.get('severity')}: {d.get('summary')}: {d.get('detail', '')} "
                f"[{d.get('range', {}).get('filename', '')}]" for d in report.get("diagnostics", [])]
    return StackResult(stack, False, "terraform validate failed:\n" + "\n".join(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=None, help="synthesis output (default: cdktf.out)")
    parser.add_argument("stacks", nargs="*", default=list(AWS_STACKS), help="stack names")
    args = parser.parse_args(argv)
    outdir = args.outdir or resolve_outdir()
    with ThreadPoolExecutor(max_workers=len(args.stacks)) as pool:
        results = list(pool.map(validate_stack, (outdir / "stacks" / name for name in args.stacks)))
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.stack}: {result.detail}")
    failed = [r.stack for r in results if not r.ok]
    if failed:
        print(f"terraform validate failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
