import assert from "node:assert/strict";
import { test } from "node:test";
import { renderToStaticMarkup } from "react-dom/server";
import { RealtimeClient } from "../src/client.js";
import { ConnectionStatusIndicator, NotificationCenter, NotificationToast, RealtimeStore, RealtimeStoreProvider } from "../src/react/index.js";
import { FakeClock, FakeNetwork, FakeSocket, fakeToken, notification, settle } from "./fakes.js";

async function storeOverClient() {
  FakeSocket.reset();
  const clock = new FakeClock();
  const client = new RealtimeClient({
    url: "ws://x/local", getToken: async () => fakeToken(clock.now(), 3600), tabs: false,
    WebSocket: FakeSocket, clock, network: new FakeNetwork(), random: () => 0,
  });
  const store = new RealtimeStore({ maxNotifications: 2, clock });
  store.attach(client);
  client.start();
  await settle();
  const socket = FakeSocket.last();
  socket.open();
  await settle();
  // A fresh tab's first resume (no positions) is answered before the live frames of the tests.
  const resume = socket.sentOfType("resume").at(-1);
  const empty = { epoch: null, offset: 0 };
  socket.receive({ type: "resumed", version: "2.0", id: resume?.id ?? null, data: { recovered: true, replayed: 0, heads: { user: empty, global: empty } } });
  return { store, clock, socket };
}

const render = (store: RealtimeStore, element: React.ReactElement) =>
  renderToStaticMarkup(<RealtimeStoreProvider store={store}>{element}</RealtimeStoreProvider>);

test("the store follows the client: state, notifications (bounded), unread count, toasts, log", async () => {
  const { store, socket } = await storeOverClient();
  socket.receive(notification("n1", "c1"));
  socket.receive(notification("n2", "c2"));
  socket.receive(notification("n3", "c3"));
  const snapshot = store.getSnapshot();
  assert.equal(snapshot.state, "connected");
  assert.deepEqual(snapshot.notifications.map((n) => n.id), ["n3", "n2"], "newest first, at most maxNotifications");
  assert.equal(snapshot.unread, 2);
  assert.deepEqual(snapshot.toasts.map((n) => n.id), ["n1", "n2", "n3"]);
  store.markRead("n2");
  store.dismissToast("n1");
  assert.equal(store.getSnapshot().unread, 1);
  assert.deepEqual(store.getSnapshot().toasts.map((n) => n.id), ["n2", "n3"]);
  store.markAllRead();
  assert.equal(store.getSnapshot().unread, 0);
  assert.ok(store.getSnapshot().log.some((entry) => entry.text === "state: connected"));
});

test("the indicator says the state in words inside role=status; toasts are role=alert with a named dismiss button", async () => {
  const { store, socket } = await storeOverClient();
  assert.match(render(store, <ConnectionStatusIndicator />), /role="status"[^>]*>.*Connected<\/span><\/div>$/);
  socket.receive({ ...notification("n1", "c1", "Your MOC is live"), data: { ...notification("n1", "c1").data, title: "Your MOC is live", link: "/mocs/42" } });
  const toasts = render(store, <NotificationToast />);
  assert.match(toasts, /role="alert"/);
  assert.match(toasts, /<button type="button" class="rt-toast__dismiss" aria-label="Dismiss: Your MOC is live">/);
  socket.drop(1006);
  assert.match(render(store, <ConnectionStatusIndicator />), /Reconnecting/);
});

test("the center shows the unread count and one tab stop for its list (roving tabindex)", async () => {
  const { store, socket } = await storeOverClient();
  socket.receive(notification("n1", "c1"));
  socket.receive(notification("n2", "c2"));
  const html = render(store, <NotificationCenter />);
  assert.match(html, /aria-expanded="false"/);
  assert.match(html, /Notifications <span class="rt-badge">2<\/span> unread/);
  assert.equal(html.match(/tabindex="0"/g)?.length, 1);
  assert.equal(html.match(/tabindex="-1"/g)?.length, 1);
});
