"""The issue's "tests in a real browser": the dashboard of `wsctl local up` in Chromium against the local stack."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.support import connection_ids, enqueue_broadcast, wait_until
from tests.e2e.web.conftest import (
    AXE,
    PAGE_ORIGIN,
    alert_seen_at,
    kill_gateway_sockets,
    notify_with_publisher,
    screenshot,
    watch_alerts,
)

pytestmark = pytest.mark.e2e

TOAST_WITHIN_MS = 2000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_sign_in_connects_and_notify_and_wsctl_broadcast_toast_within_two_seconds(dashboard, local_stack):
    # GIVEN a signed-in dashboard
    user = unique("web")
    page = dashboard.open(user)
    screenshot(page, "connected")
    watch_alerts(page)
    user_id = local_stack.user_id(user)

    # WHEN the web app's server calls notify() (@moc-realtime/publisher, the AWS SDK for JS)
    called_at = notify_with_publisher(local_stack, "Your MOC is live", user_id)
    # THEN a role=alert toast shows it within 2 s of the call
    seen = alert_seen_at(page, "Your MOC is live")
    assert seen is not None and seen - called_at <= TOAST_WITHIN_MS, (called_at, seen)
    expect(page.get_by_role("alert").filter(has_text="Your MOC is live")).to_be_visible()
    screenshot(page, "toast")

    # WHEN an operator runs wsctl broadcast THEN the toast follows within 2 s of the message being queued
    done = local_stack.wsctl("broadcast", "--env", "local", "--user", user_id, "--kind", "set.created",
                             "--title", "New set 10305")
    queued_at = time.time() * 1000
    assert done.returncode == 0, done.stderr
    seen = alert_seen_at(page, "New set 10305")
    assert seen is not None and seen - queued_at <= TOAST_WITHIN_MS, (queued_at, seen)


def _log(page) -> str:
    return page.get_by_role("log", name="Connection log").inner_text()


def _attempt_delay(page, attempt: int) -> float:
    delays = [float(d) for n, d in re.findall(r"reconnect attempt (\d+) in ([\d.]+) s", _log(page)) if int(n) == attempt]
    assert delays, f"no reconnect attempt {attempt} in the log:\n{_log(page)}"
    return delays[-1]


def test_network_loss_reconnects_on_the_backoff_schedule(dashboard, local_stack):
    # GIVEN a connected tab
    page = dashboard.open(unique("net"))
    status = page.get_by_role("status")
    port = urlsplit(local_stack.ws_url).port

    # WHEN the network goes away without a close frame (offline, and the open socket killed)
    dashboard.context.set_offline(True)
    kill_gateway_sockets(port)
    # THEN "Offline", and while offline it waits for the network instead of counting attempts
    expect(status).to_have_text("Offline", timeout=2_000)
    screenshot(page, "offline")
    page.wait_for_timeout(3_000)
    expect(status).to_have_text("Offline")
    assert "reconnect attempt" not in _log(page)
    # AND back online it reconnects at once
    dashboard.context.set_offline(False)
    expect(status).to_have_text("Connected", timeout=5_000)

    # WHEN the connection keeps dying right after it opened (no stable minute in between)
    # THEN each reconnect waits longer: attempt n after d/2..d with d = 2^(n-1) s
    for attempt, longest in ((1, 1.0), (2, 2.0), (3, 4.0)):
        kill_gateway_sockets(port)
        expect(status).to_have_text("Reconnecting", timeout=5_000)
        if attempt == 1:
            screenshot(page, "reconnecting")
        lost = time.monotonic()
        expect(status).to_have_text("Connected", timeout=int(longest * 1000) + 5_000)
        waited = time.monotonic() - lost
        delay = _attempt_delay(page, attempt)
        assert longest / 2 <= delay <= longest, delay
        assert waited >= delay - 0.25, (waited, delay)


def test_devtools_offline_alone_leaves_connected_within_two_seconds_and_comes_back(dashboard, local_stack):
    # GIVEN a connected tab
    page = dashboard.open(unique("devtools"))
    status = page.get_by_role("status")
    # WHEN only the browser's network emulation goes offline (no socket is killed: the seed's scenario)
    dashboard.context.set_offline(True)
    started = time.monotonic()
    # THEN the indicator leaves "Connected" within 2 s
    expect(status).not_to_have_text("Connected", timeout=2_000)
    assert time.monotonic() - started < 2.5
    expect(status).to_have_text("Offline")
    # AND comes back when the network does
    dashboard.context.set_offline(False)
    expect(status).to_have_text("Connected", timeout=5_000)


def test_a_reload_resumes_from_the_stored_positions_and_toasts_nothing_twice(dashboard, local_stack):
    # GIVEN a tab that has shown two notifications
    user = unique("reload")
    page = dashboard.open(user)
    watch_alerts(page)
    user_id = local_stack.user_id(user)
    for title in ("First before reload", "Second before reload"):
        enqueue_broadcast(local_stack, {"userIds": [user_id]}, title=title)
        assert alert_seen_at(page, title) is not None
    # WHEN one more is sent while the page reloads, and the user signs in again
    page.reload()
    enqueue_broadcast(local_stack, {"userIds": [user_id]}, title="Sent during the reload")
    watch_alerts(page)
    page.get_by_label("User").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text("Connected", timeout=15_000)
    # THEN it resumes from the positions kept in the browser: the missed one is toasted, recovered true
    assert alert_seen_at(page, "Sent during the reload") is not None, _log(page)
    expect(page.get_by_role("log", name="Connection log")).to_contain_text("resumed: recovered true", timeout=5_000)
    # AND the two it had shown before the reload are not toasted again
    page.wait_for_timeout(1_500)
    for title in ("First before reload", "Second before reload"):
        assert alert_seen_at(page, title, timeout=0.5) is None, f"{title} toasted twice"


def test_strict_mode_opens_one_socket(dashboard, local_stack):
    # GIVEN the dashboard, which renders its provider under React.StrictMode (double mount in development)
    page = dashboard.context.new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(PAGE_ORIGIN + "/")
    # WHEN the user signs in
    page.get_by_label("User").fill(unique("strict"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text("Connected", timeout=15_000)
    page.wait_for_timeout(1_000)
    # THEN exactly one WebSocket was opened
    assert len(sockets) == 1, sockets


def test_a_notification_sent_during_the_outage_is_shown_after_the_reconnect(dashboard, local_stack):
    # GIVEN a connected tab that has received one notification (so it holds a cursor)
    user = unique("outage")
    page = dashboard.open(user)
    watch_alerts(page)
    user_id = local_stack.user_id(user)
    enqueue_broadcast(local_stack, {"userIds": [user_id]}, title="Before the outage")
    assert alert_seen_at(page, "Before the outage") is not None

    # WHEN the network is lost and a notification is sent meanwhile
    dashboard.context.set_offline(True)
    kill_gateway_sockets(urlsplit(local_stack.ws_url).port)
    expect(page.get_by_role("status")).to_have_text("Offline", timeout=5_000)
    enqueue_broadcast(local_stack, {"userIds": [user_id]}, title="Sent during the outage")
    page.wait_for_timeout(2_000)
    dashboard.context.set_offline(False)

    # THEN after the reconnect it is shown (replayed after resume), and nothing is shown twice
    expect(page.get_by_role("status")).to_have_text("Connected", timeout=5_000)
    assert alert_seen_at(page, "Sent during the outage") is not None, _log(page)
    # the replayed toast can show before the resumed frame that follows it is logged: wait for the line
    expect(page.get_by_role("log", name="Connection log")).to_contain_text("resumed: recovered true", timeout=5_000)
    page.get_by_role("button", name=re.compile(r"^Notifications")).click()
    center = page.get_by_role("list", name="Recent notifications")
    # (the inbox also lists any global announcement of the last 24 h sent by other tests: ADR 0020)
    expect(center.get_by_role("listitem").filter(has_text=re.compile(r"Before the outage|Sent during the outage"))
           ).to_have_count(2)


def test_a_replay_of_more_than_three_is_one_summary_toast_that_opens_the_center(dashboard, local_stack):
    # GIVEN a connected tab that has received one notification (so it can resume)
    user = unique("replay")
    page = dashboard.open(user)
    user_id = local_stack.user_id(user)
    enqueue_broadcast(local_stack, {"userIds": [user_id]}, title="Before the gap")
    expect(page.get_by_role("alert").filter(has_text="Before the gap")).to_be_visible(timeout=5_000)
    page.get_by_role("button", name="Dismiss: Before the gap").click()

    # WHEN five notifications are sent while its connection is down
    dashboard.context.set_offline(True)
    kill_gateway_sockets(urlsplit(local_stack.ws_url).port)
    expect(page.get_by_role("status")).to_have_text("Offline", timeout=5_000)
    for n in range(5):
        enqueue_broadcast(local_stack, {"userIds": [user_id]}, title=f"Missed {n}")
    page.wait_for_timeout(2_000)
    dashboard.context.set_offline(False)

    # THEN the replay is one toast, "5 new notifications", and its button opens the center listing all six
    expect(page.get_by_role("status")).to_have_text("Connected", timeout=5_000)
    expect(page.get_by_role("alert")).to_have_count(1, timeout=10_000)
    summary = page.get_by_role("button", name="5 new notifications", exact=True)
    expect(summary).to_be_visible()
    screenshot(page, "summary")
    summary.click()
    expect(page.get_by_role("button", name=re.compile(r"^Notifications"))).to_have_attribute("aria-expanded", "true")
    # (the inbox also lists any global announcement of the last 24 h sent by other tests: ADR 0020)
    listed = page.get_by_role("list", name="Recent notifications").get_by_role("listitem")
    expect(listed.filter(has_text=re.compile(r"Before the gap|Missed \d"))).to_have_count(6)
    expect(page.get_by_role("alert")).to_have_count(0)


def test_token_refresh_keeps_the_tab_connected_past_its_first_token(dashboard, local_stack):
    # GIVEN a tab signed in with a 30-s token (REALTIME_LOCAL_TOKEN_LIFETIME_SECONDS in the e2e settings)
    user = unique("refresh")
    page = dashboard.open(user)
    user_id = local_stack.user_id(user)
    assert wait_until(lambda: len(connection_ids(local_stack, user_id)) == 1, timeout=5)
    first = connection_ids(local_stack, user_id)

    # WHEN it stays open well past the first token's expiry, with the sweeper running every 2 s
    states = set()
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        states.add(page.get_by_role("status").inner_text())
        page.wait_for_timeout(500)

    # THEN it never left "Connected", refreshed in-band, and is still the same connection
    assert states == {"Connected"}, (states, _log(page))
    assert _log(page).count("token refreshed") >= 2, _log(page)
    assert connection_ids(local_stack, user_id) == first


def test_two_tabs_show_one_toast_per_notification(dashboard, local_stack):
    # GIVEN two tabs of one browser signed in as the same user
    user = unique("tabs")
    tabs = [dashboard.open(user), dashboard.open(user)]
    tabs[1].bring_to_front()
    user_id = local_stack.user_id(user)
    for tab in tabs:
        watch_alerts(tab)
    # THEN they share one connection (ADR 0009)
    assert wait_until(lambda: len(connection_ids(local_stack, user_id)) == 1, timeout=5)

    # WHEN three notifications are sent
    titles = [f"Tab test {n}" for n in range(3)]
    for title in titles:
        enqueue_broadcast(local_stack, {"userIds": [user_id]}, title=title)

    # THEN each is a toast in exactly one tab, and both tabs list all three
    for title in titles:
        assert any(alert_seen_at(tab, title, timeout=5) is not None for tab in tabs), title
    tabs[0].wait_for_timeout(1_000)
    shown = {title: sum(alert_seen_at(tab, title, timeout=0) is not None for tab in tabs) for title in titles}
    assert shown == dict.fromkeys(titles, 1)
    # (the unread count is the server's: the three, and any global announcement of the last 24 h, ADR 0020)
    toggles = [tab.get_by_role("button", name=re.compile(r"^Notifications")) for tab in tabs]
    expect(toggles[0]).to_have_text(re.compile(r"Notifications (?:[3-9]|[1-9]\d+) unread"))
    for toggle in toggles:
        expect(toggle).to_have_text(toggles[0].inner_text())
    assert len(connection_ids(local_stack, user_id)) == 1


def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document)).violations.map(
        (v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }))""")


def test_axe_finds_no_critical_or_serious_violation(dashboard, local_stack):
    # GIVEN the sign-in page
    page = dashboard.open()
    assert [v for v in _axe(page) if v["impact"] in ("critical", "serious")] == []

    # GIVEN a signed-in tab with a toast on screen and the notification center open
    user = unique("axe")
    page = dashboard.open(user)
    enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, kind="moc.upload.completed", title="Upload finished")
    expect(page.get_by_role("alert").filter(has_text="Upload finished")).to_be_visible(timeout=5_000)
    page.get_by_role("button", name=re.compile(r"^Notifications")).click()
    expect(page.get_by_role("region", name="Notification center")).to_be_visible()
    screenshot(page, "center")

    # THEN axe-core finds nothing critical or serious
    assert [v for v in _axe(page) if v["impact"] in ("critical", "serious")] == []


def _tab_to(page, locator, presses: int = 25) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if locator.evaluate("(el) => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {locator}")


def test_keyboard_only_walk_through_the_notification_center(dashboard, local_stack):
    # GIVEN three notifications
    user = unique("keys")
    page = dashboard.open(user)
    for n in range(3):
        enqueue_broadcast(local_stack, {"userIds": [local_stack.user_id(user)]}, title=f"Keyboard {n}")
    expect(page.get_by_role("alert")).to_have_count(3, timeout=5_000)
    toggle = page.get_by_role("button", name=re.compile(r"^Notifications"))

    # WHEN the user tabs to the center and opens it with Enter THEN the newest notification has focus
    _tab_to(page, toggle)
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    # The notifications themselves (each unread one also has its "Mark as read: …" control, ADR 0020); the
    # inbox lists the user's history too: global announcements of the last 24 h sent by other tests.
    items = page.get_by_role("list", name="Recent notifications").get_by_role("button", name=re.compile(r"^(Unread|Read): "))
    expect(items.nth(0)).to_be_focused()
    expect(items.nth(0)).to_contain_text("Keyboard 2")
    expect(toggle).to_have_text(re.compile(r"Notifications (?:[3-9]|[1-9]\d+) unread"))
    unread = int(re.search(r"(\d+) unread", toggle.inner_text()).group(1))
    last = items.count() - 1

    # WHEN arrows, End and Home move THEN focus follows, bounded at both ends
    for key, index in (("ArrowDown", 1), ("ArrowDown", 2), ("End", last), ("ArrowDown", last), ("Home", 0), ("ArrowUp", 0),
                       ("End", last)):
        page.keyboard.press(key)
        expect(items.nth(index)).to_be_focused()

    # WHEN Enter on one THEN it is read; Space on another too (the count is the server's)
    page.keyboard.press("Enter")
    expect(toggle).to_have_text(f"Notifications {unread - 1} unread")
    page.keyboard.press("Home")
    page.keyboard.press(" ")
    expect(toggle).to_have_text(f"Notifications {unread - 2} unread")
    # AND Delete marks the focused one read and moves on to the next
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_contain_text("Unread: ")
    page.keyboard.press("Delete")
    expect(toggle).to_have_text(f"Notifications {unread - 3} unread")
    expect(items.nth(2)).to_be_focused()

    # WHEN Escape THEN the panel closes and focus returns to the toggle
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()

    # AND a toast is dismissed with the keyboard alone
    _tab_to(page, page.get_by_role("button", name="Dismiss: Keyboard 0"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_count(2)
