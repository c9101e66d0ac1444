"""Renders ``bench/RESULTS.md`` from the results of one run (merged with earlier ones for subsets),
and writes the fan-out model into the marked section of ADR 0006."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, REPO_ROOT, fmt

RESULTS_MD = BENCH_DIR / "RESULTS.md"
RESULTS_JSON = BENCH_DIR / "results.json"
ADR = REPO_ROOT / "runbooks" / "decisions" / "0006-broadcast-fan-out.md"
ORDER = ("broadcast", "fanout_model", "authorizer", "coldstart", "local_stack", "synth")


def load_previous(path: Path = RESULTS_JSON) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _verdict(passed: bool | None) -> str:
    return {True: "**pass**", False: "**MISS**", None: "—"}[passed]


def _value(r: dict[str, Any]) -> str:
    if r["value"] is None:
        return "not measured"
    digits = 3 if r["unit"] == "ms" and abs(r["value"]) < 10 else 1
    return f"{fmt(r['value'], digits)} {r['unit']}"


def _baseline(r: dict[str, Any]) -> str:
    if r["baseline"] is None:
        return "—"
    digits = 3 if abs(r["baseline"]) < 10 else 1
    return f"{fmt(r['baseline'], digits)} ({r['baseline_label']})"


def summary_table(results: dict[str, Any]) -> str:
    lines = ["| figure | value | baseline, same run | ratio | goal | result | notes |", "|---|---|---|---|---|---|---|"]
    for name in ORDER:
        res = results.get(name)
        if not res:
            continue
        for r in res["rows"]:
            note = r["note"].replace("|", "\\|")
            lines.append(f"| {r['figure']} | {_value(r)} | {_baseline(r)} | {r['ratio_label'] or '—'} | "
                         f"{r['goal'] or '—'} | {_verdict(r['passed'])} | {note} |")
    return "\n".join(lines)


def render(results: dict[str, Any], machine: dict[str, Any], run_info: dict[str, Any]) -> str:
    load = machine.get("load_average", [])
    load_end = run_info.get("load_end", [])
    busy = any(x > (machine.get("cores") or 1) * 0.5 for x in load[:1] + load_end[:1])
    out = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`.venv/bin/python -m bench.run`) — do not edit by hand. Last run: "
        f"{run_info.get('finished', machine.get('date'))}, `{run_info.get('command')}`.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu_model')}, {machine.get('cores')} cores; memory {machine.get('memory_mib', 0):,} MiB",
        f"- Python {machine.get('python')} ({machine.get('platform')})",
        f"- Date: {machine.get('date')}",
        f"- Load average (1/5/15 min) at start {load}, at end {load_end}"
        + (" — **the machine was shared and busy** (other sessions building and testing); figures with a "
           "same-run baseline are the ones to compare, absolute times are pessimistic." if busy else "."),
        "",
        "## Commands",
        "",
        "```sh",
        "make bench                                   # = .venv/bin/python -m bench.run (everything)",
        ".venv/bin/python -m bench.run --quick        # small sizes, few repeats (minutes)",
        ".venv/bin/python -m bench.run --only broadcast,authorizer   # a subset; other sections are kept",
        ".venv/bin/python -m pytest tests/bench -q    # smoke test of the harness (not in make test's time budget)",
        "```",
        "",
        "Every figure is the median of repeated runs (counts in each section); each baseline was measured in the "
        "same run as its figure, on the same machine, interleaved where possible.",
        "",
        "## Summary",
        "",
        summary_table(results),
        "",
    ]
    for index, name in enumerate([n for n in ORDER if n in results], start=1):
        res = results[name]
        out += [f"## {index}. {res['title']}", "",
                f"Command: `{res['command']}` — measured {res['date']}"
                + (f" in {res['duration_s']:.0f} s" if res.get("duration_s") else "")
                + f", load average {res.get('load_average')} at the end.", ""]
        if not res.get("measured", True):
            out += ["**Not measured.**", ""]
        out += [res["details"], ""]
    return "\n".join(out).rstrip() + "\n"


ADR_BEGIN = re.compile(r"<!--\s*(?:BEGIN|begin)[^>]*bench[^>]*-->")
ADR_END = re.compile(r"<!--\s*(?:END|end)[^>]*bench[^>]*-->")


def update_adr(model_result: dict[str, Any], path: Path = ADR) -> str:
    """Replace the text between the ADR's bench markers; returns what happened."""
    name = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    if not path.is_file():
        return f"{name} does not exist yet: not updated"
    text = path.read_text()
    begin, end = ADR_BEGIN.search(text), None
    if begin:
        end = ADR_END.search(text, begin.end())
    if not begin or not end:
        return f"{name} has no bench markers: not updated"
    body = ("\n_Written by `make bench` (bench/fanout_model.py) on " + model_result["date"] + "; figures from "
            "bench/RESULTS.md._\n\n" + model_result["details"].strip() + "\n\n")
    path.write_text(text[:begin.end()] + "\n" + body + text[end.start():])
    return f"{name}: marked section updated"
