"""Benchmark 2: the global fan-out model — time and Lambda cost to reach 100k and 1M connections.

Inputs measured in the same run by :mod:`bench.broadcast` (per-post latency of the sequential loop,
the pool's concurrency, the invocation's msg/s and its CPU per post) and read from the repository
(the broadcast function's memory/timeout/reserved concurrency in stacks/aws_stack.py, the segment
count and concurrency in environments/prod.toml, the continuation margin in
realtime.services.broadcast). Everything else is a stated assumption (``ASSUMPTIONS``).

The design being modelled (ADR 0006): a global request is split into ``S`` segment jobs (parallel
scan segments, put back on the queue); each runs in its own invocation, delivers page by page
(1,000 keys per scan page) through a pool of ``C`` threads, and re-queues itself with a cursor when
less than the margin of its timeout is left. All @connections posts count against API Gateway's
account throttle.
"""

from __future__ import annotations

import math
import re
import time
import tomllib
from typing import Any

from bench.common import REPO_ROOT, result, row, table, use_lambda_src

#: AWS list prices, Lambda arm64, first tier (us-east-1 and eu-west-1 are the same).
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_MILLION_REQUESTS = 0.20
#: API Gateway account-level steady-state throttle (requests/s, per region, shared by every API).
ACCOUNT_THROTTLE_RPS = 10_000
#: Lambda allocates CPU in proportion to memory: 1,769 MB = one vCPU. A Python fan-out (GIL) uses one.
MB_PER_VCPU = 1769
ASSUMPTIONS = {
    "scan_page_seconds": 0.025,  # one 1,000-key Scan page of the KEYS_ONLY byUser index
    "startup_seconds": 1.0,  # split invocation + SQS hop to the segment jobs (plus any cold init below)
    "cpu_factor": 1.0,  # Lambda arm64 core vs this machine's core, CPU per post (1.0 = same)
}
TARGETS = (100_000, 1_000_000)


def stack_sizing() -> dict[str, int]:
    """The broadcast function's sizing, read from stacks/aws_stack.py without importing cdktf."""
    text = (REPO_ROOT / "stacks" / "aws_stack.py").read_text()
    match = re.search(r'"broadcast":\s*FunctionSizing\(memory_mb=(\d+),\s*timeout_seconds=(\d+),\s*'
                      r"reserved_concurrency=(\d+)\)", text)
    if not match:
        return {"memory_mb": 512, "timeout_seconds": 120, "reserved_concurrency": 20, "source": "defaults"}
    memory, timeout, reserved = (int(x) for x in match.groups())
    return {"memory_mb": memory, "timeout_seconds": timeout, "reserved_concurrency": reserved,
            "source": "stacks/aws_stack.py FUNCTION_SIZING"}


def prod_broadcast() -> dict[str, int]:
    with (REPO_ROOT / "environments" / "prod.toml").open("rb") as handle:
        section = tomllib.load(handle).get("broadcast", {})
    return {"concurrency": int(section.get("concurrency", 128)), "scan_segments": int(section.get("scan_segments", 16))}


def min_remaining_seconds() -> float:
    use_lambda_src()
    from realtime.services.broadcast import MIN_REMAINING_MILLIS

    return MIN_REMAINING_MILLIS / 1000


def scenario(connections: int, *, memory_mb: int, concurrency: int, segments: int, reserved: int,
             latency_s: float, cpu_s_per_post: float, timeout_s: float, margin_s: float,
             invocation_rate: float | None = None, cold_init_s: float = 0.0,
             scan_page_s: float = ASSUMPTIONS["scan_page_seconds"],
             startup_s: float = ASSUMPTIONS["startup_seconds"], page: int = 1000) -> dict[str, Any]:
    """One row of the model. ``invocation_rate`` overrides the CPU/latency-derived per-invocation rate."""
    vcpu = min(1.0, memory_mb / MB_PER_VCPU)
    latency_bound = concurrency / latency_s
    cpu_bound = vcpu / cpu_s_per_post
    rate = invocation_rate if invocation_rate is not None else min(latency_bound, cpu_bound)
    # Pages are scanned then delivered one after the other inside an invocation.
    rate_with_scan = page / (page / rate + scan_page_s)
    parallel = min(segments, reserved)
    unthrottled = parallel * rate_with_scan
    aggregate = min(unthrottled, ACCOUNT_THROTTLE_RPS)
    deliver_s = connections / aggregate
    per_invocation_rate = aggregate / parallel
    segment_rows = connections / segments
    segment_s = segment_rows / per_invocation_rate
    waves = math.ceil(segments / reserved)
    total_s = startup_s + cold_init_s + waves * segment_s
    work_per_invocation = timeout_s - margin_s
    invocations = 1 + segments * max(1, math.ceil(segment_s / work_per_invocation))
    billed_s = segments * segment_s + 0.1 + (invocations - 1) * cold_init_s
    gb_s = billed_s * memory_mb / 1024
    cost = gb_s * PRICE_PER_GB_SECOND + invocations * PRICE_PER_MILLION_REQUESTS / 1e6
    return {"connections": connections, "memory_mb": memory_mb, "vcpu": vcpu, "concurrency": concurrency,
            "segments": segments, "parallel": parallel, "latency_bound_rate": latency_bound,
            "cpu_bound_rate": cpu_bound, "invocation_rate": rate, "invocation_rate_with_scan": rate_with_scan,
            "unthrottled_rate": unthrottled, "aggregate_rate": aggregate,
            "throttled": unthrottled > ACCOUNT_THROTTLE_RPS, "seconds": total_s, "deliver_seconds": deliver_s,
            "segment_seconds": segment_s, "invocations": invocations, "gb_seconds": gb_s, "cost_usd": cost,
            "cost_per_million_usd": cost / connections * 1e6,
            "segments_to_saturate": math.ceil(ACCOUNT_THROTTLE_RPS / rate_with_scan)}


def model(measured: dict[str, Any], cold_init_s: float | None = None) -> dict[str, Any]:
    """Scenarios from the broadcast benchmark's raw figures."""
    sizing = stack_sizing()
    prod = prod_broadcast()
    margin = min_remaining_seconds()
    latency_s = measured["per_post_latency_ms"] / 1000
    cpu_s = measured["cpu_ms_per_post"] / 1000 * ASSUMPTIONS["cpu_factor"]
    cold = cold_init_s if cold_init_s is not None else 0.7
    cold_source = ("broadcast handler import, cold-start benchmark of this run" if cold_init_s is not None
                   else "assumed: the cold-start benchmark was not part of this run")
    common = {"concurrency": prod["concurrency"], "segments": prod["scan_segments"],
              "reserved": sizing["reserved_concurrency"], "latency_s": latency_s, "cpu_s_per_post": cpu_s,
              "timeout_s": sizing["timeout_seconds"], "margin_s": margin, "cold_init_s": cold}
    scenarios = []
    for memory, label in ((sizing["memory_mb"], f"stack as deployed ({sizing['memory_mb']} MB)"),
                          (MB_PER_VCPU, f"{MB_PER_VCPU} MB (1 vCPU)")):
        for n in TARGETS:
            scenarios.append({"label": label, **scenario(n, memory_mb=memory, **common)})
    # What the design needs to reach the account throttle at the deployed memory.
    base = scenario(TARGETS[-1], memory_mb=sizing["memory_mb"], **common)
    needed = base["segments_to_saturate"]
    saturating = {"label": f"{sizing['memory_mb']} MB, {needed} segments and reserved concurrency ≥ {needed}",
                  **scenario(TARGETS[-1], memory_mb=sizing["memory_mb"],
                             **{**common, "segments": needed, "reserved": needed})}
    scenarios.append(saturating)
    # The deployed memory at the concurrency that needs the least CPU per delivered post in Lambda (sweep).
    sweep = measured.get("sweep") or []
    if sweep:
        def lambda_rate(point: dict[str, float]) -> float:
            return scenario(TARGETS[-1], memory_mb=sizing["memory_mb"], **{
                **common, "concurrency": int(point["concurrency"]),
                "cpu_s_per_post": point["cpu_ms_per_post"] / 1000 * ASSUMPTIONS["cpu_factor"]})["invocation_rate"]

        best = max(sweep, key=lambda_rate)
        if int(best["concurrency"]) != prod["concurrency"]:
            scenarios.append({
                "label": f"{sizing['memory_mb']} MB at concurrency {int(best['concurrency'])} (fastest at this vCPU share, from the sweep's CPU per post)",
                **scenario(TARGETS[-1], memory_mb=sizing["memory_mb"], **{
                    **common, "concurrency": int(best["concurrency"]),
                    "cpu_s_per_post": best["cpu_ms_per_post"] / 1000 * ASSUMPTIONS["cpu_factor"]})})
    return {"inputs": {"latency_ms": latency_s * 1000, "cpu_ms_per_post": cpu_s * 1000,
                       "measured_invocation_rate": measured.get("rate"), "measured_concurrency": measured.get("concurrency"),
                       "cold_init_s": cold, "cold_init_source": cold_source, "margin_s": margin, **sizing, **prod, **ASSUMPTIONS},
            "scenarios": scenarios}


def render(m: dict[str, Any]) -> str:
    i = m["inputs"]
    lines = [
        "Inputs — measured by the broadcast benchmark: per-post latency **{:.1f} ms** (sequential loop over the 20 ms endpoint), "
        "client CPU **{:.2f} ms per post** inside one invocation (runtime notifier + pool + Gone handling), one invocation "
        "at concurrency {} delivered **{:,.0f} msg/s** on one core of this machine; broadcast cold init {:.2f} s "
        "({}).".format(i["latency_ms"], i["cpu_ms_per_post"], i["measured_concurrency"],
                       i["measured_invocation_rate"] or 0, i["cold_init_s"], i["cold_init_source"]),
        f"From the repository: memory {i['memory_mb']} MB, timeout {i['timeout_seconds']} s, reserved concurrency "
        f"{i['reserved_concurrency']} ({i['source']}); prod `BROADCAST_CONCURRENCY` {i['concurrency']}, "
        f"`BROADCAST_SCAN_SEGMENTS` {i['scan_segments']} (environments/prod.toml); a segment re-queues itself with "
        f"{i['margin_s']:.0f} s left, so one invocation works ≤ {i['timeout_seconds'] - i['margin_s']:.0f} s.",
        f"Prices: Lambda arm64 ${PRICE_PER_GB_SECOND:.10f} per GB-s and ${PRICE_PER_MILLION_REQUESTS:.2f} per million "
        "requests (AWS list price, first tier, us-east-1/eu-west-1). API Gateway's own charge per message is not "
        f"included. Account throttle {ACCOUNT_THROTTLE_RPS:,} rps (steady state, per region, shared by all APIs).",
        f"Assumptions: a 1,000-key scan page takes {i['scan_page_seconds'] * 1000:.0f} ms; {i['startup_seconds']:.0f} s for "
        "the split invocation and the SQS hop; Lambda gives memory/1,769 MB of one vCPU and a Python pool uses at "
        "most one; CPU per post on a Lambda arm64 core × {:.1f} of this machine's.".format(i["cpu_factor"]),
        "",
        "Per invocation: rate = min(concurrency / latency, vCPU share / CPU per post), then the scan pages; "
        "aggregate = min(parallel segment jobs × rate, account throttle); time = startup + cold init + "
        "connections / aggregate; billed = every segment invocation's wall time × memory.",
        "",
        table(["scenario", "connections", "per-invocation msg/s (latency-bound / CPU-bound)", "parallel jobs",
               "aggregate msg/s", "time to reach all", "invocations", "GB-s", "Lambda cost", "per 1M connections"],
              [[s["label"], f"{s['connections']:,}",
                f"{s['invocation_rate_with_scan']:,.0f} ({s['latency_bound_rate']:,.0f} / {s['cpu_bound_rate']:,.0f})",
                s["parallel"], f"{s['aggregate_rate']:,.0f}" + (" (throttle)" if s["throttled"] else ""),
                f"{s['seconds']:,.1f} s", s["invocations"], f"{s['gb_seconds']:,.1f}", f"${s['cost_usd']:.4f}",
                f"${s['cost_per_million_usd']:.4f}"] for s in m["scenarios"]]),
    ]
    deployed = [s for s in m["scenarios"] if s["memory_mb"] == i["memory_mb"] and s["segments"] == i["scan_segments"]
                and s["concurrency"] == i["concurrency"]]
    tuned = [s for s in m["scenarios"] if s["concurrency"] != i["concurrency"]]
    bigger = [s for s in m["scenarios"] if s["memory_mb"] != i["memory_mb"]]
    if deployed:
        big = deployed[-1]
        text = (f"Reading: as deployed, one invocation is **{'CPU' if big['cpu_bound_rate'] < big['latency_bound_rate'] else 'latency'}"
                f"-bound** ({big['cpu_bound_rate']:,.0f} msg/s CPU-bound at {big['vcpu']:.2f} vCPU vs "
                f"{big['latency_bound_rate']:,.0f} latency-bound), so {big['parallel']} parallel segment jobs reach "
                f"{big['aggregate_rate']:,.0f} msg/s — {big['aggregate_rate'] / ACCOUNT_THROTTLE_RPS:.0%} of the account "
                f"throttle — and 1M connections take ≈ {big['seconds']:.0f} s for ≈ ${big['cost_usd']:.3f} of Lambda. "
                f"Reaching the throttle at this memory needs ≈ {big['segments_to_saturate']} parallel segment jobs "
                "(segments and reserved concurrency both), at about the same cost: a CPU-bound job bills a constant "
                "GB-s per post.")
        if bigger:
            b = bigger[-1]
            text += (f" More memory gets there with fewer jobs ({b['memory_mb']} MB: 1M in ≈ {b['seconds']:.0f} s) but "
                     f"costs more (≈ ${b['cost_usd']:.3f}) because throttled jobs bill the time they wait on the "
                     "account limit.")
        if tuned:
            t = tuned[-1]
            text += (f" The pool's CPU per post grows with its thread count: at concurrency {t['concurrency']} the same "
                     f"{t['memory_mb']} MB job would deliver {t['invocation_rate_with_scan']:,.0f} msg/s instead of "
                     f"{big['invocation_rate_with_scan']:,.0f} (1M in ≈ {t['seconds']:.0f} s, ≈ ${t['cost_usd']:.3f}) — at "
                     f"{t['vcpu']:.2f} vCPU, the prod setting of {big['concurrency']} threads only adds contention.")
        text += (" At the throttle API Gateway answers 429 and the pool backs off (not modelled beyond the rate cap); "
                 "broadcasting at the full account throttle would also starve every other API in the account and "
                 "region, so keep the broadcast's parallelism below saturation.")
        lines += ["", text]
    return "\n".join(lines)


def run(quick: bool = False, broadcast: dict[str, Any] | None = None, coldstart: dict[str, Any] | None = None) -> dict[str, Any]:
    started_at = time.monotonic()
    source = "this run"
    if broadcast is None:
        from bench.broadcast import run as run_broadcast

        broadcast = run_broadcast(quick=True, sweep=(), stale_fractions=())
        source = "a quick broadcast measurement made for the model"
    raw = broadcast["raw"]
    headline = max(raw["runs"]["main"], key=lambda r: (r["stale"] == 0.0, r["size"]))
    measured = {"per_post_latency_ms": raw["per_post_latency_ms"], "cpu_ms_per_post": headline["cpu_ms_per_post"],
                "rate": headline["rate"], "concurrency": headline["concurrency"],
                "sweep": [{"concurrency": r["concurrency"], "cpu_ms_per_post": r["cpu_ms_per_post"]}
                          for r in raw["runs"].get("sweep", [])]}
    cold = None
    if coldstart is not None:
        cold = coldstart["raw"]["summary"]["broadcast"]["wall_ms"] / 1000
    m = model(measured, cold)
    rows = []
    for s in m["scenarios"]:
        rows.append(row(f"Global broadcast to {s['connections']:,} connections, {s['label']}", s["seconds"], "s",
                        baseline=s["connections"] / (1000 / m["inputs"]["latency_ms"]),
                        baseline_label="one sequential loop s",
                        ratio=s["connections"] / (1000 / m["inputs"]["latency_ms"]) / s["seconds"],
                        ratio_label=f"{s['connections'] / (1000 / m['inputs']['latency_ms']) / s['seconds']:,.0f}× faster",
                        goal="—", passed=None,
                        note=f"${s['cost_usd']:.4f} Lambda ({s['gb_seconds']:,.0f} GB-s, {s['invocations']} invocations); "
                             f"{s['aggregate_rate']:,.0f} msg/s" + (" at the account throttle" if s["throttled"] else "")))
    details = ("" if source == "this run" else f"Measured inputs from {source}.\n\n") + render(m)
    return result("fanout_model", "Global fan-out model (100k / 1M connections)",
                  ".venv/bin/python -m bench.run --only broadcast,fanout_model", rows, details,
                  {"model": m, "measured": measured}, started=started_at)
