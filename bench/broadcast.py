"""Benchmark 1: one broadcast invocation vs a sequential post loop, against a local @connections
endpoint with injected latency (bench.endpoint, its own process).

What runs is the production path minus DynamoDB: ``BroadcastService.process`` on a global request
(one segment job, the shape every ``{all: true}`` request is split into), its ``FanOut`` thread pool,
``ApiGatewayNotifier`` and the boto3 ``apigatewaymanagementapi`` client built by
``realtime.adapters.aws.management_api_client`` (same timeouts, no SDK retries, pool sized to the
concurrency). The connection store is the in-memory adapter (``InMemoryConnectionStore``, page size
1,000 like ``DynamoConnectionStore``), so the figure is the fan-out, not DynamoDB's scan latency
(the scale model adds that back). The baseline is a plain ``for`` loop of
``client.post_to_connection`` on the same client and endpoint, in the same run.
"""

from __future__ import annotations

import io
import json
import time
import tomllib
from typing import Any

from bench.common import BENCH_DIR, REPO_ROOT, median, result, row, table, use_fake_aws, use_lambda_src
from bench.endpoint import GONE_PREFIX, Endpoint

LATENCY_SECONDS = 0.020
GOAL_SPEEDUP = 30.0
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


class LeanNotifier:
    """EXPERIMENT, not the production path: the same @connections POST signed with botocore's SigV4
    and sent with a bare urllib3 pool, to measure how much of the per-post CPU is boto3's call path."""

    def __init__(self, endpoint_url: str, concurrency: int):
        import botocore.session
        import urllib3
        from botocore.auth import SigV4Auth

        self.base = endpoint_url
        self.pool = urllib3.PoolManager(maxsize=max(10, concurrency), retries=False,
                                        timeout=urllib3.Timeout(connect=2, read=5))
        credentials = botocore.session.get_session().get_credentials().get_frozen_credentials()
        self.signer = SigV4Auth(credentials, "execute-api", "us-east-1")

    def send(self, connection_id: str, payload: bytes) -> None:
        from urllib.parse import quote

        from botocore.awsrequest import AWSRequest
        from realtime.errors import DeliveryFailed, StaleConnection

        url = f"{self.base}/@connections/{quote(connection_id, safe='')}"
        request = AWSRequest(method="POST", url=url, data=payload)
        self.signer.add_auth(request)
        response = self.pool.request("POST", url, body=payload, headers=dict(request.headers.items()))
        if response.status == 410:
            raise StaleConnection(connection_id)
        if response.status >= 300:
            raise DeliveryFailed(str(response.status))

    def close(self, connection_id: str) -> None:
        raise NotImplementedError


class _Harness:
    """Builds the real service around the endpoint once per concurrency (as Lambda init would)."""

    def __init__(self, endpoint_url: str, concurrency: int, lean: bool = False):
        use_lambda_src()
        from realtime.adapters.apigateway import ApiGatewayNotifier
        from realtime.adapters.aws import management_api_client
        from realtime.observability import Logger, Metrics
        from realtime.services.fan_out import FanOut

        self.concurrency = concurrency
        self.lean = lean
        self.client = management_api_client(endpoint_url, concurrency)
        self.notifier = LeanNotifier(endpoint_url, concurrency) if lean else ApiGatewayNotifier(self.client)
        self.logs = io.StringIO()
        self.logger = Logger("realtime-bench-broadcast", "INFO", self.logs)
        self.metrics = Metrics("Realtime/bench", io.StringIO())
        self._fan_out_class = FanOut

    def broadcast(self, ids: list[str], request_id: str) -> dict[str, Any]:
        from realtime.adapters.memory import InMemoryConnectionStore, InMemoryQueue
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
                                   scan_segments=1, announcement_interval_seconds=60)
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


def sequential(client: Any, ids: list[str], payload: bytes, deadline_seconds: float) -> dict[str, Any]:
    """The baseline: one post after the other on the same client; stops at the deadline.

    Also returns the rates of four equal chunks of the loop: their median guards against one slow
    stretch on a shared machine."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    stamps = []
    for cid in ids:
        client.post_to_connection(ConnectionId=cid, Data=payload)
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


def run(quick: bool = False, sizes: tuple[int, ...] | None = None, stale_fractions: tuple[float, ...] = (0.1, 0.3),
        repeats: int | None = None, sequential_sample: int | None = None, concurrency: int | None = None,
        sweep: tuple[int, ...] | None = None, latency: float = LATENCY_SECONDS,
        lean_experiment: bool | None = None) -> dict[str, Any]:
    started_at = time.monotonic()
    use_fake_aws()
    use_lambda_src()
    from realtime.messages import encode, notification_message, parse_broadcast_request

    sizes = sizes or ((500, 1000) if quick else (2000, 10000))
    repeats = repeats or (1 if quick else 3)
    sequential_sample = sequential_sample or (60 if quick else 2000)
    envs = configured_concurrency()
    concurrency = concurrency or envs.get("prod", 128)
    sweep = sweep if sweep is not None else (() if quick else tuple(sorted(set(envs.values()) | {16})))
    lean_experiment = (not quick) if lean_experiment is None else lean_experiment
    payload = encode(notification_message(parse_broadcast_request(_request_body("bench-seq")), time.time()))
    raw: dict[str, Any] = {"latency_s": latency, "concurrency": concurrency, "env_concurrency": envs,
                           "repeats": repeats, "sizes": list(sizes), "payload_bytes": len(payload), "runs": {}}

    with Endpoint(latency) as endpoint:
        harness = _Harness(endpoint.url(), concurrency)
        # Warm the client (endpoint model, TCP connections) as a warm Lambda would have.
        harness.broadcast([f"live-warm{i}" for i in range(concurrency * 2)], "bench-warm")

        harnesses = {concurrency: harness}
        for conc in sweep:
            if conc not in harnesses:
                harnesses[conc] = _Harness(endpoint.url(), conc)
                harnesses[conc].broadcast([f"live-warm{i}" for i in range(conc * 2)], f"bench-warm-{conc}")
        lean = None
        if lean_experiment:
            lean = _Harness(endpoint.url(), concurrency, lean=True)
            lean.broadcast([f"live-warm{i}" for i in range(concurrency * 2)], "bench-warm-lean")

        # Configurations: (group, size, stale fraction, harness). Every repeat round runs each of them
        # once plus a slice of the sequential baseline, so slow stretches on a shared machine hit all alike.
        configs = [("main", size, 0.0, harness) for size in sizes]
        configs += [("main", max(sizes), stale, harness) for stale in stale_fractions]
        configs += [("sweep", min(sizes), 0.0, harnesses[c]) for c in sorted(harnesses) if c != concurrency]
        if lean is not None:
            configs.append(("lean", min(sizes), 0.0, lean))
        ids_for = {(size, stale): connection_ids(size, stale) for _, size, stale, _ in configs}
        outcomes: list[list[dict[str, Any]]] = [[] for _ in configs]
        sample_ids = [f"live-seq{i:06d}" for i in range(sequential_sample)]
        slice_size = -(-sequential_sample // repeats)
        seq_parts = []
        for attempt in range(repeats):
            # Baseline slice: the sequential loop, same client, same endpoint, same round.
            part = sample_ids[attempt * slice_size:(attempt + 1) * slice_size]
            if part:
                seq_parts.append(sequential(harness.client, part, payload, deadline_seconds=120.0 / repeats))
            for index, (group, size, stale, h) in enumerate(configs):
                if outcomes[index] and outcomes[index][-1]["seconds"] > RUN_DEADLINE_SECONDS:
                    continue
                endpoint.reset()
                outcome = h.broadcast(ids_for[(size, stale)], f"bench-{group}-{size}-{stale}-{h.concurrency}-{attempt}")
                outcome["endpoint"] = endpoint.stats()
                outcome["rate"] = (outcome["sent"] + outcome["gone"]) / outcome["seconds"]
                outcomes[index].append(outcome)

        posts = sum(p["posts"] for p in seq_parts)
        seconds = sum(p["seconds"] for p in seq_parts)
        chunk_rates = [rate for p in seq_parts for rate in p["chunk_rates"]] or [p["rate"] for p in seq_parts]
        seq = {"posts": posts, "seconds": seconds, "rate": posts / seconds, "latency_ms": seconds / posts * 1000,
               "cpu_ms_per_post": sum(p["cpu_ms_per_post"] * p["posts"] for p in seq_parts) / posts,
               "chunk_rates": chunk_rates, "slices": len(seq_parts)}
        raw["sequential"] = seq

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
            return {"size": size, "stale": stale, "concurrency": h.concurrency, "runs": runs, "lean": h.lean,
                    "rate": median(rates), "seconds": median([r["seconds"] for r in runs]),
                    "cpu_ms_per_post": median([r["cpu_seconds"] / size * 1000 for r in runs]),
                    "peak_inflight": max(r["endpoint"]["peak_inflight"] for r in runs),
                    "expected_gone": expected_gone, "checks": checks, "ok": all(checks.values())}

        summaries = [(group, summarise(size, stale, h, outcomes[i])) for i, (group, size, stale, h) in enumerate(configs)]
        results = [r for group, r in summaries if group == "main"]
        sweep_results = [r for group, r in summaries if group == "sweep"]
        lean_results = [r for group, r in summaries if group == "lean"]
        base_at_size = next(r for r in results if r["size"] == min(sizes) and r["stale"] == 0.0)
        sweep_results.append(base_at_size)
        sweep_results.sort(key=lambda r: r["concurrency"])

    raw["runs"] = {"main": results, "sweep": sweep_results, "lean": lean_results}
    seq_rate_for_ratio = median(chunk_rates) if chunk_rates else seq["rate"]
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
                     f"peak in flight {r['peak_inflight']}"]
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
                        r["rate"], "msg/s", baseline=seq_rate_for_ratio, baseline_label="sequential loop msg/s",
                        ratio=speedup, ratio_label=f"{speedup:.1f}×", goal=f"≥ {GOAL_SPEEDUP:.0f}×",
                        passed=passed, note="; ".join(note_bits)))

    sweep_table = table(
        ["concurrency", "notifier", "connections", "msg/s (median)", "speed-up", "client CPU ms/post", "peak in flight"],
        [[r["concurrency"], "urllib3 + SigV4 (experiment)" if r.get("lean") else "boto3 (production)", f"{r['size']:,}",
          f"{r['rate']:,.0f}", f"{r['rate'] / seq_rate_for_ratio:.1f}×",
          f"{r['cpu_ms_per_post']:.2f}", r["peak_inflight"]] for r in sweep_results + lean_results])
    best = max(sweep_results, key=lambda r: r["rate"])
    details = "\n".join([
        f"- Endpoint: `bench/endpoint.py` (asyncio, own process, 127.0.0.1), {latency * 1000:.0f} ms injected per "
        "@connections call; ids named `gone…` answer 410 `GoneException`.",
        "- Invocation: `BroadcastService.process` on a global segment job (`segment {index 0, total 1}`), "
        "`FanOut` + `ApiGatewayNotifier` + boto3 `apigatewaymanagementapi` client from "
        "`realtime.adapters.aws.management_api_client`; store: **in-memory adapter** (`InMemoryConnectionStore`, "
        "page size 1,000 as in `DynamoConnectionStore`); thread pool and client built before timing "
        "(Lambda init), one warm-up broadcast first (warm container).",
        f"- Baseline: `for id in ids: client.post_to_connection(...)` on the same client — measured on a "
        f"{seq['posts']:,}-post sample in this run, in {seq['slices']} slices interleaved with the rounds of the "
        f"parallel runs (median of the chunk rates {', '.join(f'{x:.1f}' for x in chunk_rates)} "
        f"msg/s; whole-sample {seq['rate']:.1f} msg/s, {seq['latency_ms']:.1f} ms per post, client CPU "
        f"{seq['cpu_ms_per_post']:.2f} ms per post). Sequential times for larger sizes are **extrapolated** "
        "from that rate.",
        f"- Payload: the service's own notification frame, {len(payload)} bytes. Median of {repeats} runs per row; "
        "each round runs every configuration once (rows, sweep, experiment) so load changes hit all alike.",
        f"- Concurrency: `BROADCAST_CONCURRENCY` per environment file: {', '.join(f'{k} {v}' for k, v in envs.items())}; "
        f"headline rows use {concurrency}.",
        "",
        f"Concurrency sweep ({min(sizes):,} connections, same endpoint, same run; the last row, if present, is an "
        "experiment — the same service and pool with a bare urllib3 + SigV4 notifier instead of boto3):",
        "",
        sweep_table,
        "",
        f"Best here: concurrency {best['concurrency']} at {best['rate']:,.0f} msg/s. The ceiling on this machine is "
        "the client's CPU (one core, GIL): the boto3 path spends "
        f"{min(r['cpu_ms_per_post'] for r in sweep_results):.2f}–{max(r['cpu_ms_per_post'] for r in sweep_results):.2f} "
        "ms of CPU per post in this sweep (signing, serialising, parsing, thread hand-offs — more threads, more CPU "
        "per post), so beyond ≈ latency / CPU-per-post threads, more threads only add contention.",
    ])
    if any(not r["passed"] for r in rows):
        needed = GOAL_SPEEDUP * seq_rate_for_ratio
        headline = max((r for r in results if r["stale"] == 0.0), key=lambda r: r["size"])
        lean_line = ""
        if lean_results:
            lr = lean_results[0]
            lean_line = (f" Measured in this run: the same service and pool with a bare urllib3 + SigV4 notifier "
                         f"reached {lr['rate']:,.0f} msg/s ({lr['rate'] / seq_rate_for_ratio:.1f}×) at "
                         f"{lr['cpu_ms_per_post']:.2f} ms CPU per post.")
        details += (
            f"\n\n**What would close it.** The goal needs {needed:,.0f} msg/s, i.e. ≤ {1000 / needed:.2f} ms of "
            f"client CPU per post on one core; the production path spends {headline['cpu_ms_per_post']:.2f} ms "
            f"(concurrency {headline['concurrency']}), so one invocation is CPU-bound, not latency-bound "
            f"({headline['concurrency']} threads × 1 post per {raw['per_post_latency_ms']:.0f} ms would allow "
            f"{headline['concurrency'] / raw['per_post_latency_ms'] * 1000:,.0f} msg/s). Options, cheapest first: "
            f"(1) run the pool at the concurrency that peaks in the sweep ({best['concurrency']} here) — beyond it "
            "threads only add GIL contention; (2) cut CPU per post: a leaner notifier (pre-built SigV4 signer + "
            "urllib3) instead of boto3's full call path." + lean_line + " (3) scale out rather than up: more "
            "segment jobs multiply throughput with no per-invocation change (scale model below); in Lambda the "
            "per-invocation CPU share (memory / 1,769 MB) is the real ceiling, not this machine's core.")
    return result("broadcast", "Broadcast fan-out (one invocation vs sequential loop)",
                  ".venv/bin/python -m bench.run --only broadcast" + (" --quick" if quick else ""), rows, details, raw,
                  started=started_at)


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2, default=str)[:4000])
    print(BENCH_DIR)
