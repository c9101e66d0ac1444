// Issue 18 §1, §2 and §5 on the fake socket and clock: positions per stream and epoch (docs/messages.md
// rules 1–4), a resume that always ends, and exact dedup that survives a reload.
// Negative controls (verified by hand, 2026-12-02): with `!resuming` replaced by `true` in
// Connection.onNotification (frames before `resumed` move positions) the "40 missed" test fails (26..50 are
// never delivered: the second resume starts from 51); with `completeResume` always returning true the
// "heads ahead of the replay" test fails; with the resume deadline timer removed "no answer" never ends;
// with savePositions a no-op the reload test fails (it resumes blind); without clearing the pending retry
// in endResume "a late answer of the previous send" fails.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { RESUME_ANSWER_TIMEOUT_MS } from "../src/connection.js";
import { STORAGE_PREFIX } from "../src/streams.js";
import { connected, delivered, FakeClock, FakeServer, FakeSocket, harness, MemoryStorage, notification, reopened, settle, userOffset } from "./fakes.js";

beforeEach(() => FakeSocket.reset());

const resumesOn = (socket: FakeSocket) => socket.sentOfType("resume");
const positionsOf = (frame: Record<string, unknown> | undefined) => (frame!.data as { positions: unknown }).positions;

/** A client at user offset `at` (a fresh tab that adopted the server's heads). */
async function at(offset: number, options: Parameters<typeof harness>[0] = {}) {
  const h = harness(options);
  for (let i = 0; i < offset; i += 1) h.server.publish("user");
  const socket = await connected(h);
  assert.equal(userOffset(h), offset);
  return { h, socket };
}

// --- §1 positions --------------------------------------------------------------------------------------

test("a fresh tab's first resume has no positions and adopts the heads; a stream that never existed takes offset 1 of any epoch", async () => {
  const h = harness();
  h.server.publish("user");
  h.client.start();
  await settle();
  const socket = FakeSocket.last();
  socket.open();
  assert.deepEqual(positionsOf(resumesOn(socket)[0]), {}, "nothing to resume from: the page just loaded its state");
  h.server.answerResume(socket);
  assert.deepEqual(h.client.positions.positions, { user: { epoch: "uepoch1", offset: 1 }, global: { epoch: null, offset: 0 } });
  socket.receive(h.server.publish("global"));
  assert.deepEqual(h.client.positions.positions.global, { epoch: "gepoch1", offset: 1 });
  await h.clock.advance(5_000);
  assert.equal(resumesOn(socket).length, 1, "no gap: offset 1 follows the null epoch");
});

test("contiguous prefix: a frame beyond the position is delivered once and held until the gap fills", async () => {
  const { h, socket } = await at(5);
  const six = h.server.publish();
  const seven = h.server.publish();
  socket.receive(seven); // overtakes 6 (two broadcasts at once)
  assert.deepEqual(delivered(h), [seven.id]);
  assert.equal(userOffset(h), 5, "the position does not move past a hole");
  assert.deepEqual(h.client.positions.held.user, { uepoch1: [7] });
  socket.receive(seven);
  assert.deepEqual(delivered(h), [seven.id], "a held offset is a duplicate");
  socket.receive(six);
  assert.deepEqual(delivered(h), [seven.id, six.id]);
  assert.equal(userOffset(h), 7);
  await h.clock.advance(10_000);
  assert.equal(resumesOn(socket).length, 1, "the gap closed within the grace: no resume");
  socket.receive(six);
  assert.equal(delivered(h).length, 2, "at or below the position: a duplicate");
});

test("a gap open past the 3 s grace makes the client resume from its positions", async () => {
  const { h, socket } = await at(5);
  const six = h.server.publish(); // its post failed
  socket.receive(h.server.publish());
  await h.clock.advance(2_999);
  assert.equal(resumesOn(socket).length, 1);
  await h.clock.advance(1);
  assert.equal(resumesOn(socket).length, 2);
  assert.deepEqual(positionsOf(resumesOn(socket)[1]), { user: { epoch: "uepoch1", offset: 5 }, global: { epoch: null, offset: 0 } });
  h.server.answerResume(socket); // replays 6 and 7; 7 was delivered already
  assert.deepEqual(delivered(h), ["user-uepoch1-7", six.id]);
  assert.equal(h.of("notification")[1]!.replayed, true);
  assert.equal(userOffset(h), 7);
  assert.equal(h.client.machineState, "live");
  assert.equal(h.of("refetch").length, 0);
});

test("40 missed, a live frame overtakes the replay, the connection drops before resumed: after reconnect all 40 delivered exactly once", async () => {
  // GIVEN a tab at user offset 10 that loses its connection while 40 notifications are sent
  const { h, socket } = await at(10, { random: 0 });
  socket.drop(1006);
  for (let i = 0; i < 40; i += 1) h.server.publish(); // 11..50
  // WHEN it reconnects, the replay has sent 11..25, a live 51 overtakes it, and the connection drops before `resumed`
  let next = await reopened(h);
  assert.equal((positionsOf(resumesOn(next)[0]) as { user: { offset: number } }).user.offset, 10);
  for (let offset = 11; offset <= 25; offset += 1) next.receive(h.server.frame("user", offset));
  next.receive(h.server.publish()); // 51, live
  next.drop(1006);
  // THEN nothing moved the position (frames before `resumed` never do) ...
  assert.equal(userOffset(h), 10);
  next = await reopened(h);
  assert.equal((positionsOf(resumesOn(next)[0]) as { user: { offset: number } }).user.offset, 10, "resumes from the same position");
  h.server.answerResume(next); // replays 11..51
  // ... and every missed notification arrived exactly once
  const ids = delivered(h);
  const expected = Array.from({ length: 41 }, (_, i) => `user-uepoch1-${11 + i}`);
  assert.equal(ids.length, new Set(ids).size, "no duplicates");
  assert.deepEqual([...ids].sort(), [...expected].sort());
  assert.equal(userOffset(h), 51);
  assert.equal(h.of("refetch").length, 0);
});

test("a 500-lost post is revealed by a pong head: the client resumes and gets it", async () => {
  const { h, socket } = await at(2, { random: 1 });
  const lost = h.server.publish(); // @connections answered 500: never sent
  await h.clock.advance(225_000); // the heartbeat (210 + 15 s)
  h.server.pong(socket);
  assert.equal(resumesOn(socket).length, 2, "a head ahead of the position: resume at once");
  h.server.answerResume(socket);
  assert.deepEqual(delivered(h), [lost.id]);
  assert.equal(userOffset(h), 3);
  // negative control: a pong whose heads equal the positions starts nothing
  await h.clock.advance(225_000);
  h.server.pong(socket);
  assert.equal(resumesOn(socket).length, 2);
});

test("a pong head of another epoch resumes; recovered: false refetches and adopts the heads", async () => {
  const { h, socket } = await at(3);
  h.server.epochs.user = "uepoch2"; // `wsctl notifications purge`: history lost, offsets continue
  await h.clock.advance(225_000);
  h.server.pong(socket);
  const resume = resumesOn(socket)[1]!;
  socket.receive(h.server.resumed(resume.id, 0, false, "epoch"));
  assert.deepEqual(h.of("refetch"), [{ reason: "not-recovered" }]);
  assert.deepEqual(h.client.positions.positions.user, { epoch: "uepoch2", offset: 3 });
  socket.receive(h.server.publish());
  assert.equal(userOffset(h), 4);
  assert.equal(h.client.machineState, "live");
});

test("a live frame of another epoch is delivered once and makes the client resume", async () => {
  const { h, socket } = await at(3);
  h.server.epochs.user = "uepoch2";
  const frame = h.server.publish();
  socket.receive(frame);
  socket.receive(frame);
  assert.deepEqual(delivered(h), [frame.id]);
  assert.equal(resumesOn(socket).length, 2);
});

test("resumed with heads ahead of what this tab holds: resume again; then complete", async () => {
  const { h, socket } = await at(10);
  socket.drop(1006);
  for (let i = 0; i < 3; i += 1) h.server.publish(); // 11..13
  const next = await reopened(h);
  next.receive(h.server.frame("user", 11));
  next.receive(h.server.frame("user", 13)); // 12 lost on the way
  next.receive(h.server.resumed(resumesOn(next)[0]!.id, 3));
  assert.equal(h.client.machineState, "resuming", "recovered: true, but offset 12 is not here");
  await h.clock.advance(1_000);
  assert.deepEqual(positionsOf(resumesOn(next)[1]), { user: { epoch: "uepoch1", offset: 11 }, global: { epoch: null, offset: 0 } });
  h.server.answerResume(next);
  assert.equal(userOffset(h), 13);
  assert.equal(new Set(delivered(h)).size, 3);
  assert.equal(h.client.machineState, "live");
});

// --- §2 a resume always ends ----------------------------------------------------------------------------

async function resumingAfterDrop() {
  const { h, socket } = await at(4, { random: 1 });
  socket.drop(1006);
  const next = await reopened(h);
  assert.equal(resumesOn(next).length, 1);
  return { h, next };
}

const internalError = { type: "error", version: "2.0", data: { code: "INTERNAL_ERROR", message: "replay failed", timestamp: "t", requestId: "r" } };
const gatewayBody = { message: "Internal server error", connectionId: "Ab1=", requestId: "Cd2=" };

for (const [name, answer] of [
  ["an INTERNAL_ERROR answer", internalError],
  ["API Gateway's own error body", gatewayBody],
  ["an invalid resumed", { type: "resumed", version: "2.0", id: "rs-x", data: { recovered: true } }],
  ["an unknown error code", { ...internalError, data: { ...internalError.data, code: "REPLAY_BUSY" } }],
] as const) {
  test(`${name} is retried (bounded), then refetch and a fresh start`, async () => {
    const { h, next } = await resumingAfterDrop();
    next.receive(answer);
    await h.clock.advance(999);
    assert.equal(resumesOn(next).length, 1);
    await h.clock.advance(1);
    assert.equal(resumesOn(next).length, 2, "retried after 1 s");
    assert.deepEqual(positionsOf(resumesOn(next)[1]), positionsOf(resumesOn(next)[0]), "from the same positions");
    next.receive(answer);
    await h.clock.advance(2_000);
    assert.equal(resumesOn(next).length, 3);
    next.receive(answer);
    // THEN it ends: refetch, the positions are forgotten, the connection is replaced
    assert.deepEqual(h.of("refetch"), [{ reason: "resume-failed" }]);
    assert.equal(next.closedWith, 4001);
    assert.equal(h.of("reconnect-scheduled").at(-1)!.reason, "resume failed");
    const fresh = await reopened(h);
    assert.deepEqual(positionsOf(resumesOn(fresh)[0]), {}, "starts as a fresh tab (the app refetched)");
    h.server.answerResume(fresh);
    assert.equal(h.client.machineState, "live");
    assert.equal(userOffset(h), 4);
  });
}

test("no answer within the deadline is a failed resume; replayed frames extend the deadline", async () => {
  const { h, next } = await resumingAfterDrop();
  h.server.publish();
  await h.clock.advance(RESUME_ANSWER_TIMEOUT_MS - 1_000);
  next.receive(h.server.frame("user", 5)); // progress: the replay is still running
  await h.clock.advance(RESUME_ANSWER_TIMEOUT_MS - 1);
  assert.equal(resumesOn(next).length, 1, "no retry while frames keep coming");
  await h.clock.advance(1 + 1_000);
  assert.equal(resumesOn(next).length, 2, "10 s of silence: retried");
  // a late `resumed` of the first resume is not the answer to the second
  next.receive(h.server.resumed(resumesOn(next)[0]!.id, 1));
  assert.equal(h.client.machineState, "resuming");
  h.server.answerResume(next);
  assert.equal(h.client.machineState, "live");
  assert.deepEqual(delivered(h), ["user-uepoch1-5"]);
});

test("heads that stay ahead of every replay: after the bounded retries refetch and adopt the heads", async () => {
  const { h, next } = await resumingAfterDrop();
  h.server.publish(); // 5, never replayed (say it expired between read and post)
  for (let i = 0; i < 3; i += 1) {
    next.receive(h.server.resumed(resumesOn(next).at(-1)!.id, 0));
    await h.clock.advance(2_000);
  }
  assert.deepEqual(h.of("refetch"), [{ reason: "resume-failed" }]);
  assert.equal(userOffset(h), 5);
  assert.equal(h.client.machineState, "live");
  assert.equal(next.closedWith, null, "the heads are known: no reconnect needed");
});

// --- §5 exact dedup across reloads ----------------------------------------------------------------------

test("a reload resumes from the stored positions and toasts nothing twice, however long the gap", async () => {
  // GIVEN a tab at offset 3 that then got 4 and 6 (5 missing)
  const clock = new FakeClock();
  const server = new FakeServer();
  const storage = new MemoryStorage();
  const { h, socket } = await at(3, { clock, server, storage });
  const [four, five, six] = [server.publish(), server.publish(), server.publish()];
  socket.receive(four);
  socket.receive(six);
  h.client.stop(); // the page reloads
  assert.ok(storage.items.has(`${STORAGE_PREFIX}user-1`), "kept per user");
  await clock.advance(25 * 3_600_000);
  // WHEN the reloaded page connects
  FakeSocket.reset();
  const reloaded = harness({ clock, server, storage });
  reloaded.client.start();
  await settle();
  FakeSocket.last().open();
  // THEN it resumes from offset 4 and, of the replay 5..6, delivers only 5
  assert.deepEqual(positionsOf(resumesOn(FakeSocket.last())[0]), { user: { epoch: "uepoch1", offset: 4 }, global: { epoch: null, offset: 0 } });
  server.answerResume(FakeSocket.last());
  assert.deepEqual(delivered(reloaded), [five.id]);
  assert.equal(userOffset(reloaded), 6);
  assert.deepEqual(delivered(h), [four.id, six.id]);
});

test("another user's stored positions are never used", async () => {
  const storage = new MemoryStorage();
  const server = new FakeServer();
  const { h } = await at(3, { server, storage });
  h.client.stop();
  FakeSocket.reset();
  const other = harness({ server, storage, sub: "user-2" });
  other.client.start();
  await settle();
  FakeSocket.last().open();
  assert.deepEqual(positionsOf(resumesOn(FakeSocket.last())[0]), {});
});

test("frames without a position (a server older than 2.0) are deduplicated by id", async () => {
  const { h, socket } = await at(0);
  socket.receive(notification("a", null));
  socket.receive(notification("a", null));
  socket.receive(notification("b", "c2"));
  assert.deepEqual(delivered(h), ["a", "b"]);
});

test("a late answer of the previous send ends the resume and cancels the pending retry", async () => {
  const { h, next } = await resumingAfterDrop();
  const first = resumesOn(next)[0]!;
  next.receive(internalError); // e.g. the answer to a ping, taken for the resume's
  next.receive(h.server.resumed(first.id, 0)); // then the real answer arrives
  assert.equal(h.client.machineState, "live");
  await h.clock.advance(5_000);
  assert.equal(resumesOn(next).length, 1, "no retry after it ended");
});
