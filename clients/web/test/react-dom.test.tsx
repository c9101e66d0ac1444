// The React bindings mounted in a DOM (happy-dom): StrictMode, a ready client, selector hooks, toasts.
// Negative controls (run once): without current.stop() in the provider's clean-up, StrictMode opens two sockets;
// subscribing to the whole snapshot instead of the selected value makes the log line re-render every consumer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Window } from "happy-dom";

const window = new Window({ url: "http://localhost:5173/" });
for (const name of ["window", "document", "navigator", "Node", "HTMLElement", "HTMLIFrameElement", "Element", "Event", "MouseEvent", "FocusEvent", "KeyboardEvent", "getComputedStyle"]) {
  Object.defineProperty(globalThis, name, { value: name === "window" ? window : (window as unknown as Record<string, unknown>)[name], configurable: true, writable: true });
}
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const { StrictMode, act } = await import("react");
const { createRoot } = await import("react-dom/client");
const { RealtimeClient } = await import("../src/client.js");
const { Emitter } = await import("../src/events.js");
const react = await import("../src/react/index.js");
const { FakeClock, FakeNetwork, FakeSocket, fakeToken, notification, settle } = await import("./fakes.js");
type RealtimeEvents = import("../src/events.js").RealtimeEvents;

async function mount(element: React.ReactElement) {
  const container = document.createElement("div");
  document.body.appendChild(container);
  const root = createRoot(container as unknown as Element);
  await act(async () => root.render(element));
  return { container, unmount: () => act(async () => root.unmount()) };
}

function clientOptions(clock = new FakeClock()) {
  return { url: "ws://x/local", getToken: async () => fakeToken(clock.now(), 3600), tabs: false as const, WebSocket: FakeSocket, clock, network: new FakeNetwork(), random: () => 0 };
}

/** Something with the client's `on` and `state`, whose events the test emits. */
function scriptedClient() {
  const events = new Emitter<RealtimeEvents>();
  const client = { state: "connected", on: events.on.bind(events) } as unknown as InstanceType<typeof RealtimeClient>;
  return { client, events };
}

test("StrictMode's double mount opens one socket, and unmounting closes it", async () => {
  FakeSocket.reset();
  const { unmount } = await mount(<StrictMode><react.WebSocketProvider {...clientOptions()}><react.ConnectionStatusIndicator /></react.WebSocketProvider></StrictMode>);
  await act(async () => settle());
  assert.equal(FakeSocket.instances.length, 1);
  await unmount();
  assert.equal(FakeSocket.last().closedWith !== null, true);
});

test("the provider follows a ready client without starting or stopping it", async () => {
  FakeSocket.reset();
  const client = new RealtimeClient(clientOptions());
  const { container, unmount } = await mount(<react.WebSocketProvider client={client}><react.ConnectionStatusIndicator /></react.WebSocketProvider>);
  await act(async () => settle());
  assert.equal(FakeSocket.instances.length, 0, "not started by the provider");
  await act(async () => {
    client.start();
    await settle();
    FakeSocket.last().open();
  });
  assert.equal(container.querySelector('[role="status"]')?.textContent, "Connected");
  await unmount();
  assert.equal(FakeSocket.last().closedWith, null, "not stopped by the provider");
  client.stop();
});

test("selector hooks: a log line re-renders neither the state nor the notification consumers", async () => {
  const { client, events } = scriptedClient();
  const renders = { state: 0, count: 0, all: 0 };
  function State() {
    renders.state += 1;
    return <p>{react.useConnectionState()}</p>;
  }
  function Count() {
    renders.count += 1;
    return <p>{react.useNotifications((items) => items.length)}</p>;
  }
  function Everything() {
    renders.all += 1;
    react.useRealtime();
    return null;
  }
  const { unmount } = await mount(<react.WebSocketProvider client={client}><State /><Count /><Everything /></react.WebSocketProvider>);
  const before = { ...renders };
  await act(async () => events.emit("token-refresh-failed", { reason: "a log line" }));
  assert.equal(renders.state, before.state);
  assert.equal(renders.count, before.count);
  assert.equal(renders.all, before.all + 1, "useRealtime() re-renders on everything (the control)");
  await act(async () => events.emit("notification", { notification: notification("n1", "c1") as never, replayed: false, toast: true }));
  assert.equal(renders.count, before.count + 1);
  assert.equal(renders.state, before.state);
  await unmount();
});

test("a replay of twelve shows one summary toast, whose button opens the center", async () => {
  const { client, events } = scriptedClient();
  const { container, unmount } = await mount(
    <react.WebSocketProvider client={client} toastMs={0}><react.NotificationCenter /><react.NotificationToast /></react.WebSocketProvider>);
  await act(async () => {
    for (let i = 0; i < 12; i += 1) events.emit("notification", { notification: notification(`r${i}`, `c${i}`) as never, replayed: true, toast: true });
    events.emit("resumed", { recovered: true, replayed: 12, heads: { user: { epoch: "e1", offset: 12 }, global: { epoch: null, offset: 0 } } });
  });
  const alerts = container.querySelectorAll('[role="alert"]');
  assert.equal(alerts.length, 1);
  const summary = [...container.querySelectorAll("button")].find((b) => b.textContent === "12 new notifications");
  assert.ok(summary, "a button named '12 new notifications'");
  assert.equal(container.querySelector("[aria-expanded]")?.getAttribute("aria-expanded"), "false");
  await act(async () => (summary as unknown as { click(): void }).click());
  assert.equal(container.querySelector("[aria-expanded]")?.getAttribute("aria-expanded"), "true");
  assert.equal(document.activeElement?.textContent?.startsWith("Unread: title r11"), true, "focus is on the newest notification");
  assert.equal(container.querySelectorAll('[role="alert"]').length, 0);
  assert.match(container.textContent ?? "", /Notifications 12 unread/);
  await unmount();
});

test("a hovered toast stays past its time; it goes once the pointer leaves and its time runs out", async () => {
  const { client, events } = scriptedClient();
  const clock = new FakeClock();
  const store = new react.RealtimeStore({ clock, toastMs: 1000 });
  store.attach(client);
  const { container, unmount } = await mount(<react.RealtimeStoreProvider store={store}><react.NotificationToast /></react.RealtimeStoreProvider>);
  await act(async () => events.emit("notification", { notification: notification("n1", "c1") as never, replayed: false, toast: true }));
  const toast = container.querySelector('[role="alert"]')!;
  await act(async () => { toast.dispatchEvent(new window.MouseEvent("mouseover", { bubbles: true }) as unknown as Event); });
  await act(async () => clock.advance(5000));
  assert.equal(container.querySelectorAll('[role="alert"]').length, 1);
  await act(async () => { toast.dispatchEvent(new window.MouseEvent("mouseout", { bubbles: true }) as unknown as Event); });
  await act(async () => clock.advance(1000));
  assert.equal(container.querySelectorAll('[role="alert"]').length, 0);
  await unmount();
});
