"""Synthesize and apply ``realtime-local`` to the emulator, and decide when that can be skipped.

Two fingerprints keep the warm path safe:

* the *inputs* fingerprint (main.py, stacks/, environments/local.toml, lambda_src/, the pins and
  the emulator endpoints) says whether the last synthesis in ``.local/cdktf.out`` is still current;
* the *deployed* fingerprint (the synthesized ``cdk.tf.json`` plus every asset zip beside it) is
  recorded with the moto snapshot taken right after ``terraform apply``, together with the hash of
  the terraform state and the moto version.

A snapshot is restored only when all of these match; anything else is a cold start from an empty
emulator and an empty state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsctl.errors import WsctlError
from wsctl.local import paths
from wsctl.local.progress import ApplyProgress

SYNTH_INPUTS = ("main.py", "cdktf.json", "pyproject.toml", "environments/local.toml")
SYNTH_INPUT_DIRS = ("stacks", "lambda_src")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not SKIPPED_PARTS.intersection(p.parts)
                  and p.suffix not in (".pyc", ".pyo"))


def fingerprint(files: list[Path], base: Path, extra: dict[str, str] | None = None) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for key, value in sorted((extra or {}).items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()


def inputs_fingerprint(endpoints: dict[str, str]) -> str:
    root = paths.REPO_ROOT
    files = [root / name for name in SYNTH_INPUTS if (root / name).is_file()]
    for directory in SYNTH_INPUT_DIRS:
        files.extend(_files(root / directory))
    return fingerprint(files, root, endpoints)


def deployed_fingerprint() -> str | None:
    """The synthesized stack JSON and the zips it uploads; None when nothing is synthesized."""
    stack_json = paths.STACK_DIR / "cdk.tf.json"
    if not stack_json.is_file():
        return None
    assets = paths.STACK_DIR / "assets"
    return fingerprint([stack_json, *(_files(assets) if assets.is_dir() else [])], paths.STACK_DIR)


def file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def tool_environment(endpoints: dict[str, str]) -> dict[str, str]:
    """What the Makefile exports, plus the emulator endpoints the local config reads."""
    env = dict(os.environ)
    env.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(paths.REPO_ROOT / ".cache" / "jsii"))
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if not env.get("TF_CLI_CONFIG_FILE") or not Path(env["TF_CLI_CONFIG_FILE"]).is_file():
        env["TF_CLI_CONFIG_FILE"] = str(paths.TF_CLI_CONFIG)
    env.update(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1", TF_DATA_DIR=str(paths.TF_DATA_DIR),
               TF_PLUGIN_CACHE_DIR=str(paths.TF_PLUGIN_CACHE), REALTIME_SYNTH_OUT=str(paths.SYNTH_DIR),
               CDKTF_OUTDIR=str(paths.SYNTH_DIR), **endpoints)
    # the provider must talk to the emulator only, whatever the caller's shell holds
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    return env


def ensure_tools() -> None:
    if shutil.which("terraform") is None:
        raise WsctlError("terraform is missing from PATH (terraform 1.11 and the offline provider mirror are needed)")
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if not paths.TF_CLI_CONFIG.is_file() and not (configured and Path(configured).is_file()):
        raise WsctlError(f"{paths.TF_CLI_CONFIG.relative_to(paths.REPO_ROOT)} is missing: run `make setup`")


def _run(command: list[str], *, cwd: Path, env: dict[str, str], log_name: str, what: str) -> None:
    paths.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = paths.LOG_DIR / log_name
    with open(log_path, "w") as log:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if result.returncode != 0:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("Error", "error", "│ Error"))] or lines[-1:]
        raise WsctlError(f"{what} failed: {(errors[0] if errors else 'no output')[:300]} "
                         f"(full log: {log_path.relative_to(paths.REPO_ROOT)})")


def synthesize(endpoints: dict[str, str]) -> str:
    """Run ``python main.py`` into ``.local/cdktf.out``; returns the deployed fingerprint."""
    if not (paths.REPO_ROOT / "main.py").is_file():
        raise WsctlError("main.py is missing: nothing to synthesize")
    _run([sys.executable, "main.py"], cwd=paths.REPO_ROOT, env=tool_environment(endpoints), log_name="synth.log",
         what="synthesis of realtime-local")
    deployed = deployed_fingerprint()
    if deployed is None:
        raise WsctlError(f"synthesis wrote no {paths.STACK_DIR.relative_to(paths.REPO_ROOT)}/cdk.tf.json")
    return deployed


def state_file() -> Path:
    return paths.STATE_FILE


def apply(endpoints: dict[str, str], *, refresh: bool = True,
          report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """terraform init + apply; returns the flattened outputs.

    ``report`` receives a progress line every few seconds (wsctl/local/progress.py).
    ``refresh=False`` when the emulator was just restored from the snapshot saved with this very
    state: reading every resource back would only find what the state already says.
    """
    ensure_tools()
    env = tool_environment(endpoints)
    terraform = shutil.which("terraform") or "terraform"
    paths.TF_PLUGIN_CACHE.mkdir(parents=True, exist_ok=True)
    state = state_file()
    state.parent.mkdir(parents=True, exist_ok=True)
    # The state path is given at init so that it follows REALTIME_LOCAL_DIR (environments/local.toml
    # names the default one, which is where it lands without the variable).
    if report is not None:
        report("terraform init (providers from the offline mirror)")
    _run([terraform, "init", "-input=false", "-no-color", "-reconfigure", f"-backend-config=path={state}"],
         cwd=paths.STACK_DIR, env=env, log_name="terraform-init.log", what="terraform init")
    run_apply([terraform, "apply", "-json", "-auto-approve", "-input=false", "-no-color", "-parallelism=32",
               f"-refresh={'true' if refresh else 'false'}"], env=env, report=report)
    return outputs(env, terraform)


#: Seconds between two progress lines during the apply.
PROGRESS_INTERVAL_SECONDS = 5.0


def run_apply(command: list[str], *, env: dict[str, str], report: Callable[[str], None] | None,
              interval: float = PROGRESS_INTERVAL_SECONDS) -> ApplyProgress:
    """Run ``terraform apply -json``, its messages into ``terraform-apply.log`` (and the raw JSON
    lines into ``terraform-apply.jsonl``), and a progress line to ``report`` every ``interval``
    seconds and when it ends."""
    import queue
    import threading

    paths.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = paths.LOG_DIR / "terraform-apply.log"
    progress = ApplyProgress()
    lines: queue.Queue[str | None] = queue.Queue()
    process = subprocess.Popen(command, cwd=paths.STACK_DIR, env=env, stdout=subprocess.PIPE,  # noqa: S603
                               stderr=subprocess.STDOUT, text=True, errors="replace")
    assert process.stdout is not None  # noqa: S101 - piped above

    def pump(stream: Any) -> None:
        for raw in stream:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=pump, args=(process.stdout,), daemon=True, name="terraform-apply-output").start()
    next_report = time.monotonic() + interval
    try:
        with open(log_path, "w") as log, open(log_path.with_suffix(".jsonl"), "w") as raw_log:
            while True:
                try:
                    raw = lines.get(timeout=max(next_report - time.monotonic(), 0.01))
                except queue.Empty:
                    raw = ""
                if raw is None:
                    break
                if raw:
                    raw_log.write(raw)
                    message = progress.feed(raw)
                    if message is not None:
                        log.write(message + "\n")
                if report is not None and time.monotonic() >= next_report:
                    report(progress.line())
                    next_report = time.monotonic() + interval
            returncode = process.wait()
    except BaseException:
        process.terminate()
        process.wait()
        raise
    if report is not None:
        report(progress.line())
    if returncode != 0:
        first = progress.errors[0] if progress.errors else "no error reported"
        raise WsctlError(f"terraform apply failed: {first[:300]} (full log: {log_path.relative_to(paths.REPO_ROOT)})")
    return progress


def outputs(env: dict[str, str], terraform: str) -> dict[str, Any]:
    result = subprocess.run([terraform, "output", "-json", "-no-color"], cwd=paths.STACK_DIR, env=env,  # noqa: S603
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise WsctlError(f"terraform output failed: {result.stderr.strip()[-300:]}")
    return {name: item.get("value") for name, item in json.loads(result.stdout or "{}").items()}


class Phases:
    """Wall-clock time of each step of `local up`, reported with READY."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}
        self._last = self.started

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.marks[name] = round(now - self._last, 2)
        self._last = now

    @property
    def total(self) -> float:
        return round(time.monotonic() - self.started, 2)
