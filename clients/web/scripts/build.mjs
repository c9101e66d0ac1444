// `make clients` (npm run build -w @moc-realtime/client): the library entries (ESM, dependencies external,
// shared code in chunks) and their type declarations. The demo dashboard is its own workspace (clients/dashboard).
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });

await build({
  entryPoints: { index: "src/index.ts", react: "src/react/index.ts", messages: "src/messages.ts" },
  absWorkingDir: root,
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});

// Next.js App Router: the React entry's hooks and components run on the client. esbuild drops module-level
// directives while bundling, so the directive goes on the built file; the map gets one empty line to match.
const reactEntry = join(dist, "react.js");
writeFileSync(reactEntry, `"use client";\n${readFileSync(reactEntry, "utf8")}`);
const map = JSON.parse(readFileSync(`${reactEntry}.map`, "utf8"));
writeFileSync(`${reactEntry}.map`, JSON.stringify({ ...map, mappings: `;${map.mappings}` }));

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { stdio: "inherit" });
console.log(`built ${dist}`);
