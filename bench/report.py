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
ORDER = ("broadcast", "fanout_model", "authorizer", "coldstart", "local_stack", "synth", "resume", "offsets",
         "web_client", "web_size", "inbox")


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
        ".venv/bin/python -m pytest tests/bench -q    # smoke test of the harness, tiny sizes (~6 s; also collected by make test)",
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


ADR_BEGIN = "<!-- BEGIN bench figures: written by `make bench` (bench/report.py); change bench/, not this section -->"
ADR_END = "<!-- END bench figures -->"
#: The placeholder the ADR's author left (replaced on the first run, up to the next ``## `` heading).
ADR_PLACEHOLDER = re.compile(r"<!--\s*BENCHMARK RESULTS:.*?(?=^## )", re.S | re.M)


def adr_section(model_result: dict[str, Any], broadcast_result: dict[str, Any] | None,
                machine_info: dict[str, Any] | None) -> str:
    m = machine_info or {}
    parts = [f"_Measured {model_result['date']} on {m.get('cpu_model', '?')}, {m.get('cores', '?')} cores, "
             f"Python {m.get('python', '?')}, by `make bench`; full tables, commands and method in "
             "[bench/RESULTS.md](../../bench/RESULTS.md)._", ""]
    if broadcast_result:
        parts += ["One invocation (real `BroadcastService` + `FanOut` + the runtime notifier, in-memory store) against a "
                  "local @connections endpoint with 20 ms injected latency, versus a sequential post loop over "
                  "the same endpoint in the same run:", "",
                  "| figure | msg/s | sequential msg/s | speed-up | goal | result |", "|---|---|---|---|---|---|"]
        for r in broadcast_result["rows"]:
            parts.append(f"| {r['figure']} | {fmt(r['value'])} | {fmt(r['baseline'])} | {r['ratio_label']} | "
                         f"{r['goal']} | {_verdict(r['passed'])} |")
        sweep = broadcast_result["details"].split("Concurrency sweep", 1)
        if len(sweep) == 2:
            parts += ["", "Concurrency sweep" + sweep[1].split("**What would close it.**", 1)[0].rstrip()]
        parts.append("")
    parts += ["#### Scale model: 100k and 1M connections", "", model_result["details"].strip()]
    return "\n".join(parts)


def update_adr(model_result: dict[str, Any], path: Path = ADR, broadcast_result: dict[str, Any] | None = None,
               machine_info: dict[str, Any] | None = None) -> str:
    """Write the figures into the ADR's marked section (only there); returns what happened."""
    name = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    if not path.is_file():
        return f"{name} does not exist yet: not updated"
    text = path.read_text()
    block = f"{ADR_BEGIN}\n{adr_section(model_result, broadcast_result, machine_info)}\n{ADR_END}\n"
    begin = text.find(ADR_BEGIN)
    end = text.find(ADR_END, begin + 1) if begin >= 0 else -1
    if begin >= 0 and end >= 0:
        rest = text[end + len(ADR_END):]
        new = text[:begin] + block + (rest[1:] if rest.startswith("\n") else rest)
    else:
        placeholder = ADR_PLACEHOLDER.search(text)
        if not placeholder:
            return f"{name} has no marked section for the figures: not updated"
        new = text[:placeholder.start()] + block + "\n" + text[placeholder.end():]
    path.write_text(new)
    return f"{name}: marked section updated"
