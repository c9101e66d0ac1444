// Generates src/frames.ts from schemas/messages.v1.json: the types of the server frames and the compact checks
// src/validate.ts runs on every frame the core receives. Zod stays the published schema API (src/messages.ts);
// the core uses these instead because Zod would be most of its bundle (docs/web.md "Size").
//   npm run generate -w @moc-realtime/client
// test/validate.test.ts fails when the committed file is stale; test/validate-differential.test.ts proves the
// checks accept what the Zod schemas and pydantic accept.
//
// Forward compatibility (STYLE.md "Clients", docs/web.md): the server deploys before every tab reloads, so
//  - unknown fields are ignored on every object (additionalProperties: false is not carried over);
//  - an OPEN property accepts any string: `kind`, an error `code` and a `resumed` `reason` any non-empty string up to its maxLength (or
//    OPEN_MAX_LENGTH), typed `KnownKind | (string & {})`; `version` any string;
//  - an unknown `type` is not a check failure: validate.ts reports it apart from an invalid frame.
// Only JSON Schema keywords listed in SUPPORTED are understood; any other one stops the generator, so a
// schema change that needs a new check cannot be silently ignored.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const SCHEMA_PATH = join(here, "..", "..", "..", "schemas", "messages.v1.json");
export const OUTPUT_PATH = join(here, "..", "src", "frames.ts");

/** Properties whose enum is open on server frames, and the bound of their values when the schema gives none. */
const OPEN = { kind: { minLength: 1 }, version: { minLength: null }, code: { minLength: 1 }, reason: { minLength: 1 } };
export const OPEN_MAX_LENGTH = 64;

const ANNOTATIONS = new Set(["title", "description", "default", "examples", "discriminator", "$comment"]);
const SUPPORTED = new Set([
  ...ANNOTATIONS, "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
  "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
  "enum", "const", "anyOf", "oneOf", "$ref",
]);

const capitalize = (name) => name.charAt(0).toUpperCase() + name.slice(1);

export function generateValidator(schema) {
  const defs = schema.$defs ?? {};
  const resolve = (node, seen = new Set()) => {
    if (node === true || (node && typeof node === "object" && Object.keys(node).every((k) => ANNOTATIONS.has(k)))) return {};
    if (!node || typeof node !== "object") throw new Error(`unsupported schema node ${JSON.stringify(node)}`);
    if (node.$ref === undefined) return node;
    const match = /^#\/\$defs\/(.+)$/.exec(node.$ref);
    if (!match || !(match[1] in defs)) throw new Error(`unresolvable $ref ${node.$ref}`);
    if (seen.has(node.$ref)) throw new Error(`recursive $ref ${node.$ref} is not supported`);
    return resolve(defs[match[1]], new Set([...seen, node.$ref]));
  };
  const server = defs.ServerMessage;
  if (!server) throw new Error("schemas/messages.v1.json has no $defs ServerMessage");
  const alternatives = (server.oneOf ?? server.anyOf ?? []).map((node) => resolve(node));
  if (alternatives.length === 0) throw new Error("$defs.ServerMessage has no oneOf alternatives");

  const openEnums = new Map(); // type name -> values
  const where = [];

  // One compact check per node: ["s", min, max, pattern] string, ["e", values] closed enum, ["n", integer, min,
  // max, exclusiveMin, exclusiveMax] number, ["b"] boolean, ["z"] null, ["x"] anything, ["a", item, min, max]
  // array, ["o", properties, required, additional, defaults] object (defaults: the value of each absent property
// that has a schema default, filled in as Zod and pydantic do, so a frame has one shape whichever parsed it), ["u", alternatives] any of. Unused tails are dropped.
  // Each also yields its TypeScript type.
  function compile(raw, name) {
    const node = resolve(raw);
    const path = where.join(".") || "(frame)";
    for (const key of Object.keys(node)) if (!SUPPORTED.has(key)) throw new Error(`${path}: JSON Schema keyword "${key}" is not supported by generate-validator.mjs`);
    if (Object.keys(node).every((k) => ANNOTATIONS.has(k))) return { check: ["x"], ts: "unknown" };
    if (name in OPEN && (node.enum || node.const !== undefined)) {
      const values = node.enum ?? [node.const];
      const typeName = `Known${capitalize(name)}`;
      const previous = openEnums.get(typeName);
      const union = [...new Set([...(previous ?? []), ...values])];
      openEnums.set(typeName, union);
      const { minLength } = OPEN[name];
      const check = trim(["s", minLength, node.maxLength ?? (name === "version" ? null : OPEN_MAX_LENGTH), null]);
      return { check, ts: `${typeName} | (string & {})` };
    }
    const alternativesOf = node.anyOf ?? node.oneOf;
    if (alternativesOf) {
      const parts = alternativesOf.map((alternative) => compile(alternative, name));
      return { check: ["u", parts.map((p) => p.check)], ts: parts.map((p) => p.ts).join(" | ") };
    }
    if (node.enum || node.const !== undefined) {
      const values = node.enum ?? [node.const];
      return { check: ["e", values], ts: values.map((v) => JSON.stringify(v)).join(" | ") };
    }
    switch (node.type) {
      case "string":
        return { check: trim(["s", node.minLength ?? null, node.maxLength ?? null, node.pattern ?? null]), ts: "string" };
      case "integer":
      case "number": {
        const exclusive = (bound) => (typeof bound === "number" ? bound : null);
        return {
          check: trim(["n", node.type === "integer" ? 1 : 0, node.minimum ?? null, node.maximum ?? null,
            exclusive(node.exclusiveMinimum), exclusive(node.exclusiveMaximum)]),
          ts: "number",
        };
      }
      case "boolean":
        return { check: ["b"], ts: "boolean" };
      case "null":
        return { check: ["z"], ts: "null" };
      case "array": {
        where.push("[]");
        const item = compile(node.items ?? {}, "");
        where.pop();
        return { check: trim(["a", item.check, node.minItems ?? null, node.maxItems ?? null]), ts: `Array<${item.ts}>` };
      }
      case "object": {
        const properties = {};
        const defaults = {};
        const fields = [];
        const required = node.required ?? [];
        for (const [key, value] of Object.entries(node.properties ?? {})) {
          where.push(key);
          const compiled = compile(value, key);
          where.pop();
          properties[key] = compiled.check;
          const fallback = resolve(value).default;
          if (fallback !== undefined) defaults[key] = fallback;
          const optional = !required.includes(key) && fallback === undefined;
          fields.push(`${JSON.stringify(key)}${optional ? "?" : ""}: ${compiled.ts}`);
        }
        let additional = null;
        if (node.additionalProperties && typeof node.additionalProperties === "object") {
          where.push("*");
          const compiled = compile(node.additionalProperties, "");
          where.pop();
          if (compiled.check[0] !== "x") additional = compiled.check;
          fields.push(`[key: string]: ${compiled.ts}`);
        } else if (node.additionalProperties === true || (node.additionalProperties === undefined && fields.length === 0)) {
          fields.push("[key: string]: unknown");
        }
        const hasDefaults = Object.keys(defaults).length > 0;
        return { check: trim(["o", properties, required, additional, hasDefaults ? defaults : null]), ts: `{ ${fields.join("; ")} }` };
      }
      default:
        throw new Error(`${path}: unsupported type ${JSON.stringify(node.type)}`);
    }
  }

  const frames = [];
  for (const alternative of alternatives) {
    const typeSchema = alternative.properties?.type;
    const type = typeSchema?.const ?? (typeSchema?.enum?.length === 1 ? typeSchema.enum[0] : undefined);
    if (typeof type !== "string") throw new Error(`a ServerMessage alternative (${alternative.title ?? "untitled"}) has no constant "type"`);
    const { type: _ignored, ...properties } = alternative.properties;
    where.push(type);
    const compiled = compile({ ...alternative, properties, required: (alternative.required ?? []).filter((k) => k !== "type") }, "");
    where.pop();
    const typeName = `${type.split(/[^A-Za-z0-9]+/).map(capitalize).join("")}Frame`; // read.state → ReadStateFrame
    frames.push({ type, typeName, check: compiled.check, ts: compiled.ts.replace(/^\{ /, `{ "type": ${JSON.stringify(type)}; `) });
  }

  const lines = [
    "// Generated by clients/web/scripts/generate-validator.mjs from schemas/messages.v1.json",
    `// (${schema.title ?? "messages"}); do not edit: npm run generate -w @moc-realtime/client`,
    "// Server frames as the core accepts them: unknown fields ignored, open `kind` and `version` (src/validate.ts).",
    "",
    "/** One compact check per schema node; src/validate.ts interprets it (the format: scripts/generate-validator.mjs). */",
    "export type Check = readonly unknown[];",
    "",
    ...[...openEnums].map(([typeName, values]) => `export type ${typeName} = ${values.map((v) => JSON.stringify(v)).join(" | ")};`),
    "",
    ...frames.map((frame) => `export type ${frame.typeName} = ${frame.ts};`),
    "",
    `export type ServerFrame = ${frames.map((frame) => frame.typeName).join(" | ")};`,
    "",
    "/** The checks of every known frame type (without `type` itself), by type. */",
    `export const SERVER_FRAME_CHECKS: Readonly<Record<string, Check>> = ${JSON.stringify(Object.fromEntries(frames.map((f) => [f.type, f.check])))};`,
    "",
  ];
  return lines.join("\n");
}

/** Drops the trailing nulls of a check: the interpreter reads a missing bound as none. */
function trim(check) {
  while (check.length > 1 && check[check.length - 1] === null) check.pop();
  return check;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OUTPUT_PATH, generateValidator(JSON.parse(readFileSync(SCHEMA_PATH, "utf8"))));
  console.log(`wrote ${OUTPUT_PATH}`);
}
