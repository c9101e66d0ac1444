import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { RealtimeClient } from "../src/client.js";
import type { RealtimeEvents } from "../src/events.js";
import { FakeBrowser, FakeClock, FakeNetwork, FakeSocket, type FakeTab, fakeToken, notification, settle } from "./fakes.js";

function tab(browser: FakeBrowser, clock: FakeClock) {
  const transport = browser.tab();
  const client = new RealtimeClient({
    url: "ws://127.0.0.1:3001/local",
    getToken: async () => fakeToken(clock.now(), 3600),
    tabs: transport,
    WebSocket: FakeSocket,
    clock,
    network: new FakeNetwork(),
    random: Math.random,
  });
  const notifications: Array<RealtimeEvents["notification"]> = [];
  client.on("notification", (n) => notifications.push(n));
  return { client, transport, notifications };
}

const toasts = (...tabs: Array<{ notifications: Array<RealtimeEvents["notification"]> }>) =>
  tabs.flatMap((t) => t.notifications.filter((n) => n.toast).map((n) => n.notification.id));

/** Two started tabs of one browser; the first one leads and its socket is open. */
async function twoConnectedTabs() {
  const clock = new FakeClock();
  const browser = new FakeBrowser();
  const first = tab(browser, clock);
  const second = tab(browser, clock);
  first.client.start();
  second.client.start();
  await settle();
  assert.equal(FakeSocket.instances.length, 1, "only the leader connects");
  assert.equal(first.client.leader, true);
  FakeSocket.last().open();
  await settle();
  return { first, second };
}

beforeEach(() => FakeSocket.reset());

test("two tabs share one connection: every tab gets each notification once, one tab shows the toast", async () => {
  // GIVEN two tabs of one browser, the second one in front
  const { first, second } = await twoConnectedTabs();
  assert.equal(second.client.state, "connected", "the follower mirrors the leader's state");
  (second.transport as FakeTab).focus();
  await settle();

  // WHEN two notifications arrive, one of them twice (a redelivery)
  const socket = FakeSocket.last();
  socket.receive(notification("n1", "c1"));
  socket.receive(notification("n1", "c1"));
  (first.transport as FakeTab).focus();
  await settle();
  socket.receive(notification("n2", "c2"));
  await settle();

  // THEN each tab has each one once, and each notification was a toast in exactly one tab: the one in front
  assert.deepEqual(first.notifications.map((n) => n.notification.id), ["n1", "n2"]);
  assert.deepEqual(second.notifications.map((n) => n.notification.id), ["n1", "n2"]);
  assert.deepEqual(toasts(first, second).sort(), ["n1", "n2"]);
  assert.deepEqual(toasts(second), ["n1"]);
  assert.deepEqual(toasts(first), ["n2"]);
});

test("when the leader closes, the next tab connects and resumes from the cursor it was relayed", async () => {
  const { first, second } = await twoConnectedTabs();
  FakeSocket.last().receive(notification("n1", "c0001"));
  FakeSocket.last().receive(notification("n2", "c0002"));
  await settle();

  first.client.stop();
  await settle();

  assert.equal(second.client.leader, true);
  assert.equal(FakeSocket.instances.length, 2);
  const takeover = FakeSocket.last();
  takeover.open();
  assert.deepEqual(takeover.sentOfType("resume")[0]!.data, { after: "c0002" });
  takeover.receive(notification("n2", "c0002")); // replayed, already relayed before: dropped
  takeover.receive(notification("n3", "c0003"));
  await settle();
  assert.deepEqual(second.notifications.map((n) => n.notification.id), ["n1", "n2", "n3"]);
  assert.deepEqual(second.notifications.map((n) => n.toast), [false, false, true], "the last tab standing shows the toasts");
});

test("a tab opened later learns the leader's state and cursor", async () => {
  const clock = new FakeClock();
  const browser = new FakeBrowser();
  const first = tab(browser, clock);
  first.client.start();
  await settle();
  FakeSocket.last().open();
  FakeSocket.last().receive(notification("n1", "c0007"));
  const late = tab(browser, clock);
  late.client.start();
  await settle();
  assert.equal(late.client.state, "connected");
  assert.equal(late.client.lastCursor, "c0007");
  assert.equal(late.client.leader, false);
});
