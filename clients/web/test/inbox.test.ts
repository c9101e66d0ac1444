// The inbox (ADR 0020, issue 19) on the fake socket: the client asks for the history after every `resumed`,
// lists it without delivering it as notifications (so nothing of it is toasted), assembles a page split
// into parts, takes the unread count from the server, sends `read`/`read.all`, follows `read.state`
// pushed by another device, and pages back with `loadOlder()`.
// Negative controls (verified by hand, 2026-12-02): with the history request removed from the `resumed`
// listener the first two tests fail (no `history` frame); with every history item also emitted as a
// `notification` event the "never toasted" assertion fails; with markAllRead's upto built from no item the
// upto assertion fails.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import type { InboxSnapshot } from "../src/inbox.js";
import { connected, FakeSocket, harness, settle } from "./fakes.js";

beforeEach(() => FakeSocket.reset());

function item(stream: "user" | "global", offset: number, read = false, title = `${stream} ${offset}`) {
  const timestamp = `2026-12-02T10:${String(offset).padStart(2, "0")}:00.000Z`;
  return { stream, epoch: stream === "user" ? "uepoch1" : "gepoch1", offset, id: `${stream}-${offset}`, read,
    data: { kind: "set.created", title, timestamp, stream, epoch: stream === "user" ? "uepoch1" : "gepoch1", offset } };
}

function page(id: unknown, items: unknown[], extra: Record<string, unknown> = {}, part = 1, parts = 1) {
  return { type: "history", version: "2.0", id, data: { items, part, parts, more: false, before: { user: 1, global: 1 },
    unread: items.filter((i) => !(i as { read: boolean }).read).length, readUpto: { user: 0, global: 0 }, ...extra } };
}

const inboxOf = (events: InboxSnapshot[]) => events.at(-1)!;

test("after resumed the client asks for the history and lists it, assembled from its parts, never as a notification", async () => {
  const h = harness();
  const inbox: InboxSnapshot[] = [];
  h.client.on("inbox", (snapshot) => inbox.push(snapshot));
  const socket = await connected(h);
  const [request] = socket.sentOfType("history");
  assert.ok(request, "a history request follows resumed");
  assert.deepEqual(request!.data, { limit: 50 });
  socket.receive(page(request!.id, [item("user", 3), item("global", 1, true)], { more: true, before: { user: 3, global: 1 } }, 1, 2));
  assert.equal(inbox.length, 0, "a page is listed once complete");
  socket.receive(page(request!.id, [item("user", 2)], { more: true, before: { user: 2, global: 1 }, unread: 7 }, 2, 2));
  const listed = inboxOf(inbox);
  assert.deepEqual(listed.items.map((i) => i.id), ["user-3", "user-2", "global-1"]);
  assert.equal(listed.unread, 7, "the unread count is the server's");
  assert.equal(listed.more, true);
  assert.equal(h.of("notification").length, 0, "history is never delivered as a notification (never toasted)");
  // WHEN the user loads older THEN the next page asks before the lowest listed offsets
  h.client.loadOlder();
  const older = socket.sentOfType("history").at(-1)!;
  assert.deepEqual(older.data, { limit: 50, before: { user: 2, global: 1 } });
  socket.receive(page(older.id, [item("user", 1)], { unread: 7 }));
  assert.deepEqual(inboxOf(inbox).items.map((i) => i.id), ["user-3", "user-2", "user-1", "global-1"]);
  assert.equal(inboxOf(inbox).more, false);
});

test("markRead and markAllRead send read frames; read.state from another device updates the count", async () => {
  const h = harness();
  const inbox: InboxSnapshot[] = [];
  h.client.on("inbox", (snapshot) => inbox.push(snapshot));
  const socket = await connected(h);
  const request = socket.sentOfType("history")[0]!;
  socket.receive(page(request.id, [item("user", 2), item("user", 1), item("global", 4)]));
  h.client.markRead("user", 2);
  assert.deepEqual(socket.sentOfType("read")[0]!.data, { stream: "user", offset: 2 });
  assert.equal(inboxOf(inbox).unread, 2, "at once here; the server's read.state confirms");
  h.client.markRead("user", 2);
  assert.equal(socket.sentOfType("read").length, 1, "a read one is not sent again");
  // WHEN another device marks everything read (pushed: read.state without id)
  socket.receive({ type: "read.state", version: "2.0", data: { unread: 0, readUpto: { user: 2, global: 4 }, marked: [], timestamp: "t" } });
  assert.equal(inboxOf(inbox).unread, 0);
  assert.ok(inboxOf(inbox).items.every((i) => i.read));
  // WHEN a live notification arrives THEN it is listed unread (and toasted as before)
  socket.receive(h.server.frame("user", 3));
  assert.equal(inboxOf(inbox).unread, 1);
  assert.equal(inboxOf(inbox).items.find((i) => i.stream === "user" && i.offset === 3)?.read, false);
  // WHEN mark all THEN upto is what this tab lists: user 3, global 4
  h.client.markAllRead();
  assert.deepEqual(socket.sentOfType("read.all")[0]!.data, { upto: { user: 3, global: 4 } });
  assert.equal(inboxOf(inbox).unread, 0);
});

test("NOT_FOUND and BUDGET_EXCEEDED leave the connection alone and let the history be asked again", async () => {
  const h = harness();
  const socket = await connected(h);
  for (let i = 0; i < 4; i += 1) {
    socket.receive({ type: "error", version: "2.0", data: { code: i % 2 ? "NOT_FOUND" : "BUDGET_EXCEEDED", message: "m", timestamp: "t", requestId: "r" } });
  }
  await settle();
  assert.equal(socket.closedWith, null, "inbox refusals are not internal errors (3 of those reconnect)");
  assert.equal(h.client.state, "connected");
});

test("the React store lists the history untoasted, shows the server's count and routes marks to the client", async () => {
  const { RealtimeStore } = await import("../src/react/store.js");
  const h = harness();
  const store = new RealtimeStore({ clock: h.clock });
  store.attach(h.client);
  const socket = await connected(h);
  const request = socket.sentOfType("history")[0]!;
  socket.receive(page(request.id, [item("user", 2), item("user", 1)], { unread: 5, more: true }));
  const snapshot = store.getSnapshot();
  assert.deepEqual(snapshot.notifications.map((n) => n.id), ["user-2", "user-1"]);
  assert.equal(snapshot.unread, 5, "the server's count (it includes what this page does not list)");
  assert.equal(snapshot.more, true);
  assert.deepEqual(snapshot.toasts, [], "history is never toasted");
  store.markRead("user-1");
  assert.deepEqual(socket.sentOfType("read")[0]!.data, { stream: "user", offset: 1 });
  assert.equal(store.getSnapshot().unread, 4);
  store.markAllRead();
  assert.deepEqual(socket.sentOfType("read.all")[0]!.data, { upto: { user: 2 } });
  store.loadOlder();
  assert.deepEqual(socket.sentOfType("history").at(-1)!.data, { limit: 50, before: { user: 1, global: 1 } });
});
