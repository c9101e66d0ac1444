import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
// @ts-expect-error - a plain .mjs script without types
import { generateMessages, OUTPUT_PATH, SCHEMA_PATH } from "../scripts/generate-messages.mjs";
import type { z } from "zod";
import { broadcastRequestSchema, clientMessageSchema, serverMessageSchema } from "../src/messages.js";
import type { ClientFrame } from "../src/protocol.js";

// Compile-time: every frame type the client can send is an input the schema's ClientMessage admits (the
// client's frame types are written by hand; test/fakes.ts checks every frame actually sent at run time).
export const clientFramesFitTheSchema = (frame: ClientFrame): z.input<typeof clientMessageSchema> => frame;

test("src/messages.ts is what the generator makes of schemas/messages.v1.json", () => {
  const expected = generateMessages(JSON.parse(readFileSync(SCHEMA_PATH, "utf8")));
  assert.equal(readFileSync(OUTPUT_PATH, "utf8"), expected, "stale: run `npm run generate -w @moc-realtime/client`");
});

test("the generator refuses a schema without the parts the clients use", () => {
  assert.throws(() => generateMessages({ $defs: { ServerMessage: {} } }), /ClientMessage, BroadcastRequest/);
});

test("server frames of every type parse; wrong ones do not", () => {
  const heads = { user: { epoch: "k3x9q2", offset: 42 }, global: { epoch: null, offset: 0 } };
  const good = [
    { type: "pong", version: "1.0", id: "hb-1", data: { timestamp: "2026-12-01T12:00:00.000Z" } },
    { type: "pong", version: "2.0", id: "hb-2", data: { timestamp: "2026-12-01T12:00:00.000Z", heads } },
    { type: "notification", version: "1.0", id: "n-1", data: { kind: "moc.finalized", title: "t", timestamp: "x", stream: "user", epoch: "k3x9q2", offset: 43 } },
    { type: "resumed", version: "2.0", data: { recovered: true, replayed: 3, heads } },
    { type: "resumed", version: "2.0", data: { recovered: false, replayed: 0, heads, reason: "expired" } },
    { type: "refreshed", version: "2.0", data: { expiresAt: "2026-12-01T13:00:00.000Z" } },
    { type: "error", version: "1.0", data: { code: "CONNECTION_UNKNOWN", message: "m", timestamp: "t", requestId: "r" } },
  ];
  const bad = [
    { type: "pong", version: "1.1", data: { timestamp: "t" } },
    { type: "notification", version: "1.0", data: { kind: "nope", title: "t", timestamp: "x" } },
    { type: "notification", version: "1.0", data: { kind: "moc.finalized", title: "t", timestamp: "x", stream: "user", epoch: "k", offset: 0 } },
    { type: "resumed", version: "2.0", data: { recovered: "yes", replayed: 0, heads } },
    { type: "resumed", version: "2.0", data: { recovered: true, replayed: 0 } },
    { type: "error", version: "1.0", data: { code: "NOPE", message: "m", timestamp: "t", requestId: "r" } },
    { type: "surprise", version: "1.0" },
  ];
  assert.deepEqual(good.map((f) => serverMessageSchema.safeParse(f).success), good.map(() => true));
  assert.deepEqual(bad.map((f) => serverMessageSchema.safeParse(f).success), bad.map(() => false));
});

test("broadcast requests are bounded like the server's model", () => {
  const base = { id: "moc-42", target: { userIds: ["u"] }, notification: { kind: "moc.finalized", title: "t" } };
  assert.equal(broadcastRequestSchema.safeParse(base).success, true);
  assert.equal(broadcastRequestSchema.safeParse({ ...base, target: { userIds: [] } }).success, false);
  assert.equal(broadcastRequestSchema.safeParse({ ...base, id: "has space" }).success, false);
  assert.equal(broadcastRequestSchema.safeParse({ ...base, notification: { kind: "set.created", title: "t", link: "http://x" } }).success, false);
});
