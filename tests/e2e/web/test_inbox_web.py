"""Issue 19's browser proofs: the notification center as an inbox, in Chromium against the local stack.

Two browser contexts are two devices of one user (no shared storage, locks or channels). A reload lists the
earlier notifications without toasting them; the second device lists the same items with the same unread
count (the server's); "Mark all as read" on one clears the count on the other within 2 s, and it stays
cleared after a reload; axe finds nothing critical or serious with the center open.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.support import enqueue_broadcast
from tests.e2e.web.conftest import AXE, Dashboard, alert_seen_at, screenshot, watch_alerts

pytestmark = pytest.mark.e2e

TITLES = ("Inbox first", "Inbox second")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_in(page, user: str) -> None:
    page.get_by_label("User").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text("Connected", timeout=15_000)


def toggle(page):
    return page.get_by_role("button", name=re.compile(r"^Notifications"))


def unread(page) -> int:
    return int(re.search(r"(\d+) unread", toggle(page).inner_text()).group(1))


def listed(page) -> str:
    return page.get_by_role("list", name="Recent notifications").inner_text()


def open_center(page) -> None:
    if toggle(page).get_attribute("aria-expanded") != "true":
        toggle(page).click()
    expect(page.get_by_role("region", name="Notification center")).to_be_visible()


def test_the_center_is_an_inbox_shared_by_two_devices(browser, local_stack):
    phone_context = browser.new_context(viewport={"width": 1100, "height": 720})
    laptop_context = browser.new_context(viewport={"width": 1100, "height": 720})
    try:
        user = unique("inbox")
        # GIVEN two notifications shown on the phone
        phone = Dashboard(phone_context, local_stack).open(user)
        watch_alerts(phone)
        user_id = local_stack.user_id(user)
        for title in TITLES:
            enqueue_broadcast(local_stack, {"userIds": [user_id]}, title=title)
            assert alert_seen_at(phone, title) is not None
        # WHEN the phone reloads and signs in again
        phone.reload()
        watch_alerts(phone)
        sign_in(phone, user)
        # THEN its center lists both, unread, and toasts neither
        expect(toggle(phone)).to_have_text(re.compile(r"Notifications [1-9]\d* unread"), timeout=5_000)
        open_center(phone)
        for title in TITLES:
            expect(phone.get_by_role("list", name="Recent notifications")).to_contain_text(title)
        phone.wait_for_timeout(1_000)
        for title in TITLES:
            assert alert_seen_at(phone, title, timeout=0) is None, f"{title} toasted after the reload"
        count = unread(phone)
        assert count >= 2  # the user's two, and any global announcement of the last 24 h

        # WHEN the same user signs in on a second device
        laptop = Dashboard(laptop_context, local_stack).open(user)
        watch_alerts(laptop)
        # THEN it lists the same items with the same unread count (the server's)
        expect(toggle(laptop)).to_have_text(f"Notifications {count} unread", timeout=5_000)
        open_center(laptop)
        for title in TITLES:
            expect(laptop.get_by_role("list", name="Recent notifications")).to_contain_text(title)
        expect(laptop.get_by_role("button", name=f"Mark as read: {TITLES[0]}")).to_be_visible()

        # WHEN "Mark all as read" on the phone THEN the laptop's count is 0 within 2 s
        clicked = time.monotonic()
        phone.get_by_role("button", name="Mark all as read").click()
        expect(toggle(laptop)).to_have_text("Notifications 0 unread", timeout=2_000)
        assert time.monotonic() - clicked < 2.5
        expect(toggle(phone)).to_have_text("Notifications 0 unread")
        screenshot(laptop, "inbox-read-elsewhere")

        # AND it stays cleared after a reload of the laptop, with the items still listed (read)
        laptop.reload()
        sign_in(laptop, user)
        expect(toggle(laptop)).to_have_text("Notifications 0 unread", timeout=5_000)
        open_center(laptop)
        for title in TITLES:
            expect(laptop.get_by_role("list", name="Recent notifications")).to_contain_text(title)
        assert "Unread:" not in listed(laptop)

        # AND axe finds nothing critical or serious with the center open (items, marks, load older)
        enqueue_broadcast(local_stack, {"userIds": [user_id]}, title="Inbox third")
        expect(toggle(laptop)).to_have_text("Notifications 1 unread", timeout=5_000)
        expect(laptop.get_by_role("button", name="Mark as read: Inbox third")).to_be_visible()
        screenshot(laptop, "inbox-center")
        laptop.add_script_tag(path=str(AXE))
        violations = laptop.evaluate("""async () => (await axe.run(document)).violations.map(
            (v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }))""")
        assert [v for v in violations if v["impact"] in ("critical", "serious")] == []
        # AND one "Mark as read" is synced too
        laptop.get_by_role("button", name="Mark as read: Inbox third").click()
        expect(toggle(phone)).to_have_text("Notifications 0 unread", timeout=2_000)
    finally:
        phone_context.close()
        laptop_context.close()
