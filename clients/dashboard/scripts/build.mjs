// `make clients` (npm run build -w @moc-realtime/dashboard; DASHBOARD_DEBUG=1 for a readable React dev build):
// the demo dashboard `wsctl local up` serves from clients/dashboard/dist/ (wsctl/local/dashboard.py). An app:
// everything bundled and minified, @moc-realtime/client taken from its built dist/ like any app would.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const debug = process.env.DASHBOARD_DEBUG === "1";
await build({
  entryPoints: { dashboard: "src/main.tsx" },
  absWorkingDir: root,
  outdir: dist,
  bundle: true,
  minify: !debug,
  format: "esm",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": debug ? '"development"' : '"production"' },
  sourcemap: true,
  logLevel: "warning",
});
for (const file of ["index.html", "dashboard.css"]) copyFileSync(join(root, "src", file), join(dist, file));
console.log(`built ${dist}`);
