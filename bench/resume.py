"""Benchmark: resume and refresh (ADR 0016) — what a reconnect costs, what storing costs a broadcast.

In process, on the real services: ``ClientMessageService`` answering ``resume`` for 0, 10 and 100 missed
notifications (the replay planned from the notification log, every frame posted to a recording
notifier), against a ``ping`` through the same service in the same run; ``BroadcastService`` with the
notification log against the same service storing nothing (protocol 1.0 behaviour), on the
in-memory adapters and on the DynamoDB adapters under moto; ``refresh`` with the real
``TokenVerifier`` (warm JWKS cache), and in fresh interpreters the first refresh of an execution
environment (jose import + JWKS fetch) next to the ``default`` handler's import.

Through the local stack (``wsctl local up`` in a temporary folder, the real handlers behind the local
gateway, DynamoDB in moto): a client resumes after 0, 10 and 100 missed notifications; baseline a
ping→pong round trip on the same connection, interleaved.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.common import (
    LAMBDA_SRC,
    REPO_ROOT,
    VENV_BIN,
    clean_env,
    median,
    percentile,
    result,
    row,
    table,
    use_fake_aws,
    use_lambda_src,
)

MISSED = (0, 10, 100)
USER = "bench-user"


class _NullStream(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _timed_ms(fn) -> float:
    started = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - started) / 1e6


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99), "n": len(samples)}


def _telemetry():
    from realtime.observability import Logger, Metrics

    return Logger("realtime-bench", "WARNING", _NullStream()), Metrics("Realtime/bench", _NullStream())


def _request(request_id: str, users: list[str]):
    from realtime.messages import BroadcastRequest

    return BroadcastRequest.model_validate({"id": request_id, "target": {"userIds": users}, "notification": {
        "kind": "moc.finalized", "title": "Your MOC is ready", "link": "/mocs/42",
        "resource": {"type": "moc", "id": "42"}}})


def _services(log, store, notifier, *, max_notifications: int = 100, verifier=None):
    from realtime.adapters.memory import InMemoryQueue
    from realtime.ports import SystemClock
    from realtime.services.broadcast import BroadcastService
    from realtime.services.client_messages import ClientMessageService
    from realtime.services.fan_out import FanOut
    from realtime.services.replay import HeadReader, ReplayPlanner

    logger, metrics = _telemetry()
    fan_out = FanOut(notifier, store, concurrency=4)
    broadcast = BroadcastService(store, fan_out, InMemoryQueue(), SystemClock(), logger, metrics, scan_segments=1,
                                 announcement_interval_seconds=0, log=log or _NothingStored(),
                                 retention_seconds=86_400)
    messages = ClientMessageService(store, notifier, SystemClock(), logger, metrics, max_message_bytes=131072,
                                    rate_limit_per_minute=10**9, max_rate_violations=3,
                                    replay=ReplayPlanner(log, store, max_notifications=max_notifications,
                                                         budget_items=10**9, budget_window_seconds=600) if log else None,
                                    heads=HeadReader(log) if log else None, verifier=verifier)
    return broadcast, messages


class _NothingStored:
    """The baseline of the broadcast cost: the frame is built as with the log, nothing is stored (what
    protocol 1.0 did)."""

    def append(self, partition, request_id, build, now, expires_at):
        from realtime.ports import LogEntry

        return LogEntry(partition, 1, "bench", request_id, build(1, "bench"), now, expires_at)


def resume_in_process(repeats: int) -> dict[str, Any]:
    """Resume handling (plan + posts + answer) for 0/10/100 missed, interleaved with ping."""
    from realtime.adapters.memory import InMemoryConnectionStore, InMemoryNotificationLog, RecordingNotifier
    from realtime.ports import Connection

    out: dict[str, Any] = {}
    for missed in MISSED:
        store, log, notifier = InMemoryConnectionStore(), InMemoryNotificationLog(), RecordingNotifier()
        broadcast, messages = _services(log, store, notifier)
        now = int(time.time())
        store.add(Connection("tab", USER, now - 60, now + 3600), global_limit=10, per_user_limit=10)
        broadcast.process(_request("n0", [USER]), lambda: 900_000)
        head = log.head(USER)
        for index in range(missed):
            broadcast.process(_request(f"n{index + 1}", [USER]), lambda: 900_000)
        resume = json.dumps({"type": "resume", "version": "2.0", "data": {"positions": {"user": {
            "epoch": head.epoch, "offset": head.offset}}}})
        ping = json.dumps({"type": "ping", "version": "2.0"})
        resumes, pings = [], []
        for _ in range(repeats):
            notifier.sent.clear()
            resumes.append(_timed_ms(lambda m=messages, f=resume: m.handle("tab", f, False, "r")))
            pings.append(_timed_ms(lambda m=messages, f=ping: m.handle("tab", f, False, "p")))
        answer = json.loads(notifier.messages("tab")[-1])
        assert answer["type"] == "pong"
        last_resume = json.loads(notifier.sent["tab"][-2])
        assert last_resume["data"]["recovered"] is True and last_resume["data"]["replayed"] == missed, last_resume
        out[missed] = {"resume": _stats(resumes), "ping": _stats(pings)}
    return out


def broadcast_cost(repeats: int) -> dict[str, Any]:
    """The same per-user broadcast with the log and without it (log=None), interleaved per round."""
    from realtime.adapters.memory import InMemoryConnectionStore, InMemoryNotificationLog, RecordingNotifier
    from realtime.ports import Connection

    out: dict[str, Any] = {}
    for users in (1, 25):
        names = [f"user-{i}" for i in range(users)]
        timings: dict[str, list[float]] = {"log": [], "none": []}
        services = {}
        for variant in ("log", "none"):
            store, notifier = InMemoryConnectionStore(), RecordingNotifier()
            now = int(time.time())
            for name in names:
                for tab in range(2):
                    store.add(Connection(f"{name}-{tab}", name, now - 60, now + 3600), global_limit=10**6,
                              per_user_limit=10)
            services[variant] = _services(InMemoryNotificationLog() if variant == "log" else None, store, notifier)[0]
        for index in range(repeats):
            for variant in ("none", "log") if index % 2 else ("log", "none"):
                request = _request(f"{variant}-{users}-{index}", names)
                timings[variant].append(_timed_ms(lambda s=services[variant], r=request: s.process(r, lambda: 900_000)))
        out[f"memory-{users}"] = {variant: _stats(samples) for variant, samples in timings.items()}
    out.update(_broadcast_cost_moto(repeats))
    return out


def _broadcast_cost_moto(repeats: int) -> dict[str, Any]:
    """The log's DynamoDB writes (a head read and a transaction per user through botocore, moto in process)
    vs no log."""
    sys.path.insert(0, str(REPO_ROOT))
    from wsctl.local.moto_patches import patch_transactions

    # A chunk's appends run in parallel; moto's transactions need the emulator's patch to run concurrently.
    undo = patch_transactions()
    try:
        return _broadcast_rounds_moto(repeats)
    finally:
        undo()


def _broadcast_rounds_moto(repeats: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws
    from realtime.adapters.dynamodb import DynamoConnectionStore
    from realtime.adapters.memory import RecordingNotifier
    from realtime.adapters.notification_log import DynamoNotificationLog
    from realtime.ports import Connection

    from tests.integration.aws import create_connections_table, create_notifications_table

    out: dict[str, Any] = {}
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_connections_table(dynamodb, "bench-connections")
        create_notifications_table(dynamodb, "bench-notifications")
        store = DynamoConnectionStore(dynamodb, "bench-connections")
        now = int(time.time())
        for users in (1, 25):
            names = [f"moto-{users}-{i}" for i in range(users)]
            for name in names:
                store.add(Connection(f"{name}-tab", name, now - 60, now + 3600), global_limit=10**6, per_user_limit=10)
            notifier = RecordingNotifier()
            variants = {"log": _services(DynamoNotificationLog(dynamodb, "bench-notifications"), store, notifier)[0],
                        "none": _services(None, store, notifier)[0]}
            timings: dict[str, list[float]] = {"log": [], "none": []}
            for index in range(max(5, repeats // 10)):
                for variant in ("none", "log") if index % 2 else ("log", "none"):
                    request = _request(f"{variant}-{users}-{index}", names)
                    timings[variant].append(_timed_ms(lambda s=variants[variant], r=request: s.process(r, lambda: 900_000)))
            out[f"moto-{users}"] = {variant: _stats(samples) for variant, samples in timings.items()}
    return out


def refresh_in_process(repeats: int) -> dict[str, Any]:
    from realtime.adapters.memory import InMemoryConnectionStore, InMemoryNotificationLog, RecordingNotifier
    from realtime.auth import JwksCache, TokenVerifier
    from realtime.config import TokenRules
    from realtime.ports import Connection

    from bench.authorizer import CLIENT_ID, ISSUER, _JwksServer, _key_material, _token

    pem, public_jwk = _key_material()
    with _JwksServer({"keys": [public_jwk]}) as server:
        rules = TokenRules(issuer=ISSUER, jwks_url=server.url, client_ids=frozenset({CLIENT_ID}), token_use="id",
                           max_token_age_seconds=86_400, jwks_cache_ttl_seconds=3600)
        verifier = TokenVerifier(rules, JwksCache(rules.jwks_url, 3600))
        store, notifier = InMemoryConnectionStore(), RecordingNotifier()
        now = int(time.time())
        store.add(Connection("tab", "user-bench", now - 60, now + 3600), global_limit=10, per_user_limit=10)
        _, messages = _services(InMemoryNotificationLog(), store, notifier, verifier=lambda: verifier)
        refresh = json.dumps({"type": "refresh", "version": "2.0", "data": {"token": _token(pem, now)}})
        ping = json.dumps({"type": "ping", "version": "2.0"})
        messages.handle("tab", refresh, False, "warm-up")
        refreshes, pings = [], []
        for _ in range(repeats):
            refreshes.append(_timed_ms(lambda: messages.handle("tab", refresh, False, "f")))
            pings.append(_timed_ms(lambda: messages.handle("tab", ping, False, "p")))
        assert json.loads(notifier.messages("tab")[-2])["type"] == "refreshed"
    return {"refresh": _stats(refreshes), "ping": _stats(pings)}


_FIRST_REFRESH = """
import time, json
t0 = time.perf_counter(); import handlers.default as d; t1 = time.perf_counter()
verifier = d.SERVICE.verifier(); t2 = time.perf_counter()
try:
    verifier.verify("eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vbmUifQ.e30.c2ln")
except Exception:
    pass
t3 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "verifier_ms": (t2 - t1) * 1000, "first_verify_ms": (t3 - t2) * 1000}))
"""
_EAGER_IMPORT = """
import time, json
t0 = time.perf_counter(); import handlers.default; import realtime.auth; t1 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000}))
"""


def first_refresh_cold(samples: int) -> dict[str, Any]:
    """Fresh interpreters: default's import as deployed (lazy), with jose imported eagerly, and the first
    refresh's extra cost (verifier import + construction, then a verify whose JWKS fetch hits loopback)."""
    from bench.authorizer import _JwksServer, _key_material

    _pem, public_jwk = _key_material()
    with _JwksServer({"keys": [public_jwk]}) as server:
        env = clean_env({
            "ENVIRONMENT": "bench", "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Realtime/bench",
            "CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "https://abc.execute-api.us-east-1.amazonaws.com/bench",
            "MAX_MESSAGE_BYTES": "131072", "MESSAGE_RATE_LIMIT_PER_MINUTE": "60", "MAX_RATE_VIOLATIONS": "3",
            "NOTIFICATIONS_TABLE": "n", "NOTIFICATION_RETENTION_SECONDS": "86400", "RESUME_MAX_NOTIFICATIONS": "100", "READ_BUDGET_ITEMS": "2500", "READ_BUDGET_WINDOW_SECONDS": "600",
            "COGNITO_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/p", "COGNITO_JWKS_URL": server.url,
            "COGNITO_CLIENT_IDS": "c", "COGNITO_TOKEN_USE": "id", "MAX_TOKEN_AGE_SECONDS": "86400",
            "JWKS_CACHE_TTL_SECONDS": "3600", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        python = str(VENV_BIN / "python")
        lazy, eager = [], []
        for _ in range(samples + 1):  # the first round warms the bytecode cache
            for script, into in ((_FIRST_REFRESH, lazy), (_EAGER_IMPORT, eager)):
                done = subprocess.run([python, "-c", script], cwd=LAMBDA_SRC, env=env, capture_output=True,  # noqa: S603
                                      text=True, timeout=60, check=True)
                into.append(json.loads(done.stdout.strip().splitlines()[-1]))
        lazy, eager = lazy[1:], eager[1:]
    return {
        "default_import_lazy_ms": median([s["import_ms"] for s in lazy]),
        "default_import_eager_ms": median([s["import_ms"] for s in eager]),
        "first_refresh_extra_ms": median([s["verifier_ms"] + s["first_verify_ms"] for s in lazy]),
        "samples": samples,
    }


def resume_local_stack(repeats: int) -> dict[str, Any]:
    """Resume round trips through the local stack after 0/10/100 missed; ping round trips as baseline."""
    import websockets

    from bench.local_stack import LocalUp
    from wsctl.local.token import issue_token
    from wsctl.local.up import free_port
    from wsctl.targets import Target

    workdir = tempfile.mkdtemp(prefix="realtime-bench-resume-")
    local_dir = os.path.join(workdir, "local")
    up = LocalUp(__import__("pathlib").Path(local_dir), free_port(), free_port())
    try:
        ready_s = up.start()
        endpoints = up.ready
        outputs = json.loads((up.local_dir / "outputs.json").read_text())
        target = Target(env="local", region=endpoints["region"], outputs=outputs, aws_endpoint=endpoints["aws_endpoint"])
        sqs = target.client("sqs")
        dynamodb = target.client("dynamodb")

        def stored(user_id: str) -> int:
            return dynamodb.query(TableName=outputs["notifications_table_name"], Select="COUNT",
                                  KeyConditionExpression="userId = :u",
                                  ExpressionAttributeValues={":u": {"S": user_id}})["Count"]

        def enqueue(user_id: str, request_id: str) -> None:
            sqs.send_message(QueueUrl=outputs["broadcast_queue_url"], MessageBody=json.dumps({
                "id": request_id, "target": {"userIds": [user_id]},
                "notification": {"kind": "moc.finalized", "title": request_id}}))

        async def measure(missed: int) -> dict[str, Any]:
            issued = issue_token(f"bench-resume-{missed}", target)
            url = f"{endpoints['ws_url']}?token={issued.token}"
            async with websockets.connect(url, max_size=None, ping_interval=None) as first:
                enqueue(issued.sub, f"m{missed}-0")
                live = json.loads(await asyncio.wait_for(first.recv(), 30))["data"]
                position = {"epoch": live["epoch"], "offset": live["offset"]}
            for index in range(missed):
                enqueue(issued.sub, f"m{missed}-{index + 1}")
            deadline = time.monotonic() + 120
            while stored(issued.sub) < 2 * (missed + 1) + 1 and time.monotonic() < deadline:  # entries, r#, #head
                await asyncio.sleep(0.2)
            resumes, pings, replayed = [], [], None
            for index in range(repeats):
                async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
                    started = time.perf_counter()
                    await ws.send(json.dumps({"type": "resume", "version": "2.0",
                                              "data": {"positions": {"user": position}}}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        if frame["type"] == "resumed":
                            break
                    resumes.append((time.perf_counter() - started) * 1000)
                    replayed = frame["data"]
                    started = time.perf_counter()
                    await ws.send(json.dumps({"type": "ping", "version": "2.0", "id": f"p{index}"}))
                    await asyncio.wait_for(ws.recv(), 30)
                    pings.append((time.perf_counter() - started) * 1000)
            return {"resume": _stats(resumes), "ping": _stats(pings), "resumed": replayed}

        measured = {missed: asyncio.run(measure(missed)) for missed in MISSED}
        return {"ready_s": ready_s, "how": up.how, "runs": measured}
    finally:
        with contextlib.suppress(Exception):
            up.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(quick: bool = False, local: bool = True, repeats: int | None = None, cold_samples: int | None = None,
        local_repeats: int | None = None) -> dict[str, Any]:
    started_at = time.monotonic()
    use_lambda_src()
    use_fake_aws()
    repeats = repeats or (30 if quick else 300)
    raw: dict[str, Any] = {
        "resume": resume_in_process(repeats),
        "broadcast": broadcast_cost(repeats),
        "refresh": refresh_in_process(repeats),
        "cold": first_refresh_cold(cold_samples or (3 if quick else 9)),
    }
    local_error = None
    if local:
        try:
            raw["local"] = resume_local_stack(local_repeats or (3 if quick else 10))
        except Exception as error:  # noqa: BLE001 - reported as not measured, the in-process figures stand
            local_error = f"{type(error).__name__}: {error}"
            raw["local_error"] = local_error
    return _result(raw, quick, started_at, local, local_error)


def _result(raw: dict[str, Any], quick: bool, started_at: float, local: bool, local_error: str | None) -> dict[str, Any]:
    rows = []
    for missed in MISSED:
        r, p = raw["resume"][missed]["resume"], raw["resume"][missed]["ping"]
        rows.append(row(f"Resume after {missed} missed, in process (adapters), p50 / p99", r["p50_ms"], "ms",
                        baseline=p["p50_ms"], baseline_label="ping through the same service p50 ms",
                        ratio=r["p50_ms"] / p["p50_ms"], ratio_label=f"{r['p50_ms'] / p['p50_ms']:.1f}×",
                        note=f"p99 {r['p99_ms']:.3f} ms (ping p99 {p['p99_ms']:.3f} ms), n={r['n']}"))
    if "local" in raw:
        for missed in MISSED:
            run = raw["local"]["runs"][missed]
            r, p = run["resume"], run["ping"]
            rows.append(row(f"Resume after {missed} missed, through the local stack, p50 / p99", r["p50_ms"], "ms",
                            baseline=p["p50_ms"], baseline_label="ping→pong round trip p50 ms",
                            ratio=r["p50_ms"] / p["p50_ms"], ratio_label=f"{r['p50_ms'] / p['p50_ms']:.1f}×",
                            note=f"p99 {r['p99_ms']:.1f} ms, n={r['n']}; answered {run['resumed']}"))
    elif local:
        rows.append(row("Resume through the local stack", None, "ms", note=f"not measured: {local_error}"))
    for key, label in (("memory-1", "1 user (2 tabs), in-memory adapters"),
                       ("memory-25", "25 users (2 tabs each), in-memory adapters"),
                       ("moto-1", "1 user, DynamoDB adapters under moto"),
                       ("moto-25", "25 users, DynamoDB adapters under moto")):
        both = raw["broadcast"][key]
        with_log, without = both["log"]["p50_ms"], both["none"]["p50_ms"]
        rows.append(row(f"Broadcast with the notification log, {label}", with_log, "ms", baseline=without,
                        baseline_label="the same broadcast without the log ms", ratio=with_log / without,
                        ratio_label=f"{with_log / without:.2f}×",
                        note=f"p99 {both['log']['p99_ms']:.2f} ms vs {both['none']['p99_ms']:.2f} ms, n={both['log']['n']}"))
    f, p = raw["refresh"]["refresh"], raw["refresh"]["ping"]
    rows.append(row("Refresh p99 (verify + row update + answer), warm JWKS", f["p99_ms"], "ms", baseline=p["p99_ms"],
                    baseline_label="ping through the same service p99 ms", ratio=f["p99_ms"] / p["p99_ms"],
                    ratio_label=f"{f['p99_ms'] / p['p99_ms']:.1f}×", note=f"p50 {f['p50_ms']:.3f} ms, n={f['n']}"))
    cold = raw["cold"]
    rows.append(row("Cold: import handlers.default as deployed (jose on first refresh)", cold["default_import_lazy_ms"],
                    "ms", baseline=cold["default_import_eager_ms"], baseline_label="the same with jose imported at init ms",
                    ratio=cold["default_import_lazy_ms"] / cold["default_import_eager_ms"],
                    ratio_label=f"{cold['default_import_lazy_ms'] / cold['default_import_eager_ms']:.2f}×",
                    note=(f"the first refresh of an execution environment then pays "
                          f"{cold['first_refresh_extra_ms']:.0f} ms (jose import, verifier, JWKS fetch on loopback); "
                          f"medians of {cold['samples']} fresh interpreters")))
    broadcast_table = table(
        ["broadcast", "with log p50 ms", "without p50 ms", "ratio"],
        [[key, f"{v['log']['p50_ms']:.3f}", f"{v['none']['p50_ms']:.3f}", f"{v['log']['p50_ms'] / v['none']['p50_ms']:.2f}×"]
         for key, v in raw["broadcast"].items()])
    local_line = (f"- Local stack: started in {raw['local']['ready_s']:.0f} s ({raw['local']['how']}); each figure is a "
                  "new connection that resumes from the same position (the tab's last notification before it went "
                  "away), then pings once on the same connection.") if "local" in raw else ""
    details = "\n".join(filter(None, [
        "- In process: the real `ClientMessageService` / `BroadcastService` / `ReplayPlanner` on the in-memory "
        "adapters (store, notification log, recording @connections notifier: no network), so the figures are the "
        "code's own cost; interleaved with a ping through the same service.",
        "- Broadcast cost: the same per-user request through `BroadcastService` with `log=` the notification log "
        "and storing nothing (what protocol 1.0 did), interleaved; under moto the difference is a head read "
        "and a transaction per user (ADR 0018; section `offsets` has the capacity and today's BatchWriteItem).",
        "- Refresh: the real `TokenVerifier` with a JWKS served on 127.0.0.1, cache warm; the first refresh in a "
        "fresh interpreter measures what moving jose out of the init phase moved.",
        local_line,
        "",
        broadcast_table,
    ]))
    command = ".venv/bin/python -m bench.run --only resume" + (" --quick" if quick else "")
    return result("resume", "Resume and refresh (ADR 0016; protocol 2.0, ADR 0018)", command, rows, details, raw, started=started_at)
