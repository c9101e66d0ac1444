// parseServerFrame's forward-compatibility rules (issue 18 §4, docs/messages.md "Frames"): tolerant of what a newer server adds, strict on known fields.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseServerFrame } from "../src/validate.js";

const note = {
  type: "notification", version: "1.0", id: "moc-42-finalized",
  data: { kind: "moc.finalized", title: "Your MOC is ready", severity: "success", link: "/mocs/42", resource: { type: "moc", id: "42" },
    timestamp: "2026-11-25T18:00:01.000Z", stream: "user", epoch: "k3x9q2", offset: 43 },
};
const heads = { user: { epoch: "k3x9q2", offset: 42 }, global: { epoch: null, offset: 0 } };
const reason = (raw: unknown) => { const r = parseServerFrame(raw); return r.ok ? "ok" : r.reason; };

test("the documented examples parse, from text or from a relayed object", () => {
  assert.equal(reason(JSON.stringify(note)), "ok");
  assert.equal(reason({ type: "pong", version: "2.0", id: "hb-17", data: { timestamp: "t", heads } }), "ok");
  assert.equal(reason({ type: "pong", version: "1.0", id: "hb-1", data: { timestamp: "t" } }), "ok");
  assert.equal(reason({ type: "resumed", version: "2.0", id: "r-3", data: { recovered: true, replayed: 2, heads } }), "ok");
  assert.equal(reason({ type: "refreshed", version: "2.0", id: "f-1", data: { expiresAt: "2026-11-25T19:00:00.000Z" } }), "ok");
  assert.equal(reason({ type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "m", timestamp: "t", requestId: "r" } }), "ok");
});

test("a newer server: unknown fields ignored, unknown kind/code/reason kept, any version", () => {
  const result = parseServerFrame({ ...note, version: "3.1", trace: "x", data: { ...note.data, kind: "moc.comment.added", mood: 1 } });
  assert.ok(result.ok && result.frame.type === "notification");
  assert.equal(result.frame.data.kind, "moc.comment.added");
  assert.equal(reason({ type: "error", version: "2.0", data: { code: "NEW_CODE", message: "m", timestamp: "t", requestId: "r" } }), "ok");
  assert.equal(reason({ type: "resumed", version: "2.0", data: { recovered: false, replayed: 0, heads, reason: "new_reason" } }), "ok");
  assert.equal(reason({ type: "presence", version: "2.0", data: {} }), "unknown-type");
});

test("malformed known fields, no type (API Gateway's body) and non-JSON are invalid", () => {
  const bad = [
    "not json", "[]", "null",
    { message: "Internal server error", connectionId: "Ab1=", requestId: "Cd2=" },
    { ...note, version: 2 },
    { ...note, id: "has space" },
    { ...note, data: { ...note.data, title: "" } },
    { ...note, data: { ...note.data, title: "é".repeat(201) } },
    { ...note, data: { ...note.data, severity: "fatal" } },
    { ...note, data: { ...note.data, link: "javascript:alert(1)" } },
    { ...note, data: { ...note.data, offset: 0 } },
    { ...note, data: { ...note.data, offset: 1.5 } },
    { ...note, data: { ...note.data, stream: "team" } },
    { ...note, data: { ...note.data, epoch: "no-dashes" } },
    { ...note, data: { ...note.data, epoch: undefined } }, // a position is all three fields or none
    { type: "pong", version: "2.0", id: "hb", data: { timestamp: "t", heads: { user: heads.user } } },
    { type: "resumed", version: "2.0", data: { recovered: true, replayed: 2 } },
    { type: "resumed", version: "2.0", data: { recovered: "yes", replayed: 2, heads } },
    { type: "error", version: "1.0", data: { code: "RATE_LIMITED", message: "m", timestamp: "t" } },
  ];
  assert.deepEqual(bad.map(reason), bad.map(() => "invalid"));
  // code points, not UTF-16 units: 200 astral characters are a valid title
  assert.equal(reason({ ...note, data: { ...note.data, title: "😀".repeat(200) } }), "ok");
});
