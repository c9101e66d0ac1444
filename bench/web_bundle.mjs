// Bundle sizes for bench/web_client.py: what an app adds when it imports realtime-client (core) or
// realtime-client/react, minified and gzipped, next to Zod alone (the schema library every frame goes
// through: the floor of a validating client). React itself is the app's and stays external.
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { build } from "esbuild";

const web = join(process.argv[2], "clients", "web");
const entries = {
  core: 'export * from "./src/index.ts";',
  react: 'export * from "./src/react/index.ts";',
  zod: 'export { z } from "zod";',
};
const sizes = {};
for (const [name, contents] of Object.entries(entries)) {
  const result = await build({
    stdin: { contents, resolveDir: web, loader: "ts" },
    bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false,
    external: ["react", "react-dom", "react/jsx-runtime"], logLevel: "error",
  });
  const code = result.outputFiles[0].contents;
  sizes[name] = { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}
console.log(JSON.stringify(sizes));
