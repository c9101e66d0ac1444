// `make clients` (npm run build -w @moc-realtime/dashboard; DASHBOARD_DEBUG=1 for a readable React dev build):
// the demo dashboard `wsctl local up` serves from clients/dashboard/dist/ (wsctl/local/dashboard.py). An app:
// everything bundled and minified, @moc-realtime/client taken from its built dist/ like any app would.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const debug = process.env.DASHBOARD_DEBUG === "1";
// One React for the page: in this repository the client workspace has its own copy (its tests need one), which
// the client's dist/ would otherwise resolve to. An app that installs the package has one React anyway.
const require = createRequire(join(root, "package.json"));
const one = (name) => dirname(require.resolve(`${name}/package.json`));
const alias = { react: one("react"), "react-dom": one("react-dom") };
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
  alias,
  define: { "process.env.NODE_ENV": debug ? '"development"' : '"production"' },
  sourcemap: true,
  logLevel: "warning",
  // The client's dist/ chunks are imported bare for ordering; sideEffects: false lets esbuild drop them, as intended.
  logOverride: { "ignored-bare-import": "silent" },
});
for (const file of ["index.html", "dashboard.css"]) copyFileSync(join(root, "src", file), join(dist, file));
console.log(`built ${dist}`);
