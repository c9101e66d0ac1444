// Issue 18 §3 (tokens), §4 (forward compatibility on the socket) and §6 (network), and the transition
// table against ADR 0010, on the fake socket and clock.
// Negative controls (each verified by mutating src/connection.ts, 2026-12-02): no getToken() deadline →
// "never settles" fails; AuthRequiredError treated as transient → "AuthRequiredError on a reconnect" fails;
// the constructor's error rethrown → "throwing WebSocket constructor" fails; no generation check on the
// refresh's token → "refresh in flight across a reconnect" fails; CONNECTION_UNKNOWN waiting for the
// server's close → its test fails; the `offline` event ignored → the offline tests fail; refreshFailed not
// rescheduling → "in-band refresh ... retried" fails; `online` not cutting a backoff → connection.test.ts's
// "online cuts a pending backoff short" fails. tabs.test.ts: the leader not releasing the lock on
// auth-required → both auth-required tests fail.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { beforeEach, test } from "node:test";
import { CHECK_PONG_TIMEOUT_MS, PUBLIC_STATE, TRANSITIONS, type Input } from "../src/connection.js";
import type { MachineState } from "../src/events.js";
import { AuthRequiredError, TOKEN_TIMEOUT_MS } from "../src/token.js";
import { connected, delivered, FakeClock, FakeSocket, fakeToken, harness, reopened, settle, userOffset } from "./fakes.js";

beforeEach(() => FakeSocket.reset());

// --- §3 tokens -------------------------------------------------------------------------------------------

test("a getToken() that never settles times out after 10 s: a transient failure, retried with backoff", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const h = harness({
    clock,
    getToken: () => (++calls === 1 ? new Promise<string>(() => undefined) : Promise.resolve(fakeToken(clock.now(), 3600))),
  });
  h.client.start();
  await h.clock.advance(TOKEN_TIMEOUT_MS - 1);
  assert.equal(h.client.state, "connecting");
  assert.equal(h.of("reconnect-scheduled").length, 0);
  await h.clock.advance(1);
  assert.match(h.of("reconnect-scheduled")[0]!.reason, /getToken\(\) failed: .*did not settle within 10 s/);
  assert.equal(h.client.state, "reconnecting");
  const socket = await reopened(h);
  assert.equal(calls, 2);
  h.server.answerResume(socket);
  assert.equal(h.client.state, "connected");
});

test("any other getToken() failure is transient (a network blip); only AuthRequiredError stops", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const h = harness({
    clock,
    getToken: async () => {
      calls += 1;
      if (calls <= 2) throw new TypeError("Failed to fetch");
      return fakeToken(clock.now(), 3600);
    },
  });
  h.client.start();
  await settle();
  assert.deepEqual(h.of("reconnect-scheduled").map((s) => s.delayMs), [1000]);
  await h.clock.advance(1000);
  assert.deepEqual(h.of("reconnect-scheduled").map((s) => s.delayMs), [1000, 2000], "on the backoff schedule");
  await h.clock.advance(2000);
  FakeSocket.last().open();
  assert.equal(h.client.state, "connected");
  assert.equal(h.of("auth-required").length, 0);
});

test("a throwing WebSocket constructor is an event and a retry, never an exception or an unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    let throws = true;
    class Throwing extends FakeSocket {
      constructor(url: string) {
        if (throws) {
          throws = false;
          throw new SyntaxError("The URL's scheme must be either 'ws' or 'wss'");
        }
        super(url);
      }
    }
    const clock = new FakeClock();
    const h = harness({ clock });
    const { RealtimeClient } = await import("../src/client.js");
    const client = new RealtimeClient({ url: "ws://x/local", getToken: async () => fakeToken(clock.now(), 3600), tabs: false, WebSocket: Throwing, clock, network: h.network, random: () => 1, storage: null });
    const errors: string[] = [];
    const scheduled: number[] = [];
    client.on("socket-error", ({ error }) => errors.push(error));
    client.on("reconnect-scheduled", ({ delayMs }) => scheduled.push(delayMs));
    client.start();
    await settle();
    assert.match(errors[0]!, /SyntaxError: The URL's scheme/);
    assert.equal(client.state, "reconnecting");
    await clock.advance(scheduled[0]!);
    assert.equal(FakeSocket.instances.length, 1, "the next attempt constructs a socket");
    await settle();
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("an in-band refresh whose getToken() fails is retried before the expiry", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const h = harness({
    clock,
    getToken: async () => {
      calls += 1;
      if (calls === 2) throw new TypeError("Failed to fetch");
      return fakeToken(clock.now(), 3600);
    },
  });
  const socket = await connected(h);
  socket.answerPings = true;
  await h.clock.advance(3_540_000);
  assert.equal(h.of("token-refresh-failed").length, 1);
  assert.equal(socket.sentOfType("refresh").length, 0);
  await h.clock.advance(1_000);
  assert.equal(socket.sentOfType("refresh").length, 1, "retried 1 s later, 59 s before the expiry");
});

test("a refresh in flight across a reconnect is discarded", async () => {
  const clock = new FakeClock();
  let release: ((token: string) => void) | null = null;
  let calls = 0;
  const h = harness({
    clock,
    random: 0,
    getToken: () => {
      calls += 1;
      if (calls === 2) return new Promise<string>((resolve) => (release = resolve)); // the refresh's, slow
      return Promise.resolve(fakeToken(clock.now(), 3600));
    },
  });
  const socket = await connected(h);
  socket.answerPings = true;
  await h.clock.advance(3_540_000); // the refresh starts and waits for getToken()
  socket.drop(1006);
  const next = await reopened(h);
  h.server.answerResume(next);
  release!(fakeToken(clock.now(), 7200)); // the old refresh's token arrives now
  await settle();
  assert.equal(next.sentOfType("refresh").length, 0, "not sent on the new connection (which has its own fresh token)");
  assert.equal(socket.sentOfType("refresh").length, 0);
});

test("CONNECTION_UNKNOWN: reconnect at once with a fresh token and resume from the positions", async () => {
  const h = harness({ random: 0.5 });
  for (let i = 0; i < 2; i += 1) h.server.publish();
  const socket = await connected(h);
  socket.receive({ type: "error", version: "2.0", data: { code: "CONNECTION_UNKNOWN", message: "gone", timestamp: "t", requestId: "r" } });
  assert.equal(socket.closedWith, 1000, "not waiting for the server's close");
  assert.deepEqual(h.of("reconnect-scheduled").at(-1), { attempt: 1, delayMs: 500, reason: "connection unknown to the server" });
  const next = await reopened(h);
  assert.equal(h.tokens.length, 2);
  assert.deepEqual((next.sentOfType("resume")[0]!.data as { positions: { user: unknown } }).positions.user, { epoch: "uepoch1", offset: 2 });
});

// --- §4 forward compatibility on the socket ----------------------------------------------------------------

test("an unknown kind and unknown fields are delivered and move the position; an unknown type is reported and ignored", async () => {
  const h = harness();
  h.server.publish();
  const socket = await connected(h);
  const frame = h.server.publish();
  socket.receive({ ...frame, version: "2.3", extra: true, data: { ...frame.data, kind: "moc.comment.added", mood: "happy" } });
  assert.deepEqual(delivered(h), [frame.id]);
  assert.equal(h.of("notification")[0]!.notification.data.kind, "moc.comment.added");
  assert.equal(userOffset(h), 2);
  socket.receive({ type: "presence", version: "2.1", data: { online: 3 } });
  assert.deepEqual(h.of("unknown-frame"), [{ type: "presence" }]);
  socket.receive({ ...frame, data: { ...frame.data, offset: "3" } }); // a malformed known field
  assert.equal(h.of("invalid-frame").length, 1);
  assert.equal(userOffset(h), 2);
  assert.equal(h.client.state, "connected");
});

// --- §6 network ------------------------------------------------------------------------------------------

test("offline at start: the offline state, no getToken() until online", async () => {
  let calls = 0;
  const clock = new FakeClock();
  const h = harness({ clock, getToken: async () => (calls++, fakeToken(clock.now(), 3600)) });
  h.network.isOnline = false;
  h.client.start();
  await settle();
  assert.equal(h.client.state, "offline");
  assert.equal(calls, 0);
  h.network.set(true);
  await settle();
  assert.equal(FakeSocket.instances.length, 1);
});

test("offline during a backoff or a pending getToken(): offline, and the late token is dropped", async () => {
  const clock = new FakeClock();
  let release: ((token: string) => void) | null = null;
  const h = harness({ clock, getToken: () => new Promise<string>((resolve) => (release = resolve)) });
  h.client.start();
  await settle();
  h.network.set(false);
  release!(fakeToken(clock.now(), 3600));
  await settle();
  assert.equal(h.client.state, "offline");
  assert.equal(FakeSocket.instances.length, 0, "no socket from an attempt that went offline");
});

test("a connection check (a visible follower) pings with a short pong deadline", async () => {
  const h = harness();
  const socket = await connected(h);
  // The tab itself becoming visible pings too (ADR 0007); a check is the same ping with a 5 s deadline.
  h.network.becomeVisible();
  assert.equal(socket.sentOfType("ping").length, 1);
  await h.clock.advance(10_000);
  assert.equal(h.client.state, "reconnecting", "no pong: the connection died while hidden");
  assert.ok(CHECK_PONG_TIMEOUT_MS < 10_000);
});

// --- the machine ---------------------------------------------------------------------------------------

test("the transition table is the one printed in ADR 0010, and every state maps to an indicator word", () => {
  const adr = readFileSync(new URL("../../../runbooks/decisions/0010-client-reconnection-contract.md", import.meta.url), "utf8");
  const section = adr.slice(adr.indexOf("## Connection state machine"));
  const rows = [...section.matchAll(/^\| `([a-z]+)` \| `([a-z-]+)` \| `([a-z]+)` \|/gm)].map((m) => `${m[1]} --${m[2]}--> ${m[3]}`);
  const table = Object.entries(TRANSITIONS).flatMap(([from, inputs]) =>
    Object.entries(inputs as Partial<Record<Input, MachineState>>).map(([input, to]) => `${from} --${input}--> ${to}`));
  assert.ok(rows.length > 0, "ADR 0010 prints the table");
  assert.deepEqual([...rows].sort(), [...table].sort());
  assert.deepEqual(new Set(Object.values(PUBLIC_STATE)), new Set(["connecting", "connected", "reconnecting", "offline", "disconnected"]));
  for (const [state, inputs] of Object.entries(TRANSITIONS)) {
    if (state !== "stopped") assert.ok("stop" in inputs, `${state} can be stopped`);
  }
});

test("every change is a transition event, and state events follow the indicator words", async () => {
  const h = harness({ random: 0 });
  const socket = await connected(h);
  socket.drop(1006);
  await reopened(h);
  h.network.set(false);
  const transitions = h.of("transition").map((t) => `${t.from}>${t.to}`);
  assert.deepEqual(transitions, [
    "idle>connecting", "connecting>connecting", "connecting>resuming", "resuming>live", "live>reconnecting",
    "reconnecting>reconnecting", "reconnecting>reconnecting", "reconnecting>resuming", "resuming>offline",
  ]);
  assert.deepEqual(h.of("state").map((s) => s.state), ["connecting", "connected", "reconnecting", "connected", "offline"]);
});

test("AuthRequiredError on a reconnect stops: no further attempts, disconnected", async () => {
  const clock = new FakeClock();
  let signedIn = true;
  const h = harness({ clock, random: 0, getToken: async () => {
    if (!signedIn) throw new AuthRequiredError();
    return fakeToken(clock.now(), 3600);
  } });
  const socket = await connected(h);
  signedIn = false;
  socket.drop(1006);
  await h.clock.advance(600_000);
  assert.equal(h.client.state, "disconnected");
  assert.equal(h.of("auth-required").length, 1);
  assert.equal(FakeSocket.instances.length, 1);
});
