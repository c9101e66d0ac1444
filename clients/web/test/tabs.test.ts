import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { RealtimeClient } from "../src/client.js";
import type { RealtimeEvents } from "../src/events.js";
import { AuthRequiredError } from "../src/token.js";
import { FakeBrowser, FakeClock, FakeNetwork, FakeServer, FakeSocket, type FakeTab, fakeToken, MemoryStorage, notification, settle } from "./fakes.js";

function tab(browser: FakeBrowser, clock: FakeClock, getToken?: () => Promise<string>) {
  const transport = browser.tab();
  const client = new RealtimeClient({
    url: "ws://127.0.0.1:3001/local",
    getToken: getToken ?? (async () => fakeToken(clock.now(), 3600)),
    tabs: transport,
    WebSocket: FakeSocket,
    clock,
    network: new FakeNetwork(),
    random: Math.random,
    storage: new MemoryStorage(),
  });
  const notifications: Array<RealtimeEvents["notification"]> = [];
  const authRequired: unknown[] = [];
  const invalid: unknown[] = [];
  client.on("notification", (n) => notifications.push(n));
  client.on("auth-required", (e) => authRequired.push(e));
  client.on("invalid-frame", (e) => invalid.push(e));
  return { client, transport, notifications, authRequired, invalid };
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

test("when the leader closes, the next tab connects and resumes from the positions it was relayed", async () => {
  const { first, second } = await twoConnectedTabs();
  const server = new FakeServer();
  server.answerResume(FakeSocket.last());
  const [n1, n2, n3] = [server.publish(), server.publish(), server.publish()];
  FakeSocket.last().receive(n1);
  FakeSocket.last().receive(n3); // n2 not yet here: held
  await settle();

  first.client.stop();
  await settle();

  assert.equal(second.client.leader, true);
  assert.equal(FakeSocket.instances.length, 2);
  const takeover = FakeSocket.last();
  takeover.open();
  assert.deepEqual((takeover.sentOfType("resume")[0]!.data as { positions: { user: unknown } }).positions.user, { epoch: "uepoch1", offset: 1 });
  server.answerResume(takeover); // replays n2 and n3; n3 was relayed before: dropped
  await settle();
  assert.deepEqual(second.notifications.map((n) => n.notification.id), [n1.id, n3.id, n2.id]);
  assert.deepEqual(second.notifications.map((n) => n.toast), [false, false, true], "the last tab standing shows the toasts");
});

test("a tab opened later learns the leader's state and positions", async () => {
  const clock = new FakeClock();
  const browser = new FakeBrowser();
  const first = tab(browser, clock);
  first.client.start();
  await settle();
  FakeSocket.last().open();
  const server = new FakeServer();
  server.publish();
  server.answerResume(FakeSocket.last());
  FakeSocket.last().receive(server.publish());
  const late = tab(browser, clock);
  late.client.start();
  await settle();
  assert.equal(late.client.state, "connected");
  assert.deepEqual(late.client.positions.positions.user, { epoch: "uepoch1", offset: 2 });
  assert.equal(late.client.leader, false);
});

test("auth-required reaches every tab once, and the leader releases the lock: a tab signed in again connects", async () => {
  // GIVEN the leader's session is revoked, while the second tab's getToken() works (signed in there)
  const clock = new FakeClock();
  const browser = new FakeBrowser();
  const first = tab(browser, clock, () => Promise.reject(new AuthRequiredError("revoked")));
  const second = tab(browser, clock);
  first.client.start();
  second.client.start();
  await settle();
  await settle();
  // THEN both tabs were told once, and the second tab took the lock and connected
  assert.equal(first.authRequired.length, 1);
  assert.equal(second.authRequired.length, 1);
  assert.equal(first.client.leader, false);
  assert.equal(second.client.leader, true, "the lock was released (negative control: a stopped leader keeping it blocks every tab)");
  assert.equal(FakeSocket.instances.length, 1);
  FakeSocket.last().open();
  await settle();
  assert.equal(first.client.state, "connected", "the signed-out tab mirrors the new leader");
});

test("when every tab needs sign-in, no tab loops; start() after signing in connects", async () => {
  const clock = new FakeClock();
  const browser = new FakeBrowser();
  let signedIn = false;
  let calls = 0;
  const getToken = async () => {
    calls += 1;
    if (!signedIn) throw new AuthRequiredError();
    return fakeToken(clock.now(), 3600);
  };
  const first = tab(browser, clock, getToken);
  const second = tab(browser, clock, getToken);
  first.client.start();
  second.client.start();
  await clock.advance(60_000);
  assert.equal(calls, 2, "each tab asked once, then gave the lock up");
  assert.deepEqual([first.authRequired.length, second.authRequired.length], [1, 1]);
  assert.equal(first.client.state, "disconnected");
  signedIn = true;
  second.client.start(); // the app, after the user signed in in this tab
  await settle();
  assert.equal(second.client.leader, true);
  FakeSocket.last().open();
  await settle();
  assert.equal(first.client.state, "connected");
});

test("a follower that becomes visible makes the leader check its connection (ping, 5 s pong deadline)", async () => {
  const { second } = await twoConnectedTabs();
  const socket = FakeSocket.last();
  assert.equal(socket.sentOfType("ping").length, 0);
  (second.transport as FakeTab).focus();
  await settle();
  assert.equal(socket.sentOfType("ping").length, 1);
  assert.equal(socket.sentOfType("ping")[0]!.version, "2.0");
});

test("followers apply the same forward-compatible rules to relayed frames", async () => {
  const { first, second } = await twoConnectedTabs();
  const server = new FakeServer();
  server.answerResume(FakeSocket.last());
  const frame = server.publish();
  // a newer server: an unknown kind and unknown fields, relayed as received
  FakeSocket.last().receive({ ...frame, data: { ...frame.data, kind: "moc.comment.added", reactions: 3 } });
  await settle();
  assert.deepEqual(second.notifications.map((n) => n.notification.data.kind), ["moc.comment.added"]);
  // a relayed frame with a malformed known field (e.g. from a tab running a buggy version) is reported, not delivered
  (first.transport as FakeTab).post({ kind: "notification", tab: "tab-rogue", frame: { ...frame, id: "x", data: { ...frame.data, offset: -1 } }, replayed: false, toastTab: "tab-rogue" });
  await settle();
  assert.equal(second.invalid.length, 1);
  assert.equal(second.notifications.length, 1);
});
