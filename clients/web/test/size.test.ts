// The size budgets of docs/web.md "Size": what an app adds (esbuild, min+gzip, React external).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
// @ts-expect-error - a plain .mjs script without types
import { bundleSize, usesOf } from "../scripts/bundle-size.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const KIB = 1024;
const size = async (contents: string): Promise<{ minified: number; gzip: number }> => bundleSize(contents, root);

// The connection logic (src/connection.ts, rewritten apart for protocol 2.0) validates frames with Zod until it calls
// parseServerFrame; until then these two budgets are reported as todo, and they bind as soon as it does.
const zodInConnection = !readFileSync(join(root, "src", "connection.ts"), "utf8").includes("parseServerFrame");
const pending = zodInConnection ? "src/connection.ts still validates with the Zod schema instead of parseServerFrame" : undefined;

test("the core (an app importing RealtimeClient) is at most 12 KiB min+gzip, frame validation included", { todo: pending }, async () => {
  const core = await size(usesOf("./src/index.ts", ["RealtimeClient"]));
  assert.ok(core.gzip <= 12 * KIB, `core: ${(core.gzip / KIB).toFixed(1)} KiB`);
});

test("the React entry, everything it exports, is at most 16 KiB min+gzip", { todo: pending }, async () => {
  const react = await size('export * from "./src/react/index.ts";');
  assert.ok(react.gzip <= 16 * KIB, `react: ${(react.gzip / KIB).toFixed(1)} KiB`);
});

test("the generated validator is at most 2 KiB min+gzip, and brings no Zod", async () => {
  const validator = await size(usesOf("./src/validate.ts", ["parseServerFrame"]));
  assert.ok(validator.gzip <= 2 * KIB, `validator: ${(validator.gzip / KIB).toFixed(1)} KiB`);
  const zod = await size(usesOf("zod", ["object"]));
  assert.ok(zod.gzip > validator.gzip * 5, "the control: a single Zod object schema is many times larger");
});

test("the React bindings add at most 4 KiB to the core", async () => {
  const core = await size(usesOf("./src/index.ts", ["RealtimeClient"]));
  const react = await size('export * from "./src/react/index.ts";');
  assert.ok(react.gzip - core.gzip <= 4 * KIB, `react - core: ${((react.gzip - core.gzip) / KIB).toFixed(1)} KiB`);
});
