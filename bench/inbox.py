"""Benchmark: the notification inbox (ADR 0020) — what a history page and a mark cost.

* Capacity (DynamoDB under moto, in process, the real ``InboxService`` over the real adapters): every
  call the service makes is recorded through a client proxy and priced by DynamoDB's rules (a read unit
  per started 4 KB read — a query sums the items it reads —, half of that eventually consistent; a write
  unit per started KB written), for a page of 50 with everything unread (the unread count then reads the
  unread entries too), a page of 50 with everything read, one mark, and "mark all"; with the cost per
  million at on-demand prices.
* Through the local stack (``wsctl local up`` in a temporary folder, the real handlers behind the local
  gateway): a ``history`` of 50 round trip, beside a ping→pong round trip on the same connection in the
  same run (interleaved); a ``read`` on one device until the other device receives ``read.state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentile, result, row, table, use_fake_aws, use_lambda_src
from bench.offsets import READ_USD_PER_MILLION, WRITE_USD_PER_MILLION, item_bytes

PAGE = 50
GLOBALS = 5
#: Notifications marked one by one (each mark is pushed to the other device).
MARKS = 30
RETENTION = 86_400


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99), "n": len(samples)}


class CountingClient:
    """A DynamoDB client proxy that prices every call by DynamoDB's capacity rules."""

    def __init__(self, client):
        self._client = client
        self.rcu = 0.0
        self.wcu = 0.0
        self.calls: dict[str, int] = {}

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _read(self, size: int, consistent: bool) -> None:
        self.rcu += max(1, math.ceil(size / 4096)) * (1 if consistent else 0.5)

    def get_item(self, **kwargs):
        self._count("GetItem")
        answer = self._client.get_item(**kwargs)
        self._read(item_bytes(answer.get("Item", {})), kwargs.get("ConsistentRead", False))
        return answer

    def query(self, **kwargs):
        self._count("Query")
        # Capacity follows the items read, not the projection: read them whole to size them.
        whole = {k: v for k, v in kwargs.items() if k not in ("ProjectionExpression", "Select")}
        if "ExpressionAttributeNames" in whole:
            used = " ".join(str(whole.get(k, "")) for k in ("KeyConditionExpression", "FilterExpression"))
            whole["ExpressionAttributeNames"] = {k: v for k, v in whole["ExpressionAttributeNames"].items() if k in used}
        sized = self._client.query(**whole)
        self._read(sum(item_bytes(item) for item in sized.get("Items", [])), kwargs.get("ConsistentRead", False))
        return self._client.query(**kwargs)

    def put_item(self, **kwargs):
        self._count("PutItem")
        self.wcu += max(1, math.ceil(item_bytes(kwargs["Item"]) / 1024))
        return self._client.put_item(**kwargs)

    def update_item(self, **kwargs):
        self._count("UpdateItem")
        self.wcu += 1  # the budget counter and rate-limit items are far below 1 KB
        return self._client.update_item(**kwargs)

    def batch_get_item(self, **kwargs):
        self._count("BatchGetItem")
        answer = self._client.batch_get_item(**kwargs)
        for items in answer.get("Responses", {}).values():
            for item in items:
                self._read(item_bytes(item), True)
        return answer

    def snapshot(self) -> tuple[float, float, dict[str, int]]:
        return self.rcu, self.wcu, dict(self.calls)


def capacity() -> dict[str, Any]:
    import boto3
    from moto import mock_aws
    from realtime.adapters.dynamodb import DynamoConnectionStore
    from realtime.adapters.notification_log import DynamoNotificationLog, DynamoReadStateStore
    from realtime.messages import (
        BroadcastRequest,
        HistoryRequest,
        ReadAllMessage,
        ReadMessage,
        encode,
        notification_message,
    )
    from realtime.ports import GLOBAL_PARTITION, Connection
    from realtime.services.inbox import InboxService

    from tests.integration.aws import create_connections_table, create_notifications_table

    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        create_connections_table(raw)
        create_notifications_table(raw)
        from tests.integration.aws import NOTIFICATIONS_TABLE, TABLE

        now = int(time.time())
        log = DynamoNotificationLog(raw, NOTIFICATIONS_TABLE)
        request = BroadcastRequest.model_validate({"id": "moc-42-finalized", "target": {"userIds": ["u"]},
                                                   "notification": {"kind": "moc.finalized", "title": "Your MOC is ready",
                                                                    "severity": "success", "link": "/mocs/42",
                                                                    "resource": {"type": "moc", "id": "42"}}})
        for partition, count in (("alice", PAGE), (GLOBAL_PARTITION, GLOBALS)):
            stream = "global" if partition == GLOBAL_PARTITION else "user"
            for index in range(count):
                log.append(partition, f"r{index}", lambda offset, epoch, s=stream: encode(notification_message(
                    request, now, stream=s, epoch=epoch, offset=offset)).decode(), now, now + RETENTION)
        DynamoConnectionStore(raw, TABLE).add(Connection("phone", "alice", now, now + 3600), global_limit=10,
                                              per_user_limit=10)
        counting = CountingClient(raw)
        inbox = InboxService(DynamoNotificationLog(counting, NOTIFICATIONS_TABLE),
                             DynamoReadStateStore(counting, NOTIFICATIONS_TABLE),
                             DynamoConnectionStore(counting, TABLE), retention_seconds=RETENTION,
                             budget_items=10**6, budget_window_seconds=600)
        store = DynamoConnectionStore(counting, TABLE)
        history = HistoryRequest.model_validate({"type": "history", "version": "2.0", "data": {"limit": PAGE}})
        out: dict[str, Any] = {}

        def measure(name: str, action) -> None:
            before = counting.snapshot()
            action()
            after = counting.snapshot()
            out[name] = {"rcu": after[0] - before[0], "wcu": after[1] - before[1],
                         "calls": {k: v - before[2].get(k, 0) for k, v in after[2].items() if v - before[2].get(k, 0)}}

        sizes = {"frames": [len(f) for f in inbox.history("alice", history, now).frames]}
        measure("history, all unread", lambda: inbox.history("alice", history, now))
        # what a read frame adds in $default besides the inbox: the membership read for the push
        measure("mark one", lambda: (inbox.mark("alice", ReadMessage.model_validate(
            {"type": "read", "version": "2.0", "data": {"stream": "user", "offset": PAGE}}), now),
            store.connections_of_users(["alice"])))
        measure("mark all", lambda: (inbox.mark_all("alice", ReadAllMessage.model_validate(
            {"type": "read.all", "version": "2.0"}), now), store.connections_of_users(["alice"])))
        measure("history, all read", lambda: inbox.history("alice", history, now))
        out["sizes"] = sizes
        return out


def local_stack(repeats: int) -> dict[str, Any]:
    import websockets

    from bench.local_stack import LocalUp
    from wsctl.local.token import issue_token
    from wsctl.local.up import free_port
    from wsctl.targets import Target

    workdir = tempfile.mkdtemp(prefix="realtime-bench-inbox-")
    up = LocalUp(Path(os.path.join(workdir, "local")), free_port(), free_port())
    try:
        ready_s = up.start()
        endpoints = up.ready
        outputs = json.loads((up.local_dir / "outputs.json").read_text())
        target = Target(env="local", region=endpoints["region"], outputs=outputs, aws_endpoint=endpoints["aws_endpoint"])
        sqs, dynamodb = target.client("sqs"), target.client("dynamodb")

        def stored(user_id: str) -> int:
            return dynamodb.query(TableName=outputs["notifications_table_name"], Select="COUNT",
                                  KeyConditionExpression="userId = :u AND begins_with(#c, :o)",
                                  ExpressionAttributeNames={"#c": "cursor"},
                                  ExpressionAttributeValues={":u": {"S": user_id}, ":o": {"S": "o"}})["Count"]

        # Two users: each has its own read budget (2,500 items per 10 min), which a page of 50 unread
        # (≈ 100 items) and a mark (≈ the unread count) spend.
        issued, marker = issue_token("bench-inbox", target), issue_token("bench-inbox-marks", target)
        for user, count in ((issued.sub, PAGE), (marker.sub, MARKS)):
            for index in range(count):
                sqs.send_message(QueueUrl=outputs["broadcast_queue_url"], MessageBody=json.dumps({
                    # request ids are idempotency keys across users: each user's must be its own
                    "id": f"inbox-{count}-{index}", "target": {"userIds": [user]},
                    "notification": {"kind": "moc.finalized", "title": f"Notification {index}", "body": "x" * 200}}))
        deadline = time.monotonic() + 600
        while (stored(issued.sub) < PAGE or stored(marker.sub) < MARKS) and time.monotonic() < deadline:
            time.sleep(1)
        if stored(issued.sub) < PAGE or stored(marker.sub) < MARKS:
            raise RuntimeError(f"stored {stored(issued.sub)}/{PAGE} and {stored(marker.sub)}/{MARKS} in 600 s")
        url = f"{endpoints['ws_url']}?token={issued.token}"
        marker_url = f"{endpoints['ws_url']}?token={marker.token}"

        async def history_and_ping() -> dict[str, Any]:
            histories, pings, parts = [], [], None
            for index in range(repeats):
                async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
                    started = time.perf_counter()
                    await ws.send(json.dumps({"type": "history", "version": "2.0", "id": f"h{index}",
                                              "data": {"limit": PAGE}}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        assert frame["type"] == "history", frame
                        if frame["data"]["part"] == frame["data"]["parts"]:
                            break
                    histories.append((time.perf_counter() - started) * 1000)
                    parts = frame["data"]["parts"]
                    started = time.perf_counter()
                    await ws.send(json.dumps({"type": "ping", "version": "2.0", "id": f"p{index}"}))
                    await asyncio.wait_for(ws.recv(), 30)
                    pings.append((time.perf_counter() - started) * 1000)
            return {"history": _stats(histories), "ping": _stats(pings), "parts": parts}

        async def mark_to_other_device() -> dict[str, Any]:
            samples = []
            async with websockets.connect(marker_url, max_size=None, ping_interval=None) as phone, \
                    websockets.connect(marker_url, max_size=None, ping_interval=None) as laptop:
                for index in range(MARKS):
                    started = time.perf_counter()
                    await phone.send(json.dumps({"type": "read", "version": "2.0", "id": f"m{index}",
                                                 "data": {"stream": "user", "offset": MARKS - index}}))
                    pushed = json.loads(await asyncio.wait_for(laptop.recv(), 30))
                    samples.append((time.perf_counter() - started) * 1000)
                    answer = json.loads(await asyncio.wait_for(phone.recv(), 30))  # the phone's own answer
                    assert pushed["type"] == answer["type"] == "read.state", (pushed, answer)
            return _stats(samples)

        measured = asyncio.run(history_and_ping())
        measured["mark"] = asyncio.run(mark_to_other_device())
        return {"ready_s": ready_s, **measured}
    finally:
        with contextlib.suppress(Exception):
            up.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _usd_per_million(rcu: float, wcu: float) -> float:
    return rcu * READ_USD_PER_MILLION + wcu * WRITE_USD_PER_MILLION


def run(quick: bool = False, local: bool = True, repeats: int | None = None) -> dict[str, Any]:
    started_at = time.monotonic()
    use_lambda_src()
    use_fake_aws()
    import sys

    from bench.common import REPO_ROOT
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    raw: dict[str, Any] = {"capacity": capacity()}
    local_error = None
    if local:
        try:
            raw["local"] = local_stack(repeats or (5 if quick else 20))
        except Exception as error:  # noqa: BLE001 - reported as not measured, the capacity figures stand
            local_error = f"{type(error).__name__}: {error}"
            raw["local_error"] = local_error
    return _result(raw, quick, started_at, local_error)


def _result(raw: dict[str, Any], quick: bool, started_at: float, local_error: str | None) -> dict[str, Any]:
    rows = []
    if "local" in raw:
        h, p, m = raw["local"]["history"], raw["local"]["ping"], raw["local"]["mark"]
        rows.append(row(f"History of {PAGE} through the local stack, p50 / p99", h["p50_ms"], "ms",
                        baseline=p["p50_ms"], baseline_label="ping→pong round trip p50 ms",
                        ratio=h["p50_ms"] / p["p50_ms"], ratio_label=f"{h['p50_ms'] / p['p50_ms']:.1f}×",
                        note=f"p99 {h['p99_ms']:.1f} ms (ping p99 {p['p99_ms']:.1f} ms), n={h['n']}, "
                             f"{raw['local']['parts']} frame(s) per page"))
        rows.append(row("Mark read on one device → read.state on the other, local stack, p50 / p99", m["p50_ms"], "ms",
                        baseline=p["p50_ms"], baseline_label="ping→pong round trip p50 ms", goal="p99 < 2,000 ms",
                        passed=m["p99_ms"] < 2000, note=f"p99 {m['p99_ms']:.1f} ms, n={m['n']}"))
    else:
        rows.append(row("Inbox through the local stack", None, "ms", note=f"not measured: {local_error}"))
    cap = raw["capacity"]
    for name in ("history, all unread", "history, all read", "mark one", "mark all"):
        c = cap[name]
        rows.append(row(f"Capacity per {name}", c["rcu"], "RCU", note=f"+ {c['wcu']:.0f} WCU; calls {c['calls']}; "
                        f"${_usd_per_million(c['rcu'], c['wcu']):.2f} per million at on-demand prices"))
    details = "\n".join([
        f"- Capacity: a user with {PAGE} user notifications and {GLOBALS} globals (≈ 0.5 KB frames), moto in "
        "process, every call of the real service priced by DynamoDB's rules (reads per started 4 KB of the "
        "items a query reads, strongly consistent; writes per started KB). \"all unread\" is the worst "
        "case of a page: the unread count reads the unread entries' keys (capacity follows the items, not "
        "the projection). The budget spend (an UpdateItem on the connection table) and, for marks, the "
        "membership read of the push are included. Pages split into frames of "
        f"{cap['sizes']['frames']} bytes.",
        f"- Prices: ${WRITE_USD_PER_MILLION}/M write units, ${READ_USD_PER_MILLION}/M read units (us-east-1 "
        "on-demand). At the scale model of ADR 0006 (1M connected users) one page per page load and one "
        "mark per notification read cost the per-million figures above per million page loads / marks.",
        "- Local stack: a new connection per history round (60 frames per minute per connection), the ping on "
        f"the same connection right after; {MARKS} marks of distinct notifications by a second user (its own "
        "read budget), each one written and pushed, timed from the phone's send to the laptop's receive.",
        "",
        table(["operation", "RCU", "WCU", "USD per million"],
              [[name, f"{cap[name]['rcu']:.1f}", f"{cap[name]['wcu']:.0f}",
                f"{_usd_per_million(cap[name]['rcu'], cap[name]['wcu']):.2f}"]
               for name in ("history, all unread", "history, all read", "mark one", "mark all")]),
    ])
    command = ".venv/bin/python -m bench.run --only inbox" + (" --quick" if quick else "")
    return result("inbox", "Inbox: history pages and read state (ADR 0020)", command, rows, details, raw,
                  started=started_at)
