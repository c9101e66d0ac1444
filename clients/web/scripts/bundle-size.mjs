// What an app adds to its bundle by importing something: esbuild, minified, ESM for browsers, gzip -9, React
// external (the app's own). Used by test/size.test.ts (the budgets of docs/web.md "Size") and bench/web_bundle.mjs.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export const REACT_EXTERNAL = ["react", "react-dom", "react/jsx-runtime", "react-dom/client"];

/** `contents` is an app module (e.g. `import { RealtimeClient } from "…"; globalThis.x = RealtimeClient;`). */
export async function bundleSize(contents, resolveDir) {
  const result = await build({
    stdin: { contents, resolveDir, loader: "ts", sourcefile: "app.ts" },
    bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false,
    external: REACT_EXTERNAL, logLevel: "error",
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

/** An app module that uses the named exports of `specifier`, so nothing it imports is shaken away as unused. */
export const usesOf = (specifier, names) =>
  `import { ${names.join(", ")} } from ${JSON.stringify(specifier)};\nglobalThis.used = [${names.join(", ")}];\n`;
