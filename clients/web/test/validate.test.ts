import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
// @ts-expect-error - a plain .mjs script without types
import { generateValidator, OUTPUT_PATH, SCHEMA_PATH } from "../scripts/generate-validator.mjs";
import { parseServerFrame } from "../src/validate.js";

const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));
const notification = (data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: "notification", version: "1.0", id: "n-1", data: { kind: "moc.finalized", title: "t", timestamp: "x", ...data }, ...extra });

test("src/frames.ts is what the generator makes of schemas/messages.v1.json", () => {
  assert.equal(readFileSync(OUTPUT_PATH, "utf8"), generateValidator(schema), "stale: run `npm run generate -w @moc-realtime/client`");
});

test("the generator stops at a JSON Schema keyword it does not check, instead of ignoring it", () => {
  const changed = structuredClone(schema);
  changed.$defs.ServerMessage.oneOf[0].properties.data.properties.timestamp.format = "date-time";
  assert.throws(() => generateValidator(changed), /pong\.data\.timestamp: JSON Schema keyword "format" is not supported/);
  assert.throws(() => generateValidator({ $defs: {} }), /no \$defs ServerMessage/);
});

test("forward compatibility: unknown fields ignored, a new kind delivered, any version, an unknown type reported apart", () => {
  const future = parseServerFrame(notification({ kind: "moc.remixed", futureField: 1 }, { version: "2.0", extra: true }));
  assert.equal(future.ok, true);
  assert.equal(future.ok && future.frame.type === "notification" && future.frame.data.kind, "moc.remixed");
  assert.deepEqual(parseServerFrame(JSON.stringify({ type: "presence", version: "2.0" })), { ok: false, reason: "unknown-type", type: "presence" });
  assert.equal(parseServerFrame(JSON.stringify({ type: "hasOwnProperty" })).ok, false, "no prototype key is a known type");
  // Only a malformed known field makes a frame invalid.
  const invalid = [
    notification({ kind: "" }),
    notification({ kind: "k".repeat(65) }),
    notification({ title: "" }),
    notification({ link: "http://plain" }),
    notification({ resource: { type: "moc" } }),
    notification({}, { version: 2 }),
    JSON.stringify({ type: "resumed", version: "1.1", data: { recovered: true, replayed: -1 } }),
    JSON.stringify({ type: "error", version: "1.0", data: { code: "", message: "m", timestamp: "t", requestId: "r" } }),
    "{", "null", JSON.stringify({ version: "1.0" }),
  ];
  for (const text of invalid) assert.equal(parseServerFrame(text).ok === false && (parseServerFrame(text) as { reason: string }).reason, "invalid", text);
});

test("lengths count code points: 200 emoji are a valid title, 201 are not", () => {
  assert.equal(parseServerFrame(notification({ title: "😀".repeat(200) })).ok, true);
  const result = parseServerFrame(notification({ title: "😀".repeat(201) }));
  assert.deepEqual(result, { ok: false, reason: "invalid", error: "data.title: at most 200 characters" });
});

test("absent properties get the schema's defaults, so a frame has the shape Zod would give it", () => {
  const result = parseServerFrame(notification());
  assert.ok(result.ok && result.frame.type === "notification");
  assert.deepEqual(result.frame.data, { kind: "moc.finalized", title: "t", timestamp: "x", body: null, severity: null, link: null, resource: null, stream: null, epoch: null, offset: null });
  // An already parsed value (a frame another tab relayed) is accepted too.
  assert.equal(parseServerFrame(JSON.parse(notification())).ok, true);
});
