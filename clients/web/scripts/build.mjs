// `make clients` (npm run build -w realtime-client; DASHBOARD_DEBUG=1 for a readable React dev build): the library entries (ESM, dependencies external,
// shared code in chunks), their type declarations, and the demo dashboard `wsctl local up` serves.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
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

execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(root, "tsconfig.json")], { stdio: "inherit" });

// The dashboard is an app: everything bundled and minified, served as static files.
const dashboard = join(dist, "dashboard");
mkdirSync(dashboard, { recursive: true });
await build({
  entryPoints: { dashboard: "dashboard/main.tsx" },
  absWorkingDir: root,
  outdir: dashboard,
  bundle: true,
  minify: process.env.DASHBOARD_DEBUG !== "1",
  format: "esm",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": process.env.DASHBOARD_DEBUG === "1" ? '"development"' : '"production"' },
  sourcemap: true,
  logLevel: "warning",
});
for (const file of ["index.html", "dashboard.css"]) copyFileSync(join(root, "dashboard", file), join(dashboard, file));
console.log(`built ${dist}`);
