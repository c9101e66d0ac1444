"""Benchmark 1: one broadcast invocation vs a sequential post loop, against a local @connections
endpoint with injected latency (bench.endpoint, its own process).

What runs is the production path minus DynamoDB: ``BroadcastService.process`` on a global request
(one segment job, the shape every ``{all: true}`` request is split into), its ``FanOut`` thread pool
and the notifier the broadcast handler builds (``ManagementApiNotifier.from_environment``: botocore
SigV4 over pooled keep-alive connections, pool sized to the concurrency). The connection store is
the in-memory adapter (``InMemoryConnectionStore``, page size 1,000 like ``DynamoConnectionStore``),
so the figure is the fan-out, not DynamoDB's scan latency (the scale model adds that back).

Baselines, same run: a plain ``for`` loop of boto3's ``client.post_to_connection`` (the client
``realtime.adapters.aws.management_api_client`` builds: same timeouts, no SDK retries) for the
speed-up, and the same service and pool with ``ApiGatewayNotifier`` on that boto3 client for the
client CPU per post; the two notifiers alone (sequential loops) are compared as well.
"""

from __future__ import annotations

import io
import json
import time
import tomllib
from collections.abc import Callable
from typing import Any

from bench.common import BENCH_DIR, REPO_ROOT, median, result, row, table, use_fake_aws, use_lambda_src
from bench.endpoint import GONE_PREFIX, Endpoint

LATENCY_SECONDS = 0.020
GOAL_SPEEDUP = 45.0
#: The runtime notifier may spend at most this share of the boto3 path's client CPU per post.
GOAL_CPU_SHARE = 1 / 3
#: Pool sizes the sweep measures (plus every environment's own).
SWEEP = (16, 32, 48, 64, 96, 128, 192)
#: The concurrency to run at: the smallest whose rate is within this share of the sweep's best.
KNEE_SHARE = 0.95
RUNTIME = "runtime"
BOTO3 = "boto3"
NOTIFIER_LABELS = {RUNTIME: "runtime (SigV4 + keep-alive)", BOTO3: "boto3 (baseline)"}
#: Every invocation's budget: the broadcast function's timeout (stacks/aws_stack.py FUNCTION_SIZING).
INVOCATION_BUDGET_SECONDS = 120.0
#: Never let one measurement run away: a parallel run above this is abandoned (counted as a miss).
RUN_DEADLINE_SECONDS = 150.0


def configured_concurrency() -> dict[str, int]:
    """``[broadcast] concurrency`` of every environment file."""
    found = {}
    for path in sorted((REPO_ROOT / "environments").glob("*.toml")):
        with path.open("rb") as handle:
            document = tomllib.load(handle)
        value = document.get("broadcast", {}).get("concurrency")
        if isinstance(value, int):
            found[path.stem] = value
    return found


def _deployed_setting(envs: dict[str, int], sweep: list[dict[str, Any]], best: dict[str, Any]) -> str:
    """What the deployed environments use, against this run's sweep: one run's knee moves along the
    plateau (64, 96, 96 and 192 in four runs on 2026-12-01), so the setting is the one most runs chose."""
    deployed = envs.get("prod")
    row = next((r for r in sweep if r["concurrency"] == deployed), None)
    if deployed is None or row is None:
        return "The deployed setting is not part of this sweep."
    return (f"dev, staging and prod use {deployed} (environments/*.toml, ADR 0006): "
            f"{row['rate'] / best['rate']:.0%} of the best rate in this run. One run's knee moves along the "
            "plateau (64, 96, 96 and 192 in four runs on 2026-12-01); the setting is the one most runs chose.")


def connection_ids(total: int, stale_fraction: float) -> list[str]:
    """``total`` ids, ``stale_fraction`` of them (evenly spread) named so the endpoint answers 410."""
    stale = round(total * stale_fraction)
    ids = []
    for i in range(total):
        is_stale = stale and (i * stale) // total != ((i + 1) * stale) // total
        ids.append(f"{GONE_PREFIX if is_stale else 'live'}{i:07d}Ab=")
    return ids


def _request_body(request_id: str) -> str:
    return json.dumps({"id": request_id, "target": {"all": True}, "segment": {"index": 0, "total": 1},
                       "notification": {"kind": "system.announcement", "title": "Maintenance tonight",
                                        "body": "The site is read-only from 22:00 to 22:30 UTC.",
                                        "severity": "info"}})


class _Harness:
    """Builds the real service around the endpoint once per configuration (as Lambda init would)."""

    def __init__(self, endpoint_url: str, concurrency: int, notifier: str = RUNTIME):
        use_lambda_src()
        from realtime.adapters.apigateway import ApiGatewayNotifier
        from realtime.adapters.aws import management_api_client
        from realtime.adapters.management_api import ManagementApiNotifier
        from realtime.observability import Logger, Metrics
        from realtime.services.fan_out import FanOut

        self.concurrency = concurrency
        self.kind = notifier
        if notifier == BOTO3:
            self.notifier = ApiGatewayNotifier(management_api_client(endpoint_url, concurrency))
        else:
            self.notifier = ManagementApiNotifier.from_environment(endpoint_url, concurrency)
        self.logs = io.StringIO()
        self.logger = Logger("realtime-bench-broadcast", "INFO", self.logs)
        self.metrics = Metrics("Realtime/bench", io.StringIO())
        self._fan_out_class = FanOut

    def broadcast(self, ids: list[str], request_id: str) -> dict[str, Any]:
        from realtime.adapters.memory import InMemoryConnectionStore, InMemoryNotificationLog, InMemoryQueue
        from realtime.messages import parse_broadcast_request
        from realtime.ports import Connection, SystemClock
        from realtime.services.broadcast import BroadcastService

        store = InMemoryConnectionStore(page_size=1000)
        # Connected a minute ago: a 410 for a row younger than CONNECT_GRACE_SECONDS is a connection still
        # inside $connect, which the fan-out keeps (ADR 0016); these are the genuinely gone ones.
        connected = int(time.time()) - 60
        for i, cid in enumerate(ids):
            store.add(Connection(cid, f"user-{i}", connected, connected + 3600), global_limit=10**9,
                      per_user_limit=10**9)
        queue = InMemoryQueue()
        fan_out = self._fan_out_class(self.notifier, store, concurrency=self.concurrency)
        service = BroadcastService(store, fan_out, queue, SystemClock(), self.logger, self.metrics,
                                   scan_segments=1, announcement_interval_seconds=60,
                                   log=InMemoryNotificationLog(), retention_seconds=86_400)
        request = parse_broadcast_request(_request_body(request_id))
        started = time.perf_counter()
        cpu_started = time.process_time()
        deadline = started + INVOCATION_BUDGET_SECONDS
        outcome = service.process(request, lambda: int((deadline - time.perf_counter()) * 1000))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        fan_out._pool.shutdown(wait=True)
        report = outcome.report
        return {"seconds": elapsed, "cpu_seconds": cpu, "status": outcome.status, **report.as_dict(),
                "rows_left": store.count_connections(), "counter_left": store.active_count(),
                "continuations": len(queue.bodies)}


def sequential(post: Callable[[str], Any], ids: list[str], deadline_seconds: float) -> dict[str, Any]:
    """One post after the other; stops at the deadline. ``post(connection_id)`` sends the payload.

    Also returns the rates of four equal chunks of the loop: their median guards against one slow
    stretch on a shared machine."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    stamps = []
    for cid in ids:
        post(cid)
        stamps.append(time.perf_counter())
        if stamps[-1] - started > deadline_seconds:
            break
    done = len(stamps)
    elapsed = stamps[-1] - started
    chunk_rates = []
    if done >= 8:
        edges = [started] + stamps
        size = done // 4
        for i in range(4):
            chunk_rates.append(size / (edges[(i + 1) * size] - edges[i * size]))
    return {"posts": done, "seconds": elapsed, "rate": done / elapsed, "chunk_rates": chunk_rates,
            "latency_ms": elapsed / done * 1000, "cpu_ms_per_post": (time.process_time() - cpu_started) / done * 1000}


def _pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
    posts = sum(p["posts"] for p in parts)
    seconds = sum(p["seconds"] for p in parts)
    chunk_rates = [rate for p in parts for rate in p["chunk_rates"]] or [p["rate"] for p in parts]
    return {"posts": posts, "seconds": seconds, "rate": posts / seconds, "latency_ms": seconds / posts * 1000,
            "cpu_ms_per_post": sum(p["cpu_ms_per_post"] * p["posts"] for p in parts) / posts,
            "chunk_rates": chunk_rates, "slices": len(parts)}


def run(quick: bool = False, sizes: tuple[int, ...] | None = None, stale_fractions: tuple[float, ...] = (0.1, 0.3),
        repeats: int | None = None, sequential_sample: int | None = None, concurrency: int | None = None,
        sweep: tuple[int, ...] | None = None, latency: float = LATENCY_SECONDS,
        boto3_comparison: bool | None = None) -> dict[str, Any]:
    started_at = time.monotonic()
    use_fake_aws()
    use_lambda_src()
    from realtime.adapters.aws import management_api_client
    from realtime.adapters.management_api import ManagementApiNotifier
    from realtime.messages import encode, notification_message, parse_broadcast_request

    sizes = sizes or ((500, 1000) if quick else (2000, 10000))
    repeats = repeats or (1 if quick else 3)
    sequential_sample = sequential_sample or (60 if quick else 2000)
    envs = configured_concurrency()
    concurrency = concurrency or envs.get("prod", 64)
    sweep = sweep if sweep is not None else (() if quick else tuple(sorted(set(envs.values()) | set(SWEEP))))
    boto3_comparison = True if boto3_comparison is None else boto3_comparison
    payload = encode(notification_message(parse_broadcast_request(_request_body("bench-seq")), time.time(),
                                          stream="global", epoch="bench", offset=1))
    raw: dict[str, Any] = {"latency_s": latency, "concurrency": concurrency, "env_concurrency": envs,
                           "repeats": repeats, "sizes": list(sizes), "payload_bytes": len(payload), "runs": {}}

    with Endpoint(latency) as endpoint:
        def warmed(conc: int, kind: str = RUNTIME) -> _Harness:
            # Warm the notifier (endpoint model, TCP connections) as a warm Lambda would have.
            h = _Harness(endpoint.url(), conc, kind)
            h.broadcast([f"live-warm{i}" for i in range(conc * 2)], f"bench-warm-{kind}-{conc}")
            return h

        harness = warmed(concurrency)
        harnesses = {concurrency: harness}
        for conc in sweep:
            if conc not in harnesses:
                harnesses[conc] = warmed(conc)
        boto3_harness = warmed(concurrency, BOTO3) if boto3_comparison else None
        # The sequential baselines: boto3's client (the speed-up) and the runtime notifier alone.
        seq_client = management_api_client(endpoint.url(), 1)
        seq_notifier = ManagementApiNotifier.from_environment(endpoint.url(), 1)
        for i in range(20):
            seq_client.post_to_connection(ConnectionId=f"live-warm{i}", Data=payload)
            seq_notifier.send(f"live-warm{i}", payload)

        # Configurations: (group, size, stale fraction, harness). Every repeat round runs each of them
        # once plus a slice of each sequential baseline, so slow stretches on a shared machine hit all alike.
        configs = [("main", size, 0.0, harness) for size in sizes]
        configs += [("main", max(sizes), stale, harness) for stale in stale_fractions]
        configs += [("sweep", min(sizes), 0.0, harnesses[c]) for c in sorted(harnesses) if c != concurrency]
        if boto3_harness is not None:
            configs.append(("boto3", min(sizes), 0.0, boto3_harness))
        ids_for = {(size, stale): connection_ids(size, stale) for _, size, stale, _ in configs}
        outcomes: list[list[dict[str, Any]]] = [[] for _ in configs]
        sample_ids = [f"live-seq{i:06d}" for i in range(sequential_sample)]
        notifier_sample = sample_ids[: max(8, sequential_sample // 3)]
        slice_size = -(-len(sample_ids) // repeats)
        notifier_slice = -(-len(notifier_sample) // repeats)
        seq_parts, notifier_parts = [], []
        for attempt in range(repeats):
            part = sample_ids[attempt * slice_size:(attempt + 1) * slice_size]
            if part:
                seq_parts.append(sequential(lambda cid: seq_client.post_to_connection(ConnectionId=cid, Data=payload),
                                            part, deadline_seconds=120.0 / repeats))
            part = notifier_sample[attempt * notifier_slice:(attempt + 1) * notifier_slice]
            if part:
                notifier_parts.append(sequential(lambda cid: seq_notifier.send(cid, payload), part,
                                                 deadline_seconds=60.0 / repeats))
            for index, (group, size, stale, h) in enumerate(configs):
                if outcomes[index] and outcomes[index][-1]["seconds"] > RUN_DEADLINE_SECONDS:
                    continue
                endpoint.reset()
                outcome = h.broadcast(ids_for[(size, stale)],
                                      f"bench-{group}-{size}-{stale}-{h.kind}-{h.concurrency}-{attempt}")
                outcome["endpoint"] = endpoint.stats()
                outcome["rate"] = (outcome["sent"] + outcome["gone"]) / outcome["seconds"]
                outcomes[index].append(outcome)

        seq = _pooled(seq_parts)
        alone = _pooled(notifier_parts)
        raw["sequential"] = seq
        raw["runtime_notifier_alone"] = alone

        def summarise(size: int, stale: float, h: _Harness, runs: list[dict[str, Any]]) -> dict[str, Any]:
            ids = ids_for[(size, stale)]
            rates = [r["rate"] for r in runs]
            expected_gone = sum(1 for cid in ids if cid.startswith(GONE_PREFIX))
            checks = {
                "all_posted": all(r["endpoint"]["posts"] == size for r in runs),
                "sent_ok": all(r["sent"] == size - expected_gone for r in runs),
                "gone_counted": all(r["gone"] == expected_gone for r in runs),
                "no_failures": all(r["failed"] == 0 for r in runs),
                "stale_rows_deleted": all(r["rows_left"] == size - expected_gone
                                          and r["counter_left"] == size - expected_gone for r in runs),
                "one_invocation": all(r["status"] == "delivered" and r["continuations"] == 0 for r in runs),
            }
            return {"size": size, "stale": stale, "concurrency": h.concurrency, "runs": runs, "notifier": h.kind,
                    "rate": median(rates), "seconds": median([r["seconds"] for r in runs]),
                    "cpu_ms_per_post": median([r["cpu_seconds"] / size * 1000 for r in runs]),
                    "peak_inflight": max(r["endpoint"]["peak_inflight"] for r in runs),
                    "expected_gone": expected_gone, "checks": checks, "ok": all(checks.values())}

        summaries = [(group, summarise(size, stale, h, outcomes[i])) for i, (group, size, stale, h) in enumerate(configs)]
        results = [r for group, r in summaries if group == "main"]
        sweep_results = [r for group, r in summaries if group == "sweep"]
        boto3_results = [r for group, r in summaries if group == "boto3"]
        base_at_size = next(r for r in results if r["size"] == min(sizes) and r["stale"] == 0.0)
        sweep_results.append(base_at_size)
        sweep_results.sort(key=lambda r: r["concurrency"])
        seq_notifier.shutdown()
        for h in {id(h): h for h in [*harnesses.values(), boto3_harness] if h is not None}.values():
            getattr(h.notifier, "shutdown", lambda: None)()

    raw["runs"] = {"main": results, "sweep": sweep_results, "boto3": boto3_results}
    seq_rate_for_ratio = median(seq["chunk_rates"]) if seq["chunk_rates"] else seq["rate"]
    raw["sequential_rate"] = seq_rate_for_ratio
    raw["per_post_latency_ms"] = 1000 / seq_rate_for_ratio
    sampled = seq["posts"] < max(sizes)

    rows = []
    for r in results:
        speedup = r["rate"] / seq_rate_for_ratio
        stale_label = f", {r['stale']:.0%} stale" if r["stale"] else ""
        extrapolated = r["size"] / seq_rate_for_ratio
        note_bits = [f"{r['seconds']:.2f} s for {r['size']:,} posts (sequential: {extrapolated:.0f} s"
                     + (" extrapolated" if sampled or r["size"] > seq["posts"] else "") + ")",
                     f"runs {', '.join(f'{x:,.0f}' for x in (run['rate'] for run in r['runs']))} msg/s",
                     f"client CPU {r['cpu_ms_per_post']:.2f} ms/post", f"peak in flight {r['peak_inflight']}"]
        if r["stale"]:
            note_bits.append(f"{r['expected_gone']:,} × 410 → rows and counter deleted: "
                             + ("yes" if r["checks"]["stale_rows_deleted"] else "NO"))
        if not r["ok"]:
            note_bits.append("CHECK FAILED: " + ", ".join(k for k, v in r["checks"].items() if not v))
        passed = speedup >= GOAL_SPEEDUP and r["ok"]
        if not passed and r["ok"]:
            note_bits.append(f"missed by {GOAL_SPEEDUP - speedup:.1f}× ({speedup / GOAL_SPEEDUP:.0%} of goal); "
                             "see 'What would close it'")
        rows.append(row(f"Broadcast {r['size']:,} connections{stale_label}, concurrency {r['concurrency']}",
                        r["rate"], "msg/s", baseline=seq_rate_for_ratio, baseline_label="sequential boto3 loop msg/s",
                        ratio=speedup, ratio_label=f"{speedup:.1f}×", goal=f"≥ {GOAL_SPEEDUP:.0f}×",
                        passed=passed, note="; ".join(note_bits)))
    goal_share = f"≤ {GOAL_CPU_SHARE:.2f}× (a third)"
    if boto3_results:
        b = boto3_results[0]
        share = base_at_size["cpu_ms_per_post"] / b["cpu_ms_per_post"]
        rows.append(row(f"Client CPU per post in one invocation, runtime notifier vs boto3 ({b['size']:,} connections, "
                        f"concurrency {b['concurrency']})", base_at_size["cpu_ms_per_post"], "ms",
                        baseline=b["cpu_ms_per_post"], baseline_label="boto3 notifier, same service and pool ms",
                        ratio=share, ratio_label=f"{share:.2f}×", goal=goal_share, passed=share <= GOAL_CPU_SHARE,
                        note=f"includes the pool, the service and the store; boto3 in the same invocation: "
                             f"{b['rate']:,.0f} msg/s ({b['rate'] / seq_rate_for_ratio:.1f}×) vs "
                             f"{base_at_size['rate']:,.0f}"))
    share_alone = alone["cpu_ms_per_post"] / seq["cpu_ms_per_post"]
    rows.append(row("Client CPU per post, the notifier alone (sequential loop)", alone["cpu_ms_per_post"], "ms",
                    baseline=seq["cpu_ms_per_post"], baseline_label="boto3 post_to_connection loop ms",
                    ratio=share_alone, ratio_label=f"{share_alone:.2f}×", goal=goal_share,
                    passed=share_alone <= GOAL_CPU_SHARE,
                    note=f"{alone['posts']:,} runtime posts vs {seq['posts']:,} boto3 posts, interleaved in "
                         f"{seq['slices']} slices"))

    label = {**NOTIFIER_LABELS}
    sweep_table = table(
        ["concurrency", "notifier", "connections", "msg/s (median)", "speed-up", "client CPU ms/post", "peak in flight"],
        [[r["concurrency"], label[r["notifier"]], f"{r['size']:,}",
          f"{r['rate']:,.0f}", f"{r['rate'] / seq_rate_for_ratio:.1f}×",
          f"{r['cpu_ms_per_post']:.2f}", r["peak_inflight"]] for r in sweep_results + boto3_results])
    best = max(sweep_results, key=lambda r: r["rate"])
    knee = min((r for r in sweep_results if r["rate"] >= KNEE_SHARE * best["rate"]), key=lambda r: r["concurrency"])
    raw["recommended_concurrency"] = knee["concurrency"]
    details = "\n".join([
        f"- Endpoint: `bench/endpoint.py` (asyncio, own process, 127.0.0.1), {latency * 1000:.0f} ms injected per "
        "@connections call; ids named `gone…` answer 410 `GoneException`.",
        "- Invocation: `BroadcastService.process` on a global segment job (`segment {index 0, total 1}`), "
        "`FanOut` + the runtime notifier (`ManagementApiNotifier.from_environment`, as `handlers/broadcast.py` "
        "builds it: botocore `SigV4Auth`, keep-alive connections opened by urllib3); store: **in-memory adapter** "
        "(`InMemoryConnectionStore`, page size 1,000 as in `DynamoConnectionStore`); notifier built and warmed "
        "before timing (Lambda init, warm container).",
        f"- Baseline for the speed-up: `for id in ids: client.post_to_connection(...)` on boto3's client from "
        f"`realtime.adapters.aws.management_api_client` — measured on a {seq['posts']:,}-post sample in this run, in "
        f"{seq['slices']} slices interleaved with the rounds of the parallel runs (median of the chunk rates "
        f"{', '.join(f'{x:.1f}' for x in seq['chunk_rates'])} msg/s; whole-sample {seq['rate']:.1f} msg/s, "
        f"{seq['latency_ms']:.1f} ms per post, client CPU {seq['cpu_ms_per_post']:.2f} ms per post). Sequential "
        "times for larger sizes are **extrapolated** from that rate. The same loop over the runtime notifier "
        f"({alone['posts']:,} posts, same slices): {alone['rate']:.1f} msg/s, client CPU "
        f"{alone['cpu_ms_per_post']:.2f} ms per post.",
        "- Baseline for the CPU per post: the same service and pool with `ApiGatewayNotifier` on that boto3 client "
        "(the path the handlers used before), same size and concurrency, same rounds.",
        f"- Payload: the service's own notification frame, {len(payload)} bytes. Median of {repeats} runs per row; "
        "each round runs every configuration once (rows, sweep, boto3) so load changes hit all alike. Client CPU is "
        "`time.process_time()` of the whole process over the invocation, divided by the connections.",
        "- The speed-up divides a CPU-bound rate by a latency-bound one, so it moves with this machine's CPU speed "
        "between runs (on 2026-12-01 `import boto3` took 184–239 ms across runs of the shared machine, and the "
        "2,000-connection row read 39× in the slowest run and 51–65× in the others); the client CPU per post "
        "against boto3's, measured in the same rounds, does not.",
        f"- Concurrency: `BROADCAST_CONCURRENCY` per environment file: {', '.join(f'{k} {v}' for k, v in envs.items())}; "
        f"headline rows use {concurrency}.",
        "",
        f"Concurrency sweep ({min(sizes):,} connections, same endpoint, same run; the last row, if present, is the "
        "boto3 notifier in the same service and pool):",
        "",
        sweep_table,
        "",
        f"Best here: concurrency {best['concurrency']} at {best['rate']:,.0f} msg/s. The ceiling on this machine is "
        "the client's CPU (one core, GIL): the runtime path spends "
        f"{min(r['cpu_ms_per_post'] for r in sweep_results):.2f}–{max(r['cpu_ms_per_post'] for r in sweep_results):.2f} "
        "ms of CPU per post in this sweep (signing, the exchange, thread hand-offs — more threads, more CPU per post); "
        "beyond ≈ latency / CPU-per-post threads, more threads only add contention. "
        f"**Recommended pool size: {knee['concurrency']}** — the smallest concurrency within "
        f"{1 - KNEE_SHARE:.0%} of the best rate ({knee['rate']:,.0f} msg/s). " + _deployed_setting(envs, sweep_results, best),
    ])
    if any(r["passed"] is False for r in rows):
        needed = GOAL_SPEEDUP * seq_rate_for_ratio
        headline = max((r for r in results if r["stale"] == 0.0), key=lambda r: r["size"])
        details += (
            f"\n\n**What would close it.** The speed-up goal needs {needed:,.0f} msg/s, i.e. ≤ {1000 / needed:.2f} ms of "
            f"client CPU per post on one core; the runtime path spends {headline['cpu_ms_per_post']:.2f} ms "
            f"(concurrency {headline['concurrency']}; {headline['concurrency']} threads × 1 post per "
            f"{raw['per_post_latency_ms']:.0f} ms would allow "
            f"{headline['concurrency'] / raw['per_post_latency_ms'] * 1000:,.0f} msg/s). What is left per post is "
            "botocore's `SigV4Auth` (about two thirds of the notifier's CPU), the exchange and the pool's hand-offs; "
            "the endpoint process shares the machine's second core with everything else running. Scaling out "
            "(more segment jobs, scale model below) multiplies throughput with no per-invocation change; in Lambda "
            "the per-invocation CPU share (memory / 1,769 MB) is the real ceiling, not this machine's core.")
    return result("broadcast", "Broadcast fan-out (one invocation vs sequential loop)",
                  ".venv/bin/python -m bench.run --only broadcast" + (" --quick" if quick else ""), rows, details, raw,
                  started=started_at)


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2, default=str)[:4000])
    print(BENCH_DIR)
