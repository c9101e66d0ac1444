// Bundle sizes for bench/web_size.py: what an app adds when it imports each entry of the published packages
// (resolved like an app would, through node_modules to clients/web/dist: run `make clients` first) and, in the
// same run, what it adds with each peer SDK (bench/package.json, installed into bench/node_modules).
// Minified, gzip -9, React external (clients/web/scripts/bundle-size.mjs, the same measure test/size.test.ts uses).
//   node bench/web_bundle.mjs <repo root>   → one JSON object {entry: {minified, gzip}}
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = process.argv[2];
const { bundleSize, usesOf } = await import(pathToFileURL(join(root, "clients", "web", "scripts", "bundle-size.mjs")).href);
const bench = join(root, "bench");

const ours = {
  core: usesOf("@moc-realtime/client", ["RealtimeClient"]),
  react: 'export * from "@moc-realtime/client/react";',
  messages: 'export * from "@moc-realtime/client/messages";',
  validator: usesOf("@moc-realtime/client", ["parseServerFrame"]),
};
// Each peer as its README's quick start imports it.
const peers = {
  "pusher-js": 'import Pusher from "pusher-js";\nglobalThis.used = Pusher;\n',
  centrifuge: usesOf("centrifuge", ["Centrifuge"]),
  ably: 'import * as Ably from "ably";\nglobalThis.used = Ably.Realtime;\n',
};
const sizes = {};
for (const [name, contents] of Object.entries(ours)) sizes[name] = await bundleSize(contents, root);
for (const [name, contents] of Object.entries(peers)) sizes[name] = await bundleSize(contents, bench);
console.log(JSON.stringify(sizes));
