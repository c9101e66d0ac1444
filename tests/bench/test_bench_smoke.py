"""Smoke test of the benchmark harness (bench/): every benchmark function runs with tiny sizes and
returns the result shape bench/report.py renders, so `make bench` cannot rot unnoticed. Figures
are not asserted (this machine is shared); structure, same-run baselines and correctness checks are."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from bench import report
from bench.common import percentile

ROW_KEYS = {"figure", "value", "unit", "baseline", "baseline_label", "ratio", "ratio_label", "goal", "passed", "note"}
RESULT_KEYS = {"name", "title", "command", "measured", "rows", "details", "raw", "date", "duration_s", "load_average"}


def assert_result(res: dict, name: str) -> None:
    assert set(res) == RESULT_KEYS
    assert res["name"] == name and res["rows"] and res["details"]
    json.dumps(res, default=str)  # results.json must be able to hold it
    for r in res["rows"]:
        assert set(r) == ROW_KEYS, r
        assert r["passed"] in (True, False, None)


@pytest.fixture(scope="module")
def broadcast_result():
    from bench.broadcast import run

    return run(quick=True, sizes=(40,), stale_fractions=(0.3,), repeats=1, sequential_sample=8, concurrency=8,
               sweep=(4,), boto3_comparison=True)


def test_broadcast_runs_the_real_service_against_the_local_endpoint(broadcast_result):
    assert_result(broadcast_result, "broadcast")
    main = broadcast_result["raw"]["runs"]["main"]
    assert [(r["size"], r["stale"]) for r in main] == [(40, 0.0), (40, 0.3)]
    for r in main:
        assert r["ok"], r["checks"]  # every post made, 410s counted, stale rows and counter removed
    stale = main[1]
    assert stale["expected_gone"] == 12 and stale["runs"][0]["rows_left"] == 28
    assert broadcast_result["raw"]["sequential"]["posts"] == 8
    assert all(r["baseline"] and r["ratio"] for r in broadcast_result["rows"])
    assert [r["concurrency"] for r in broadcast_result["raw"]["runs"]["sweep"]] == [4, 8]
    assert broadcast_result["raw"]["runs"]["boto3"][0]["ok"]
    assert broadcast_result["raw"]["runtime_notifier_alone"]["posts"] >= 8


def test_fanout_model_uses_the_measured_figures(broadcast_result):
    from bench.fanout_model import TARGETS, run, scenario

    res = run(broadcast=broadcast_result)
    assert_result(res, "fanout_model")
    scenarios = res["raw"]["model"]["scenarios"]
    assert {s["connections"] for s in scenarios} == set(TARGETS)
    assert all(s["aggregate_rate"] <= 10_000 and s["cost_usd"] > 0 for s in scenarios)
    # CPU-bound at 0.29 vCPU: 1 ms of CPU per post → ~289 msg/s per invocation, whatever the concurrency.
    s = scenario(100_000, memory_mb=512, concurrency=128, segments=16, reserved=20, latency_s=0.02,
                 cpu_s_per_post=0.001, timeout_s=120, margin_s=20, scan_page_s=0.0, startup_s=0.0)
    assert s["invocation_rate"] == pytest.approx(512 / 1769 / 0.001)
    assert s["aggregate_rate"] == pytest.approx(16 * s["invocation_rate"])
    assert s["seconds"] == pytest.approx(100_000 / s["aggregate_rate"])


def test_authorizer_bench_verifies_real_tokens():
    from bench.authorizer import run

    res = run(iterations=20, cold_iterations=2)
    assert_result(res, "authorizer")
    stats = res["raw"]["stats"]
    assert stats["verify_warm"]["n"] == 20 and stats["verify_cold"]["n"] == 2
    assert res["raw"]["jwks_fetches_warm_cache"] == 1 and res["raw"]["jwks_fetches_cold"] == 2


def test_coldstart_bench_imports_and_invokes_handlers_in_fresh_processes():
    from bench.coldstart import FLOOR, run

    res = run(repeats=1, handlers=("authorizer", "sweeper"))
    assert_result(res, "coldstart")
    summary = res["raw"]["summary"]
    assert summary["boto3"]["boto3"] and not summary["authorizer"]["boto3"]
    assert summary["boto3"]["importtime_ms"] > 0
    # The run itself raises unless every call did its work (an Allow policy, the expired connection closed).
    invocations = res["raw"]["invocations"]
    assert set(invocations) == {"authorizer", "sweeper", FLOOR}
    assert all(f["import_ms"] > 0 and f["first_ms"] > 0 and f["warm_ms"] > 0 for f in invocations.values())
    assert [r["figure"] for r in res["rows"]][-2:] == [
        "Cold start: import + first invocation of handlers.authorizer",
        "Cold start: import + first invocation of handlers.sweeper"]


def test_synth_measure_reports_time_and_memory_of_a_child():
    from bench.synth import measure

    out = measure([sys.executable, "-c", "x = bytearray(30 * 1024 * 1024)"], {"PATH": "/usr/bin:/bin"})
    assert out["seconds"] > 0 and out["maxrss_mib"] >= 30


def test_local_stack_load_counts_deliveries_against_a_tiny_gateway():
    from websockets.asyncio.server import serve

    from bench.local_stack import load, not_measured

    async def scenario():
        clients = set()

        async def handler(ws):
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()

            def broadcast():
                frame = json.dumps({"type": "notification", "version": "1.0", "data": {}})
                for ws in list(clients):
                    asyncio.run_coroutine_threadsafe(ws.send(frame), loop)
                return {"returncode": 0}

            return await load(f"ws://127.0.0.1:{port}/local", ["t1", "t2"], 30, broadcast, deadline_s=15,
                              sample_rss=lambda: {"gateway (wsctl local up)": 1.0})

    out = asyncio.run(scenario())
    assert out["opened"] == 30 and out["delivered"] == 30 and out["duplicates"] == 0
    assert out["last_delivery_s"] is not None and out["rss_peak_mib"]
    assert_result(not_measured("because", 0.0), "local_stack")


def test_report_renders_every_section_and_updates_only_the_adr_markers(tmp_path, broadcast_result):
    from bench.common import machine
    from bench.fanout_model import run

    model = run(broadcast=broadcast_result)
    text = report.render({"broadcast": broadcast_result, "fanout_model": model}, machine(),
                         {"command": "test", "finished": "now", "load_end": [0, 0, 0]})
    assert "## Machine" in text and "## Summary" in text and "## 2. Global fan-out model" in text
    adr = tmp_path / "adr.md"
    original = ("# ADR\nkeep\n### Measured figures\n\n<!-- BENCHMARK RESULTS: filled in by the benchmark helper.\n"
                "     Keep this section. -->\n*To be filled.* old\n\n## Pros and Cons\nkeep too\n")
    adr.write_text(original)
    assert "updated" in report.update_adr(model, adr, broadcast_result, machine())
    first = adr.read_text()
    assert "old" not in first.split("## Pros")[0].split("Measured figures")[1].split(report.ADR_BEGIN)[0]
    assert first.startswith("# ADR\nkeep\n### Measured figures\n\n" + report.ADR_BEGIN)
    assert first.endswith(report.ADR_END + "\n\n## Pros and Cons\nkeep too\n")
    assert "*To be filled.*" not in first and "Lambda cost" in first and "speed-up" in first
    # Re-running replaces only the marked block.
    assert "updated" in report.update_adr(model, adr, broadcast_result, machine())
    assert adr.read_text() == first


def test_resume_bench_replays_through_the_real_services_and_measures_the_logs_cost():
    from bench.resume import MISSED, run

    res = run(quick=True, local=False, repeats=3, cold_samples=1)

    assert_result(res, "resume")
    # every in-process resume answered recovered with exactly the missed count (asserted inside), and
    # each figure has its same-run baseline
    assert set(res["raw"]["resume"]) == set(MISSED)
    assert set(res["raw"]["broadcast"]) == {"memory-1", "memory-25", "moto-1", "moto-25"}
    assert all(r["baseline"] for r in res["rows"])


def test_percentile_is_nearest_rank():
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([5.0], 50) == 5.0


def test_inbox_bench_prices_the_real_service_calls():
    from bench.inbox import run

    res = run(local=False)
    capacity = res["raw"]["capacity"]
    # a page with everything unread reads more than one with everything read; "mark all" is one write
    assert capacity["history, all unread"]["rcu"] > capacity["history, all read"]["rcu"] > 0
    assert capacity["mark all"]["calls"].get("PutItem") == 1 and capacity["mark one"]["calls"].get("PutItem") == 1
    assert all(size < 32 * 1024 for size in capacity["sizes"]["frames"])
    assert [r["figure"] for r in res["rows"]][0] == "Inbox through the local stack"
