// Interim frame validator (issue 18 §4): the integrator replaces this body with the generated one of the
// size work; the signature and these rules stay. Tolerant in what it receives (docs/messages.md "Frames"):
// unknown fields are ignored and dropped, an unknown notification `kind`, error `code` or `resumed` `reason`
// is kept as a string, any `version` string is accepted; an unknown `type` is reported as such; only a
// malformed *known* field (or no `type` at all, like API Gateway's own error body) makes a frame invalid.
import type { Heads, NotificationData, Position, ServerFrame, Severity, StreamName } from "./protocol.js";

export type ParseResult = { ok: true; frame: ServerFrame } | { ok: false; reason: "invalid" | "unknown-type" };

class Invalid extends Error {}

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const EPOCH = /^[A-Za-z0-9]{1,32}$/;
const SEVERITIES = new Set<string>(["info", "success", "warning", "error"]);

type Json = Record<string, unknown>;

function object(value: unknown): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Invalid();
  return value as Json;
}
function string(value: unknown, max = Infinity, min = 0): string {
  if (typeof value !== "string") throw new Invalid();
  const length = [...value].length; // code points, as JSON Schema and pydantic count
  if (length < min || length > max) throw new Invalid();
  return value;
}
function optional<T>(value: unknown, read: (v: unknown) => T): T | null {
  return value === undefined || value === null ? null : read(value);
}
function offset(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new Invalid();
  return value;
}
function position(value: unknown): Position {
  const o = object(value);
  const epoch = o.epoch === null ? null : string(o.epoch);
  if (epoch !== null && !EPOCH.test(epoch)) throw new Invalid();
  return { epoch, offset: offset(o.offset) };
}
function heads(value: unknown): Heads {
  const o = object(value);
  return { user: position(o.user), global: position(o.global) };
}

function notificationData(value: unknown): NotificationData {
  const o = object(value);
  const link = optional(o.link, (v) => string(v, 2048));
  if (link !== null && !/^(https:\/\/|\/)/.test(link)) throw new Invalid();
  const severity = optional(o.severity, (v) => {
    if (typeof v !== "string" || !SEVERITIES.has(v)) throw new Invalid();
    return v as Severity;
  });
  const resource = optional(o.resource, (v) => {
    const r = object(v);
    return { type: string(r.type, 64, 1), id: string(r.id, 256, 1) };
  });
  const data: NotificationData = {
    kind: string(o.kind, 128, 1),
    title: string(o.title, 200, 1),
    body: optional(o.body, (v) => string(v, 2000)),
    severity,
    link,
    resource,
    timestamp: string(o.timestamp),
  };
  // Stream, epoch and offset come together (2.0) or not at all (a server older than 2.0).
  const placed = [o.stream, o.epoch, o.offset].filter((v) => v !== undefined && v !== null).length;
  if (placed === 3) {
    if (o.stream !== "user" && o.stream !== "global") throw new Invalid();
    data.stream = o.stream as StreamName;
    data.epoch = string(o.epoch);
    if (!EPOCH.test(data.epoch)) throw new Invalid();
    data.offset = offset(o.offset);
    if (data.offset < 1) throw new Invalid();
  } else if (placed !== 0) {
    throw new Invalid();
  }
  return data;
}

function frame(value: unknown): ServerFrame | "unknown-type" {
  const o = object(value);
  const type = string(o.type);
  const version = string(o.version, 16, 1);
  const id = optional(o.id, (v) => {
    const s = string(v);
    if (!ID.test(s)) throw new Invalid();
    return s;
  });
  switch (type) {
    case "notification":
      return { type, version, id, data: notificationData(o.data) };
    case "pong": {
      const d = object(o.data);
      const pong: ServerFrame = { type, version, id, data: { timestamp: string(d.timestamp) } };
      if (d.heads !== undefined && d.heads !== null) pong.data.heads = heads(d.heads);
      return pong;
    }
    case "resumed": {
      const d = object(o.data);
      if (typeof d.recovered !== "boolean") throw new Invalid();
      const resumed: ServerFrame = { type, version, id, data: { recovered: d.recovered, replayed: offset(d.replayed), heads: heads(d.heads) } };
      if (d.reason !== undefined && d.reason !== null) resumed.data.reason = string(d.reason);
      return resumed;
    }
    case "refreshed":
      return { type, version, id, data: { expiresAt: string(object(o.data).expiresAt) } };
    case "error": {
      const d = object(o.data);
      return { type, version, id, data: { code: string(d.code, 64, 1), message: string(d.message), timestamp: string(d.timestamp), requestId: string(d.requestId) } };
    }
    default:
      return "unknown-type";
  }
}

/** Parses one server frame: the text of a WebSocket message, or an already parsed value (a relayed frame). */
export function parseServerFrame(raw: unknown): ParseResult {
  try {
    const result = frame(typeof raw === "string" ? JSON.parse(raw) : raw);
    return result === "unknown-type" ? { ok: false, reason: "unknown-type" } : { ok: true, frame: result };
  } catch {
    return { ok: false, reason: "invalid" };
  }
}
