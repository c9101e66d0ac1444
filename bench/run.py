"""``make bench``: run the benchmarks and rewrite bench/RESULTS.md (and ADR 0006's marked section).

    python -m bench.run [--only NAME[,NAME...]] [--quick] [--no-write]

Names: broadcast, fanout_model, authorizer, coldstart, local_stack, synth, resume, offsets, inbox, web_client, web_size. With ``--only`` the other
sections keep their last results (bench/results.json), each labelled with its own date.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from typing import Any

from bench import report
from bench.common import machine, now_utc

NAMES = ("broadcast", "fanout_model", "authorizer", "coldstart", "synth", "local_stack", "resume", "offsets",
         "inbox", "web_client", "web_size")


def _run_one(name: str, quick: bool, done: dict[str, Any]) -> dict[str, Any]:
    if name == "broadcast":
        from bench.broadcast import run
        return run(quick=quick)
    if name == "fanout_model":
        from bench.fanout_model import run
        return run(quick=quick, broadcast=done.get("broadcast"), coldstart=done.get("coldstart"))
    if name == "authorizer":
        from bench.authorizer import run
        return run(quick=quick)
    if name == "coldstart":
        from bench.coldstart import run
        return run(quick=quick)
    if name == "synth":
        from bench.synth import run
        return run(quick=quick)
    if name == "local_stack":
        from bench.local_stack import run
        return run(quick=quick)
    if name == "resume":
        from bench.resume import run
        return run(quick=quick)
    if name == "offsets":
        from bench.offsets import run
        return run(quick=quick)
    if name == "inbox":
        from bench.inbox import run
        return run(quick=quick)
    if name == "web_client":
        from bench.web_client import run
        return run(quick=quick)
    if name == "web_size":
        from bench.web_size import run
        return run(quick=quick)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks with same-run baselines (bench/RESULTS.md).")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(NAMES))
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave RESULTS.md alone")
    args = parser.parse_args(argv)
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(NAMES)
    unknown = [n for n in selected if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (choose from {', '.join(NAMES)})")
    # The model uses the cold-start figure of the broadcast function when it is measured in the same run.
    order = [n for n in ("coldstart", "broadcast", "fanout_model", "authorizer", "synth", "local_stack", "resume",
                        "offsets", "inbox", "web_client", "web_size")
             if n in selected]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    command = "python -m bench.run" + (f" --only {','.join(selected)}" if args.only else "") + (" --quick" if args.quick else "")
    info = machine()
    previous = report.load_previous()
    results: dict[str, Any] = dict(previous.get("results", {})) if args.only else {}
    done: dict[str, Any] = {}
    failures = 0
    for name in order:
        print(f"[bench] {now_utc()} {name} …", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            done[name] = _run_one(name, args.quick, done)
        except Exception:  # noqa: BLE001 - one broken benchmark must not lose the others' figures
            failures += 1
            traceback.print_exc()
            print(f"[bench] {name} FAILED after {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            continue
        results[name] = done[name]
        for r in done[name]["rows"]:
            verdict = {True: "pass", False: "MISS", None: "-"}[r["passed"]]
            print(f"[bench]   {r['figure']}: {r['value']!r} {r['unit']} (baseline {r['baseline']!r}, "
                  f"{r['ratio_label']}) goal {r['goal']} → {verdict}", file=sys.stderr, flush=True)
        print(f"[bench] {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    run_info = {"command": command, "finished": now_utc(), "load_end": machine()["load_average"]}
    if args.no_write:
        print(json.dumps({"machine": info, "results": done}, indent=2, default=str))
        return 1 if failures else 0
    report.RESULTS_JSON.write_text(json.dumps({"machine": info, "run": run_info, "results": results}, indent=1,
                                              default=str) + "\n")
    report.RESULTS_MD.write_text(report.render(results, info, run_info))
    print(f"[bench] wrote {report.RESULTS_MD}", file=sys.stderr)
    if "fanout_model" in done:
        print("[bench] " + report.update_adr(done["fanout_model"], broadcast_result=results.get("broadcast"),
                                             machine_info=info), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
