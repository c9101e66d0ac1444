"""Browser tests: Debian's Chromium driven by Playwright against the session's local stack.

The dashboard of ``wsctl local up`` runs on a free port in tests (``local_stack.endpoints["dashboard_url"]``);
Chromium resolves the allowed origin ``localhost:5173`` to it (``--host-resolver-rules``), so the page is
loaded from the real server at ``http://localhost:5173`` and its WebSocket carries an Origin the local
stack accepts, exactly like a developer's ``make local`` on port 5173 — without taking port 5173 from one.
Screenshots land in ``build/evidence/`` (copies are shown in docs/web.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
PAGE_ORIGIN = "http://localhost:5173"
EVIDENCE = REPO_ROOT / "build" / "evidence"
#: axe-core from npm (a devDependency of @moc-realtime/client; npm hoists it to the root).
AXE = next(p for p in (REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js",
                       REPO_ROOT / "clients" / "web" / "node_modules" / "axe-core" / "axe.min.js") if p.exists())


@pytest.fixture(scope="session")
def browser(local_stack):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's (make test does)")
    with sync_playwright() as playwright:
        instance = launch_chromium(playwright, local_stack.endpoints["dashboard_url"])
        yield instance
        instance.close()


def launch_chromium(playwright: Any, dashboard_url: str) -> Any:
    """Debian's Chromium, with ``localhost:5173`` resolving to wherever the dashboard really listens."""
    port = urlsplit(dashboard_url).port
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", f"--host-resolver-rules=MAP localhost:{urlsplit(PAGE_ORIGIN).port} 127.0.0.1:{port}"])


class Dashboard:
    """One browser context (one browser profile: its tabs share Web Locks and BroadcastChannel)."""

    def __init__(self, context: Any, stack: Any):
        self.context = context
        self.stack = stack

    def open(self, user: str | None = None) -> Any:
        from playwright.sync_api import expect

        page = self.context.new_page()
        page.goto(f"{PAGE_ORIGIN}/")
        if user is not None:
            page.get_by_label("User").fill(user)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("status")).to_have_text("Connected", timeout=15_000)
        return page


@pytest.fixture
def dashboard(browser, local_stack):
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    try:
        yield Dashboard(context, local_stack)
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    path = EVIDENCE / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def kill_gateway_sockets(port: int) -> None:
    """A network loss without a close frame: the established TCP connections to the gateway die (1006)."""
    subprocess.run(["ss", "-K", "-t", "state", "established", f"( dport = :{port} )"], check=True,
                   capture_output=True, timeout=10)


def publisher_env(local_dir: Path, path: str) -> dict[str, str]:
    """What a Vercel function's environment holds locally: the `.env.local` that `wsctl local up` wrote."""
    env = {"PATH": path}
    for line in (local_dir / ".env.local").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def notify_with_publisher(stack: Any, title: str, user_id: str) -> int:
    """Runs the real @moc-realtime/publisher (AWS SDK for JS) with the stack's .env.local; returns the epoch ms
    just before notify() was called."""
    env = publisher_env(stack.local_dir, stack.env["PATH"])
    script = ("import { notify } from '@moc-realtime/publisher';"
              "const request = JSON.parse(process.argv[1]);"
              "const calledAt = Date.now();"
              "const result = await notify(request);"
              "console.log(JSON.stringify({ calledAt, ...result }));")
    request = {"target": {"userIds": [user_id]}, "notification": {"kind": "moc.finalized", "title": title,
                                                                   "severity": "success", "link": "/mocs/42"}}
    node = shutil.which("node", path=env["PATH"]) or "node"
    done = subprocess.run([node, "--input-type=module", "-e", script, json.dumps(request)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["calledAt"]


def watch_alerts(page: Any) -> None:
    """Records when each toast (role=alert) first appears, by its text, on the page's clock (epoch ms; the
    same machine clock as the publisher's Date.now())."""
    page.evaluate("""() => {
        window.__alertsSeen = window.__alertsSeen || {};
        const record = () => document.querySelectorAll('[role="alert"]').forEach((el) => {
            if (!(el.textContent in window.__alertsSeen)) window.__alertsSeen[el.textContent] = Date.now();
        });
        new MutationObserver(record).observe(document.body, { childList: true, subtree: true });
        record();
    }""")


FIND_ALERT = """(title) => {
    const hit = Object.entries(window.__alertsSeen || {}).find(([text]) => text.includes(title));
    return hit ? hit[1] : null;
}"""


def alert_seen_at(page: Any, title: str, timeout: float = 10) -> int | None:
    """When a toast containing ``title`` first appeared (see watch_alerts), waiting up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        seen = page.evaluate(FIND_ALERT, title)
        if seen is not None or time.monotonic() >= deadline:
            return seen
        page.wait_for_timeout(50)
