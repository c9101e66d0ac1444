"""Benchmark 7: the web side — ``notify()`` → toast latency through the local stack (the bundle sizes are
benchmark 8, bench/web_size.py).

Latency: a fresh ``wsctl local up`` (``bench.local_stack.LocalUp``, its own temporary state folder),
the dashboard opened in Debian's Chromium as ``http://localhost:5173`` (``--host-resolver-rules``, as in
tests/e2e/web) and signed in; one long-lived Node process calls ``notify()`` of ``@moc-realtime/publisher``
(warm, like a Vercel function instance) for each of 50 notifications, one at a time. Latency =
the page's ``Date.now()`` when the ``role="alert"`` toast appears minus Node's ``Date.now()`` just before
``notify()`` (one machine clock). Baseline in the same run: a bare ``websockets`` client connected as the
same user, timing the same notification's frame — the delivery floor without browser, client or React.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, fmt, median, percentile, result, row, table

GOAL_TOAST_P99_MS = 2000.0
PUBLISHER_LOOP = """
import { createInterface } from 'node:readline';
import { notify } from '@moc-realtime/publisher';
for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line);
  const calledAt = Date.now();
  const { id } = await notify(request);
  console.log(JSON.stringify({ id, calledAt }));
}
"""


class _RawListener:
    """The baseline: a bare WebSocket client of the same user, timing each notification by its id."""

    def __init__(self, url: str, token: str, origin: str):
        self.url, self.token, self.origin = url, token, origin
        self.arrivals: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        import websockets

        async with websockets.connect(f"{self.url}?token={self.token}", origin=self.origin,
                                      ping_interval=None) as ws:
            self.ready.set()
            while not self.stop.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if frame.get("type") == "notification":
                    self.arrivals.setdefault(frame["id"], time.time() * 1000)


def _latencies(ready: dict[str, Any], local_dir: Path, count: int) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.web.conftest import (
        PAGE_ORIGIN,
        alert_seen_at,
        launch_chromium,
        publisher_env,
        watch_alerts,
    )
    from wsctl.local.token import issue_token
    from wsctl.targets import Target

    outputs = json.loads((local_dir / "outputs.json").read_text())
    target = Target(env="local", region=ready["region"], outputs=outputs, aws_endpoint=ready["aws_endpoint"])
    user = "bench-web"
    issued = issue_token(user, target)
    env = publisher_env(local_dir, str(REPO_ROOT / "node_modules" / ".bin") + ":/usr/local/bin:/usr/bin:/bin")
    publisher = subprocess.Popen([shutil.which("node") or "node", "--input-type=module", "-e", PUBLISHER_LOOP],
                                 cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    raw = _RawListener(ready["ws_url"], issued.token, PAGE_ORIGIN)
    raw.thread.start()
    toast_ms: list[float] = []
    raw_ms: list[float] = []
    try:
        assert raw.ready.wait(30), "the baseline client did not connect"
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, ready["dashboard_url"])
            page = browser.new_page()
            page.goto(f"{PAGE_ORIGIN}/")
            page.get_by_label("User").fill(user)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("status")).to_have_text("Connected", timeout=30_000)
            watch_alerts(page)
            for n in range(count):
                title = f"Latency {n:03d}"
                request = {"target": {"userIds": [issued.sub]}, "notification": {"kind": "set.created", "title": title}}
                assert publisher.stdin is not None and publisher.stdout is not None
                publisher.stdin.write(json.dumps(request) + "\n")
                publisher.stdin.flush()
                sent = json.loads(publisher.stdout.readline())
                seen = alert_seen_at(page, title, timeout=10)
                deadline = time.monotonic() + 5
                while sent["id"] not in raw.arrivals and time.monotonic() < deadline:
                    time.sleep(0.01)
                if seen is None or sent["id"] not in raw.arrivals:
                    raise RuntimeError(f"notification {n} did not arrive (toast {seen}, raw {sent['id'] in raw.arrivals})")
                toast_ms.append(seen - sent["calledAt"])
                raw_ms.append(raw.arrivals[sent["id"]] - sent["calledAt"])
            browser.close()
    finally:
        raw.stop.set()
        raw.thread.join(5)
        if publisher.stdin:
            publisher.stdin.close()
        publisher.wait(10)
    return {"toast_ms": toast_ms, "raw_ms": raw_ms}


def run(quick: bool = False) -> dict[str, Any]:
    from bench.local_stack import LocalUp
    from wsctl.local.up import free_port

    started = time.monotonic()
    count = 10 if quick else 50
    root = Path(tempfile.mkdtemp(prefix="bench-web-"))
    up = LocalUp(root / "local", free_port(), free_port())
    up.argv += ["--dashboard-port", str(free_port())]
    try:
        ready_s = up.start()
        assert up.ready is not None
        measured = _latencies(up.ready, root / "local", count)
    finally:
        up.stop()
        shutil.rmtree(root, ignore_errors=True)
    toast, raw = measured["toast_ms"], measured["raw_ms"]
    p50, p99 = percentile(toast, 50), percentile(toast, 99)
    raw50, raw99 = percentile(raw, 50), percentile(raw, 99)
    rows = [
        row(f"notify() → toast p50 ({count} notifications)", p50, "ms", baseline=raw50,
            baseline_label="bare WebSocket client p50", ratio=p50 / raw50 if raw50 else None,
            ratio_label=f"{p50 / raw50:.2f}× bare" if raw50 else ""),
        row(f"notify() → toast p99 ({count} notifications)", p99, "ms", baseline=raw99,
            baseline_label="bare WebSocket client p99", ratio=p99 / raw99 if raw99 else None,
            ratio_label=f"{p99 / raw99:.2f}× bare" if raw99 else "", goal=f"≤ {GOAL_TOAST_P99_MS:.0f} ms",
            passed=p99 <= GOAL_TOAST_P99_MS),
    ]
    details = "\n".join([
        f"Latency through the local stack (READY in {ready_s:.0f} s; {count} notifications one at a time, "
        "each from a warm Node process calling `notify()`):",
        "",
        table(["measured at", "p50", "p99", "max"],
              [["toast in Chromium (@moc-realtime/client + React)", fmt(p50), fmt(p99), fmt(max(toast))],
               ["bare websockets client (baseline)", fmt(raw50), fmt(raw99), fmt(max(raw))]]),
        "",
        "The difference between the two rows is the browser client's share (parse, validate, dedup, relay, render); "
        "the rest is the pipeline (SQS poll, broadcast function, @connections post) both share. The baseline "
        "client runs in the Python process that also drives Playwright, so its timestamps can wait for that "
        "process's GIL: a toast at or below the bare client means the browser side adds no measurable latency.",
    ])
    return result("web_client", "Web client: notify() → toast latency",
                  "python -m bench.run --only web_client", rows, details,
                  raw={"toast_ms": toast, "raw_ms": raw, "median_toast_ms": median(toast)},
                  started=started)
