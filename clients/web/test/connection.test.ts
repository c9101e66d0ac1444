import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { RealtimeClient } from "../src/client.js";
import type { RealtimeEvents } from "../src/events.js";
import { FakeClock, FakeNetwork, FakeSocket, fakeToken, notification, settle } from "./fakes.js";

interface Harness {
  client: RealtimeClient;
  clock: FakeClock;
  network: FakeNetwork;
  tokens: string[];
  events: Array<[keyof RealtimeEvents, unknown]>;
  of<K extends keyof RealtimeEvents>(name: K): Array<RealtimeEvents[K]>;
}

function harness(options: { lifetimeSeconds?: number; random?: number; getToken?: () => Promise<string> } = {}): Harness {
  const clock = new FakeClock();
  const network = new FakeNetwork();
  const tokens: string[] = [];
  const events: Array<[keyof RealtimeEvents, unknown]> = [];
  const client = new RealtimeClient({
    url: "ws://127.0.0.1:3001/local",
    getToken:
      options.getToken ??
      (async () => {
        const token = fakeToken(clock.now(), options.lifetimeSeconds ?? 3600);
        tokens.push(token);
        return token;
      }),
    tabs: false,
    WebSocket: FakeSocket,
    clock,
    network,
    random: () => options.random ?? 1,
  });
  const names: Array<keyof RealtimeEvents> = ["state", "notification", "resumed", "refetch", "reconnect-scheduled", "token-refreshed",
    "token-refresh-failed", "auth-required", "unavailable", "invalid-frame", "server-error"];
  for (const name of names) client.on(name, (payload) => events.push([name, payload]));
  const of = <K extends keyof RealtimeEvents>(name: K) => events.filter(([n]) => n === name).map(([, p]) => p as RealtimeEvents[K]);
  return { client, clock, network, tokens, events, of };
}

async function connected(h: Harness): Promise<FakeSocket> {
  h.client.start();
  await settle();
  const socket = FakeSocket.last();
  socket.open();
  return socket;
}

beforeEach(() => FakeSocket.reset());

test("connecting -> connected -> reconnecting -> connected, with the token in the query string", async () => {
  const h = harness();
  h.client.start();
  assert.equal(h.client.state, "connecting");
  await settle();
  const first = FakeSocket.last();
  assert.equal(first.url, `ws://127.0.0.1:3001/local?token=${encodeURIComponent(h.tokens[0]!)}`);
  first.open();
  assert.equal(h.client.state, "connected");
  first.drop(1006);
  assert.equal(h.client.state, "reconnecting");
  await h.clock.advance(1000);
  FakeSocket.last().open();
  assert.deepEqual(h.of("state").map((s) => s.state), ["connecting", "connected", "reconnecting", "connected"]);
  assert.equal(h.tokens.length, 2, "getToken() on every (re)connect");
});

test("an open-then-close loop backs off 1, 2, 4, 8, 16, 30, 30 s; 60 s stable resets the schedule", async () => {
  const h = harness({ random: 1 });
  let socket = await connected(h);
  const delays: number[] = [];
  for (let i = 0; i < 7; i += 1) {
    socket.drop(1006);
    const scheduled = h.of("reconnect-scheduled").at(-1)!;
    delays.push(scheduled.delayMs);
    await h.clock.advance(scheduled.delayMs - 1);
    assert.equal(FakeSocket.instances.length, i + 1, "no attempt before the delay ran out");
    await h.clock.advance(1);
    socket = FakeSocket.last();
    socket.open();
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  await h.clock.advance(60_000); // stable
  socket.drop(1006);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.delayMs, 1000);
});

test("handshake refusals back off too, and after 5 with a fresh token live updates are unavailable", async () => {
  const h = harness({ random: 0 });
  h.client.start();
  await settle();
  for (let i = 0; i < 5; i += 1) {
    FakeSocket.last().drop(1006); // closed before open: the browser hides 401/429/503
    await h.clock.advance(h.of("reconnect-scheduled").at(-1)!.delayMs);
  }
  assert.deepEqual(h.of("reconnect-scheduled").map((s) => s.delayMs), [500, 1000, 2000, 4000, 8000]);
  assert.equal(h.of("unavailable").length, 1);
  assert.equal(h.client.state, "reconnecting", "it keeps retrying (at most every 30 s)");
});

test("a refused handshake with an expiring token gets one immediate retry with a new token", async () => {
  const clock = new FakeClock();
  const issued: string[] = [];
  // The first token is 30 s from expiry (an app that cached it too long), the next ones are fresh.
  const getToken = async () => {
    const token = issued.length === 0 ? fakeToken(clock.now() - 3_570_000, 3600) : fakeToken(clock.now(), 3600);
    issued.push(token);
    return token;
  };
  const client = new RealtimeClient({ url: "ws://x/local", getToken, tabs: false, WebSocket: FakeSocket, clock, network: new FakeNetwork(), random: () => 1 });
  const scheduled: number[] = [];
  client.on("reconnect-scheduled", (s) => scheduled.push(s.delayMs));
  client.start();
  await settle();
  FakeSocket.last().drop(1006);
  FakeSocket.reset();
  await clock.advance(scheduled[0]!);
  assert.equal(scheduled[0], 1000, "immediately: within random(0, 1) s");
  assert.equal(issued.length, 2);
  FakeSocket.last().drop(1006); // still refused with a fresh token: normal backoff now
  assert.equal(scheduled[1], 1000);
  assert.equal(scheduled.length, 2);
});

test("TOKEN_EXPIRED then 1000: reconnect at once with a new token", async () => {
  const h = harness({ random: 0.5 });
  const socket = await connected(h);
  socket.receive({ type: "error", version: "1.0", data: { code: "TOKEN_EXPIRED", message: "expired", timestamp: "t", requestId: "r1" } });
  socket.drop(1000);
  assert.deepEqual(h.of("reconnect-scheduled").at(-1), { attempt: 1, delayMs: 500, reason: "token expired" });
  await h.clock.advance(500);
  assert.equal(h.tokens.length, 2);
  assert.equal(h.of("server-error")[0]!.requestId, "r1");
});

test("RATE_LIMITED then 1000: backoff from 30 s, and only the heartbeat is sent for 60 s", async () => {
  const h = harness({ random: 0, lifetimeSeconds: 60 });
  const socket = await connected(h);
  socket.receive({ type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "slow down", timestamp: "t", requestId: "r" } });
  await h.clock.advance(30_000); // the refresh of a 60-s token is due now, but the client keeps quiet
  assert.equal(socket.sentOfType("refresh").length, 0);
  socket.drop(1000);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.delayMs, 15_000);
});

test("after RATE_LIMITED the refresh waits for the quiet minute; a new connection starts clean and resumes", async () => {
  const h = harness({ random: 0, lifetimeSeconds: 60 });
  const socket = await connected(h);
  socket.answerPings = true;
  socket.receive(notification("n1", "c1"));
  socket.receive({ type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "slow down", timestamp: "t", requestId: "r" } });
  await h.clock.advance(59_999);
  assert.equal(socket.sentOfType("refresh").length, 0);
  await h.clock.advance(1);
  assert.equal(socket.sentOfType("refresh").length, 1, "sent once the quiet minute is over");
  socket.receive({ type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "again", timestamp: "t", requestId: "r2" } });
  socket.drop(1000);
  await h.clock.advance(h.of("reconnect-scheduled").at(-1)!.delayMs);
  FakeSocket.last().open();
  assert.deepEqual(FakeSocket.last().sentOfType("resume")[0]!.data, { after: "c1" });
});

test("a stopped client cannot be started again", async () => {
  const h = harness();
  h.client.start();
  h.client.stop();
  assert.throws(() => h.client.start(), /create a new one/);
});

test("1001 going away: reconnect at once; 1011 and 1009: backoff", async () => {
  const h = harness({ random: 1 });
  let socket = await connected(h);
  socket.drop(1001);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.reason, "going away");
  await h.clock.advance(1000);
  socket = FakeSocket.last();
  socket.open();
  socket.drop(1011);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.delayMs, 1000);
  await h.clock.advance(1000);
  FakeSocket.last().open();
  FakeSocket.last().drop(1009);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.delayMs, 2000);
});

test("three 1008 closes in a row stop the client: live updates unavailable", async () => {
  const h = harness({ random: 0 });
  for (let i = 0; i < 3; i += 1) {
    if (i === 0) await connected(h);
    else {
      await h.clock.advance(h.of("reconnect-scheduled").at(-1)!.delayMs);
      FakeSocket.last().open();
    }
    FakeSocket.last().drop(1008);
  }
  assert.equal(h.client.state, "disconnected");
  assert.equal(h.of("unavailable").length, 1);
  await h.clock.advance(120_000);
  assert.equal(FakeSocket.instances.length, 3, "no further attempt");
});

test("heartbeat: a ping every 210 +/- 15 s; a missing pong closes with 4000 and reconnects", async () => {
  const h = harness({ random: 1 }); // +15 s jitter
  const socket = await connected(h);
  await h.clock.advance(224_999);
  assert.equal(socket.sentOfType("ping").length, 0);
  await h.clock.advance(1);
  const [ping] = socket.sentOfType("ping");
  assert.equal(ping!.version, "1.0");
  socket.receive({ type: "pong", version: "1.0", id: ping!.id, data: { timestamp: "t" } });
  await h.clock.advance(225_000);
  const second = socket.sentOfType("ping")[1]!;
  socket.receive({ type: "pong", version: "1.0", id: ping!.id, data: { timestamp: "t" } }); // a late pong of the first: not this one's
  await h.clock.advance(9_999);
  assert.equal(h.client.state, "connected");
  await h.clock.advance(1);
  assert.equal(socket.closedWith, 4000);
  assert.equal(h.client.state, "reconnecting");
  assert.equal(h.of("reconnect-scheduled").at(-1)!.reason, "heartbeat timeout");
  assert.notEqual(second.id, ping!.id);
});

test("coming back online or to the tab pings at once", async () => {
  const h = harness();
  const socket = await connected(h);
  h.network.becomeVisible();
  assert.equal(socket.sentOfType("ping").length, 1);
  await h.clock.advance(10_000);
  assert.equal(h.client.state, "reconnecting", "no pong: the connection died while hidden");
});

test("offline: no attempts are counted until the network returns, then it connects at once", async () => {
  const h = harness({ random: 1 });
  const socket = await connected(h);
  h.network.isOnline = false;
  socket.drop(1006);
  await h.clock.advance(120_000);
  assert.equal(FakeSocket.instances.length, 1, "no handshake while offline");
  assert.equal(h.client.state, "reconnecting");
  h.network.set(true);
  await settle();
  assert.equal(FakeSocket.instances.length, 2);
  FakeSocket.last().open();
  FakeSocket.last().drop(1006);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.attempt, 2, "the outage counted as one attempt, not dozens");
});

test("resume with the newest cursor after a reconnect; replays of seen ids are dropped", async () => {
  const h = harness({ random: 0 });
  const socket = await connected(h);
  assert.equal(socket.sentOfType("resume").length, 0, "a fresh client has no cursor: it just loaded its state");
  socket.receive(notification("n1", "c0001"));
  socket.receive(notification("n2", "c0002"));
  socket.drop(1006);
  await h.clock.advance(500);
  const next = FakeSocket.last();
  next.open();
  const [resume] = next.sent;
  assert.deepEqual(resume, { type: "resume", version: "1.1", id: resume!.id, data: { after: "c0002" } });
  next.receive(notification("n2", "c0002")); // a duplicate from the replay
  next.receive(notification("n3", "c0003"));
  next.receive({ type: "resumed", version: "1.1", id: resume!.id, data: { recovered: true, replayed: 2 } });
  next.receive(notification("n1", "c0001")); // an old one again: dropped, the cursor never moves back
  const delivered = h.of("notification");
  assert.deepEqual(delivered.map((n) => [n.notification.id, n.replayed]), [["n1", false], ["n2", false], ["n3", true]]);
  assert.deepEqual(h.of("resumed"), [{ recovered: true, replayed: 2 }]);
  assert.equal(h.client.lastCursor, "c0003");
  assert.equal(h.of("refetch").length, 0);
});

test("recovered: false asks the app to refetch from the REST API", async () => {
  const h = harness({ random: 0 });
  const socket = await connected(h);
  socket.receive(notification("n1", "c1"));
  socket.drop(1006);
  await h.clock.advance(500);
  FakeSocket.last().open();
  FakeSocket.last().receive({ type: "resumed", version: "1.1", data: { recovered: false, replayed: 0 } });
  assert.deepEqual(h.of("refetch"), [{ reason: "not-recovered" }]);
});

test("a reconnect without any cursor cannot resume: refetch; a server without 1.1 refusing resume: refetch", async () => {
  const h = harness({ random: 0 });
  let socket = await connected(h);
  socket.drop(1006);
  await h.clock.advance(500);
  socket = FakeSocket.last();
  socket.open();
  assert.deepEqual(h.of("refetch"), [{ reason: "no-cursor" }]);
  socket.receive(notification("n1", "c1"));
  socket.drop(1006);
  await h.clock.advance(1000);
  socket = FakeSocket.last();
  socket.open();
  socket.receive({ type: "error", version: "1.0", data: { code: "INVALID_MESSAGE", message: "unknown type", timestamp: "t", requestId: "r" } });
  assert.deepEqual(h.of("refetch").at(-1), { reason: "resume-refused" });
});

test("refresh before expiry keeps the connection; TOKEN_INVALID keeps it open with the old expiry", async () => {
  const h = harness({ lifetimeSeconds: 3600 });
  const socket = await connected(h);
  socket.answerPings = true;
  await h.clock.advance(3_540_000 - 1);
  assert.equal(socket.sentOfType("refresh").length, 0);
  await h.clock.advance(1);
  const [refresh] = socket.sentOfType("refresh");
  assert.equal(refresh!.version, "1.1");
  assert.deepEqual(refresh!.data, { token: h.tokens[1] });
  socket.receive({ type: "refreshed", version: "1.1", id: refresh!.id, data: { expiresAt: "2026-12-01T14:00:00.000Z" } });
  assert.deepEqual(h.of("token-refreshed"), [{ expiresAt: "2026-12-01T14:00:00.000Z" }]);
  await h.clock.advance(3_600_000);
  const second = socket.sentOfType("refresh")[1]!;
  assert.deepEqual(second.data, { token: h.tokens[2] }, "the next refresh follows the new token's expiry");
  socket.receive({ type: "error", version: "1.1", id: second.id, data: { code: "TOKEN_INVALID", message: "not yours", timestamp: "t", requestId: "r" } });
  assert.equal(h.of("token-refresh-failed").length, 1);
  assert.equal(socket.closedWith, null);
  assert.equal(h.client.state, "connected");
});

test("getToken() failing sends the user to sign in and stops reconnecting", async () => {
  const h = harness({ getToken: () => Promise.reject(new Error("session revoked")) });
  h.client.start();
  await settle();
  assert.equal(h.client.state, "disconnected");
  assert.equal(h.of("auth-required").length, 1);
  assert.equal(FakeSocket.instances.length, 0);
});

test("invalid frames are reported through an event, never thrown", async () => {
  const h = harness();
  const socket = await connected(h);
  socket.receive("not json");
  socket.receive({ type: "notification", version: "1.0", data: { kind: "set.created" } });
  assert.equal(h.of("invalid-frame").length, 2);
  assert.equal(h.client.state, "connected");
});

test("three INTERNAL_ERROR answers in a row: close (4000) and reconnect with backoff", async () => {
  const h = harness({ random: 1 });
  const socket = await connected(h);
  for (let i = 0; i < 3; i += 1) {
    socket.receive({ type: "error", version: "1.0", data: { code: "INTERNAL_ERROR", message: "m", timestamp: "t", requestId: `r${i}` } });
  }
  assert.equal(socket.closedWith, 4000);
  assert.equal(h.client.state, "reconnecting");
});

test("stop() closes with 1000 and never reconnects", async () => {
  const h = harness();
  const socket = await connected(h);
  h.client.stop();
  assert.equal(socket.closedWith, 1000);
  assert.equal(h.client.state, "disconnected");
  await h.clock.advance(600_000);
  assert.equal(FakeSocket.instances.length, 1);
});
