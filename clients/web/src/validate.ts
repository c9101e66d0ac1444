// The core's frame validator: the checks generated from schemas/messages.v1.json into src/frames.ts, read here.
// Zod stays the published schema API (`@moc-realtime/client/messages`); this is what keeps the core small.
// Forward compatible (docs/web.md "Forward compatibility"): unknown fields are ignored, `kind` and `version`
// are open, an unknown `type` is reported apart from an invalid frame; only a malformed known field is invalid.
// String lengths count code points, as JSON Schema and pydantic do (test/validate-differential.test.ts).
import { SERVER_FRAME_CHECKS, type Check } from "./frames.js";
import type { ServerFrame } from "./protocol.js";

export type { KnownKind, ServerFrame } from "./protocol.js";

export type FrameResult =
  | { ok: true; frame: ServerFrame }
  /** Not JSON, not an object, no string `type`, or a known field that breaks the schema. */
  | { ok: false; reason: "invalid"; error: string }
  /** A frame type this client does not know (a newer server): ignore it. */
  | { ok: false; reason: "unknown-type"; type: string };

const patterns = new Map<string, RegExp>();

function matches(source: string, value: string): boolean {
  let pattern = patterns.get(source);
  if (!pattern) patterns.set(source, (pattern = new RegExp(source, "u")));
  return pattern.test(value);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const bound = (value: unknown): value is number => typeof value === "number";

/** The first problem of `value` against `check` as "path: expectation", or "" when it passes. */
function problem(check: Check, value: unknown, path: string): string {
  const [kind, a, b, c, d, e] = check as [string, ...unknown[]];
  const fail = (expected: string) => `${path || "frame"}: ${expected}`;
  switch (kind) {
    case "s": {
      if (typeof value !== "string") return fail("expected a string");
      const length = bound(a) || bound(b) ? [...value].length : 0;
      if (bound(a) && length < a) return fail(`at least ${a} characters`);
      if (bound(b) && length > b) return fail(`at most ${b} characters`);
      return typeof c === "string" && !matches(c, value) ? fail(`must match ${c}`) : "";
    }
    case "e":
      return (a as unknown[]).includes(value) ? "" : fail(`expected one of ${(a as unknown[]).join(", ")}`);
    case "n":
      if (typeof value !== "number" || !Number.isFinite(value) || (a && !Number.isSafeInteger(value))) return fail(a ? "expected an integer (at most 2^53 - 1 in size)" : "expected a number");
      if ((bound(b) && value < b) || (bound(d) && value <= d)) return fail(`too small`);
      return (bound(c) && value > c) || (bound(e) && value >= e) ? fail("too large") : "";
    case "b":
      return typeof value === "boolean" ? "" : fail("expected true or false");
    case "z":
      return value === null ? "" : fail("expected null");
    case "a": {
      if (!Array.isArray(value)) return fail("expected an array");
      if ((bound(b) && value.length < b) || (bound(c) && value.length > c)) return fail("wrong number of items");
      for (let i = 0; i < value.length; i += 1) {
        const found = problem(a as Check, value[i], `${path}[${i}]`);
        if (found) return found;
      }
      return "";
    }
    case "o": {
      if (!isObject(value)) return fail("expected an object");
      const properties = a as Record<string, Check>;
      for (const key of b as string[]) if (!Object.hasOwn(value, key)) return fail(`${key} is required`);
      const at = (key: string) => (path ? `${path}.${key}` : key);
      for (const key of Object.keys(value)) {
        // Unknown fields are ignored unless the schema types every extra key (a map, e.g. per-stream positions).
        const known = Object.hasOwn(properties, key) ? properties[key]! : (c as Check | undefined);
        const found = known ? problem(known, value[key], at(key)) : "";
        if (found) return found;
      }
      // Absent properties with a schema default get it, as Zod and pydantic fill them in (JSON values: copied).
      for (const [key, fallback] of Object.entries((d ?? {}) as Record<string, unknown>)) {
        if (!Object.hasOwn(value, key)) value[key] = fallback === null ? null : JSON.parse(JSON.stringify(fallback));
      }
      return "";
    }
    case "u": {
      let first = "";
      for (const alternative of a as Check[]) {
        const found = problem(alternative, value, path);
        if (!found) return "";
        first ||= found;
      }
      return first;
    }
    default: // "x": anything
      return "";
  }
}

/**
 * Parses and checks one server frame: the text of a WebSocket message, or an already parsed value (a frame
 * relayed by another tab). Never throws.
 */
export function parseServerFrame(raw: unknown): FrameResult {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, reason: "invalid", error: "not JSON" };
    }
  }
  if (!isObject(value)) return { ok: false, reason: "invalid", error: "not a JSON object" };
  const { type } = value;
  if (typeof type !== "string") return { ok: false, reason: "invalid", error: "type: expected a string" };
  if (!Object.hasOwn(SERVER_FRAME_CHECKS, type)) return { ok: false, reason: "unknown-type", type };
  const error = problem(SERVER_FRAME_CHECKS[type]!, value, "");
  return error ? { ok: false, reason: "invalid", error } : { ok: true, frame: value as unknown as ServerFrame };
}
