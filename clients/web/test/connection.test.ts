import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { RealtimeClient } from "../src/client.js";
import { AuthRequiredError } from "../src/token.js";
import { connected, FakeClock, FakeNetwork, FakeSocket, fakeToken, harness, reopened, settle } from "./fakes.js";

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
  h.server.answerResume(socket);
  socket.answerPings = true;
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
  socket.receive(h.server.publish("user"));
  socket.receive({ type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "slow down", timestamp: "t", requestId: "r" } });
  await h.clock.advance(59_999);
  assert.equal(socket.sentOfType("refresh").length, 0);
  await h.clock.advance(1);
  assert.equal(socket.sentOfType("refresh").length, 1, "sent once the quiet minute is over");
  socket.receive({ type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "again", timestamp: "t", requestId: "r2" } });
  socket.drop(1000);
  await h.clock.advance(h.of("reconnect-scheduled").at(-1)!.delayMs);
  FakeSocket.last().open();
  assert.deepEqual(FakeSocket.last().sentOfType("resume")[0]!.data, {
    positions: { user: { epoch: "uepoch1", offset: 1 }, global: { epoch: null, offset: 0 } },
  });
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
  assert.equal(ping!.version, "2.0", "heartbeat pings are 2.0: their pongs carry the heads");
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

test("offline: a distinct state at once, no attempts counted while offline, back at once on online", async () => {
  // GIVEN a live connection (DevTools offline alone: the socket is not closed by anyone)
  const h = harness({ random: 1 });
  const socket = await connected(h);
  // WHEN the browser goes offline
  h.network.set(false);
  // THEN the state is "offline" at once (not "Connected" until a heartbeat fails) and the socket is given up
  assert.equal(h.client.state, "offline");
  assert.equal(socket.closedWith, 1000);
  await h.clock.advance(120_000);
  assert.equal(FakeSocket.instances.length, 1, "no handshake while offline");
  // WHEN it comes back THEN it connects at once (no backoff) and resumes from its positions
  h.network.set(true);
  assert.equal(h.client.state, "reconnecting");
  await settle();
  assert.equal(FakeSocket.instances.length, 2);
  FakeSocket.last().open();
  assert.ok(FakeSocket.last().sentOfType("resume")[0]!.data);
  FakeSocket.last().drop(1006);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.attempt, 1, "the outage counted no attempts");
});

test("online cuts a pending backoff short", async () => {
  const h = harness({ random: 1 });
  let socket = await connected(h);
  for (let i = 0; i < 5; i += 1) {
    socket.drop(1006);
    socket = await reopened(h);
  }
  socket.drop(1006);
  assert.equal(h.of("reconnect-scheduled").at(-1)!.delayMs, 30_000);
  // WHEN the network reports it is back THEN the 30 s wait is cut: a handshake at once
  h.network.set(true);
  await settle();
  assert.equal(FakeSocket.instances.length, 7);
  // negative control: without an online event nothing happens before the backoff runs out
  FakeSocket.last().drop(1006);
  const before = FakeSocket.instances.length;
  await h.clock.advance(h.of("reconnect-scheduled").at(-1)!.delayMs - 1);
  assert.equal(FakeSocket.instances.length, before);
});

test("refresh before expiry keeps the connection; TOKEN_INVALID keeps it open with the old expiry", async () => {
  const h = harness({ lifetimeSeconds: 3600 });
  const socket = await connected(h);
  socket.answerPings = true;
  await h.clock.advance(3_540_000 - 1);
  assert.equal(socket.sentOfType("refresh").length, 0);
  await h.clock.advance(1);
  const [refresh] = socket.sentOfType("refresh");
  assert.equal(refresh!.version, "2.0");
  assert.deepEqual(refresh!.data, { token: h.tokens[1] });
  socket.receive({ type: "refreshed", version: "2.0", id: refresh!.id, data: { expiresAt: "2026-12-01T14:00:00.000Z" } });
  assert.deepEqual(h.of("token-refreshed"), [{ expiresAt: "2026-12-01T14:00:00.000Z" }]);
  await h.clock.advance(3_540_000);
  const second = socket.sentOfType("refresh")[1]!;
  assert.deepEqual(second.data, { token: h.tokens[2] }, "the next refresh follows the new token's expiry");
  socket.receive({ type: "error", version: "2.0", data: { code: "TOKEN_INVALID", message: "not yours", timestamp: "t", requestId: "r" } });
  assert.equal(h.of("token-refresh-failed").length, 1);
  assert.equal(socket.closedWith, null);
  assert.equal(h.client.state, "connected");
  // ... and it is retried before the expiry (60 s left): on the backoff schedule, at most half the time left
  await h.clock.advance(1_000);
  assert.equal(socket.sentOfType("refresh").length, 3, "retried after TOKEN_INVALID");
  assert.deepEqual(socket.sentOfType("refresh")[2]!.data, { token: h.tokens[3] });
});

test("getToken() throwing AuthRequiredError sends the user to sign in and stops reconnecting", async () => {
  const h = harness({ getToken: () => Promise.reject(new AuthRequiredError("session revoked")) });
  h.client.start();
  await settle();
  assert.equal(h.client.state, "disconnected");
  assert.equal(h.of("auth-required").length, 1);
  await h.clock.advance(600_000);
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
