// Positions per stream and epoch as a pure structure (docs/messages.md rules 1–4; issue 18 §5).
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_HELD_PER_STREAM, Streams, loadPositions, savePositions } from "../src/streams.js";
import { MemoryStorage } from "./fakes.js";

const heads = (user: number, epoch = "e1") => ({ user: { epoch, offset: user }, global: { epoch: null, offset: 0 } });

test("held offsets are bounded in memory; the oldest are forgotten first", () => {
  const streams = new Streams();
  streams.adoptHeads(heads(0));
  for (let offset = 2; offset <= MAX_HELD_PER_STREAM + 101; offset += 1) assert.equal(streams.accept("user", "e1", offset, true), "gap");
  const held = streams.snapshot().held.user!.e1!;
  assert.equal(held.length, MAX_HELD_PER_STREAM);
  assert.equal(held[0], 102);
});

test("a late frame of an old epoch is delivered once, resumes once, and does not hold a gap open", () => {
  const streams = new Streams();
  streams.adoptHeads(heads(5, "e2"));
  assert.equal(streams.accept("user", "e1", 9, true), "other-epoch");
  assert.equal(streams.accept("user", "e1", 9, true), "duplicate");
  assert.equal(streams.gapOpen(), false, "no grace-timer resume loop for it");
  assert.equal(streams.completeResume(heads(5, "e2")), true);
});

test("snapshots round-trip through storage per user; a malformed one is ignored", () => {
  const storage = new MemoryStorage();
  const streams = new Streams();
  streams.adoptHeads(heads(3));
  streams.accept("user", "e1", 5, true);
  savePositions(storage, "u1", streams.snapshot());
  assert.deepEqual(new Streams(loadPositions(storage, "u1")).snapshot(), streams.snapshot());
  assert.equal(loadPositions(storage, "u2"), null);
  storage.setItem("realtime-positions:u3", JSON.stringify({ v: 1, positions: { user: { epoch: 1, offset: -1 } }, held: {} }));
  assert.equal(loadPositions(storage, "u3"), null);
  storage.setItem("realtime-positions:u4", "{");
  assert.equal(loadPositions(storage, "u4"), null);
});

test("pong heads: ahead or another epoch is behind; an older settled global head is not", () => {
  const streams = new Streams();
  streams.adoptHeads({ user: { epoch: "e1", offset: 4 }, global: { epoch: "g1", offset: 7 } });
  assert.equal(streams.behind({ user: { epoch: "e1", offset: 4 }, global: { epoch: "g1", offset: 6 } }), false);
  assert.equal(streams.behind({ user: { epoch: "e1", offset: 5 }, global: { epoch: "g1", offset: 7 } }), true);
  assert.equal(streams.behind({ user: { epoch: "e9", offset: 4 }, global: { epoch: "g1", offset: 7 } }), true);
});
