"""Benchmark 6: ``python main.py`` synthesizing every stack in one process: wall time and peak memory.

Baseline in the same run: a fresh process that only imports ``cdktf`` and the AWS provider binding
the ordinary way (``import cdktf, cdktf_cdktf_provider_aws``: all 2,135 submodules), the floor
../shared/TOOLCHAIN.md measured at 8–14 s and what every synthesis paid before ``main.py`` imported
the bindings lazily (stacks/provider_bindings.py).
Output goes to a temporary directory (``REALTIME_SYNTH_OUT``), never to the shared ``cdktf.out``.
Memory: the child's ``ru_maxrss`` from ``wait4`` (largest single process among python and the node
jsii runtime it waits for) and the sampled peak RSS of the whole process tree (python + node).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, clean_env, median, result, row, tree_rss_kib

GOAL_SECONDS = 25.0
RUN_TIMEOUT_SECONDS = 240.0


def _env(outdir: str) -> dict[str, str]:
    env = clean_env({
        "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(REPO_ROOT / ".cache" / "jsii"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "TF_CLI_CONFIG_FILE": str(REPO_ROOT / ".tfcli" / "terraform.rc"),
        "REALTIME_SYNTH_OUT": outdir,
        "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:{REPO_ROOT / 'node_modules' / '.bin'}:{os.environ.get('PATH', '')}",
    })
    env.pop("CDKTF_OUTDIR", None)  # would take precedence over REALTIME_SYNTH_OUT (stacks/app.py)
    return env


def measure(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one child to completion (bounded), sampling its process tree's RSS every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                               stderr=subprocess.PIPE)
    peak = {"tree_kib": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["tree_kib"] = max(peak["tree_kib"], tree_rss_kib(process.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(RUN_TIMEOUT_SECONDS, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
        stop.set()
        sampler.join()
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({process.returncode}): {stderr.strip()[-500:]}")
    return {"seconds": elapsed, "maxrss_mib": usage.ru_maxrss / 1024, "tree_peak_mib": peak["tree_kib"] / 1024,
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    started_at = time.monotonic()
    repeats = repeats or (1 if quick else 3)
    synths, floors = [], []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        env = _env(outdir)
        for _ in range(repeats):
            floors.append(measure([sys.executable, "-c", "import cdktf, cdktf_cdktf_provider_aws"], env))
            synths.append(measure([sys.executable, "main.py"], env))
        stacks = sorted(p.name for p in (Path(outdir) / "stacks").iterdir()) if (Path(outdir) / "stacks").is_dir() else []
    synth_s = median([s["seconds"] for s in synths])
    floor_s = median([s["seconds"] for s in floors])
    synth_mem = median([s["tree_peak_mib"] for s in synths])
    floor_mem = median([s["tree_peak_mib"] for s in floors])
    passed = synth_s <= GOAL_SECONDS
    rows = [
        row(f"Synth all {len(stacks)} stacks in one process (`python main.py`), wall", synth_s, "s", baseline=floor_s,
            baseline_label="eager import of cdktf + provider s", ratio=synth_s / floor_s,
            ratio_label=f"{synth_s / floor_s:.2f}×", goal=f"≤ {GOAL_SECONDS:.0f} s", passed=passed,
            note=("" if passed else f"missed by {synth_s - GOAL_SECONDS:.1f} s; ")
            + f"CPU user+sys {median([s['user_s'] + s['sys_s'] for s in synths]):.1f} s (python + waited children)"),
        row("Synth peak memory (python + node jsii tree, sampled RSS)", synth_mem, "MiB", baseline=floor_mem,
            baseline_label="import-only peak MiB", ratio=synth_mem / floor_mem if floor_mem else None,
            ratio_label=f"{synth_mem / floor_mem:.2f}×" if floor_mem else "", goal="—", passed=None,
            note=f"largest single process (wait4 ru_maxrss): {median([s['maxrss_mib'] for s in synths]):.0f} MiB"),
    ]
    details = "\n".join([
        f"- Stacks synthesized: {', '.join(stacks) or '(none found)'}.",
        f"- Median of {repeats} fresh processes, each alternating with the import-only baseline; output to a "
        "temporary `REALTIME_SYNTH_OUT`, jsii cache `.cache/jsii` (warm), env as the Makefile sets it.",
        "- Synth includes building the Lambda artifacts (`stacks.packaging`: deterministic zips, the layer from "
        "its cached pip tree). `main.py` imports the provider bindings without their eager submodule block "
        "(`stacks.provider_bindings`), so a synthesis can be faster than the baseline's import alone.",
    ])
    if not passed:
        details += ("\n\n**What would close it.** What is left is the jsii assembly load (node parses the "
                    "34 MB provider assembly) and building seven stacks: synthesize fewer environments per process.")
    return result("synth", "Synth (all stacks, one process)", ".venv/bin/python -m bench.run --only synth", rows,
                  details, {"synths": synths, "floors": floors, "stacks": stacks}, started=started_at)
