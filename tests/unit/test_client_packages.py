"""The npm packages as an app outside this repository gets them (issue 18, item 9).

``npm pack`` makes both tarballs from the built workspaces (``make clients``); a scratch app in a temporary
folder outside the workspaces installs them with ``npm install`` (``--prefer-offline``: react, typescript,
esbuild and the AWS SDK come from the npm cache the repository's own install filled), type-checks a Next.js-
style client component and a server function against them (``moduleResolution: bundler``, the packages'
declarations included: ``skipLibCheck: false``), bundles both with esbuild and renders the components with
react-dom/server. Negative control: with the publisher depending on ``realtime-client`` again, or the React
entry without its ``"use client"`` line, this test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT, PUBLISHER = "@moc-realtime/client", "@moc-realtime/publisher"
#: The scratch app's other dependencies, at the versions the client workspace pins (so the npm cache has them).
FROM_REPO = ["react", "react-dom", "typescript", "esbuild", "@types/react", "@types/react-dom", "@types/node"]
CLIENT_DEV = json.loads((REPO_ROOT / "clients" / "web" / "package.json").read_text())["devDependencies"]

pytestmark = pytest.mark.slow

APP_TSX = """\
"use client";
// A Next.js App Router client component, as the README shows it.
import { RealtimeClient, parseServerFrame, type KnownKind } from "@moc-realtime/client";
import {
  ConnectionStatusIndicator, NotificationCenter, NotificationToast, WebSocketProvider, useConnectionState, useNotifications,
} from "@moc-realtime/client/react";
import { serverMessageSchema, type ServerMessage } from "@moc-realtime/client/messages";

export function Unread() {
  const unread = useNotifications((items) => items.filter((item) => !item.read).length);
  const state = useConnectionState();
  return <p>{state}: {unread}</p>;
}

export function Realtime({ url, getToken }: { url: string; getToken: () => Promise<string> }) {
  return (
    <WebSocketProvider url={url} getToken={getToken} onRefetch={() => undefined}>
      <ConnectionStatusIndicator />
      <NotificationCenter />
      <NotificationToast />
      <Unread />
    </WebSocketProvider>
  );
}

export function WithClient({ client }: { client: RealtimeClient }) {
  return <WebSocketProvider client={client}><ConnectionStatusIndicator /></WebSocketProvider>;
}

const kind: KnownKind | (string & {}) = "moc.remixed"; // a kind newer than this client
const checked = parseServerFrame(JSON.stringify({ type: "notification", version: "1.0", data: { kind, title: "t", timestamp: "x" } }));
export const ok: boolean = checked.ok && serverMessageSchema.safeParse({}).success === false;
export type Frame = ServerMessage;
"""

SERVER_TS = """\
// A server function (Vercel) that publishes.
import { notify, type NotificationContent, type NotifyRequest } from "@moc-realtime/publisher";

const content: NotificationContent = { kind: "moc.finalized", title: "Your MOC is live", link: "/mocs/42" };
// @ts-expect-error - the publishable kinds are the schema's, generated: a typo does not compile
const typo: NotificationContent = { kind: "moc.finalised", title: "t" };
export const request: NotifyRequest = { target: { userIds: ["sub-1"] }, notification: content, id: "moc-42-finalized" };
export const send = () => notify(request);
export { typo };
"""

RENDER_MJS = """\
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { RealtimeStore, RealtimeStoreProvider, ConnectionStatusIndicator, NotificationCenter, NotificationToast } from "@moc-realtime/client/react";
import { broadcastRequest } from "@moc-realtime/publisher";

const store = new RealtimeStore();
const html = renderToStaticMarkup(createElement(RealtimeStoreProvider, { store },
  createElement(ConnectionStatusIndicator), createElement(NotificationCenter), createElement(NotificationToast)));
const body = broadcastRequest({ target: { all: true }, notification: { kind: "system.announcement", title: "Maintenance" } });
console.log(JSON.stringify({ html, id: body.id }));
"""


def run(argv: list[str], cwd: Path, timeout: int = 300) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "npm_config_update_notifier": "false"})
    assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def installed_version(name: str) -> str:
    return CLIENT_DEV[name]


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> dict[str, dict]:
    if shutil.which("npm") is None:
        pytest.fail("npm is not on PATH (node 20, README)")
    for workspace in ("web", "publisher"):
        if not (REPO_ROOT / "clients" / workspace / "dist" / "index.js").is_file():
            pytest.fail(f"clients/{workspace}/dist is not built: run `make clients`")
    out = tmp_path_factory.mktemp("tarballs")
    report = json.loads(run(["npm", "pack", "--json", "--pack-destination", str(out), "-w", CLIENT, "-w", PUBLISHER],
                            REPO_ROOT))
    return {entry["name"]: {**entry, "path": out / entry["filename"]} for entry in report}


def test_the_tarballs_hold_the_library_only_with_a_readme_and_public_scoped_metadata(packed):
    client, publisher = packed[CLIENT], packed[PUBLISHER]
    client_files = {f["path"] for f in client["files"]}
    assert {"package.json", "README.md", "dist/index.js", "dist/react.js", "dist/messages.js"} <= client_files
    assert not [p for p in client_files if "dashboard" in p or p.endswith(".map") or not (p.startswith("dist/") or p in ("package.json", "README.md"))]
    assert {"package.json", "README.md", "dist/index.js"} <= {f["path"] for f in publisher["files"]}
    print(f"\ntarballs: {CLIENT} {client['size']} B packed / {client['unpackedSize']} B unpacked; "
          f"{PUBLISHER} {publisher['size']} B / {publisher['unpackedSize']} B")
    assert client["size"] < 64 * 1024, "the client's tarball is the library only (it was 704 KiB with the dashboard)"
    with tarfile.open(client["path"]) as archive:
        meta = json.load(archive.extractfile("package/package.json"))
        react_entry = archive.extractfile("package/dist/react.js").read().decode()
    with tarfile.open(publisher["path"]) as archive:
        publisher_meta = json.load(archive.extractfile("package/package.json"))
    assert react_entry.startswith('"use client";\n')
    for package in (meta, publisher_meta):
        assert package.get("private") is not True and package["version"] == "1.0.0" and package["name"].startswith("@moc-realtime/")
    assert meta["peerDependencies"] == {"react": ">=18"} and meta["peerDependenciesMeta"] == {"react": {"optional": True}}
    assert meta["dependencies"]["zod"].startswith("^")
    assert publisher_meta["dependencies"][CLIENT].startswith("^")
    assert not [name for name in publisher_meta["dependencies"] if name.startswith("realtime-")]


def test_a_scratch_app_outside_the_workspaces_installs_type_checks_bundles_and_renders_them(packed, tmp_path):
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    assert not app.resolve().is_relative_to(REPO_ROOT)
    (app / "package.json").write_text(json.dumps({
        "name": "scratch-app", "private": True, "type": "module",
        "dependencies": {CLIENT: f"file:{packed[CLIENT]['path']}", PUBLISHER: f"file:{packed[PUBLISHER]['path']}",
                         "react": installed_version("react"), "react-dom": installed_version("react-dom")},
        "devDependencies": {name: installed_version(name) for name in FROM_REPO if name not in ("react", "react-dom")},
    }, indent=2))
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "target": "ES2022", "module": "ESNext", "moduleResolution": "bundler", "jsx": "react-jsx", "strict": True,
        "noEmit": True, "skipLibCheck": False, "lib": ["ES2022", "DOM", "DOM.Iterable"], "types": ["node"],
    }, "include": ["src"]}))
    (app / "src" / "app.tsx").write_text(APP_TSX)
    (app / "src" / "server.ts").write_text(SERVER_TS)
    (app / "render.mjs").write_text(RENDER_MJS)

    run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], app, timeout=600)
    assert (app / "node_modules" / "@moc-realtime" / "client" / "dist" / "react.js").is_file()
    assert not (app / "node_modules" / "realtime-client").exists()
    run(["node", "node_modules/typescript/bin/tsc", "-p", "."], app)
    run(["node_modules/.bin/esbuild", "src/app.tsx", "--bundle", "--format=esm", "--platform=browser", "--minify",
         "--outfile=out/app.js", "--log-level=error"], app)
    run(["node_modules/.bin/esbuild", "src/server.ts", "--bundle", "--format=esm", "--platform=node",
         "--packages=external", "--outfile=out/server.js", "--log-level=error"], app)
    assert (app / "out" / "app.js").stat().st_size > 0 and (app / "out" / "server.js").stat().st_size > 0
    rendered = json.loads(run(["node", "render.mjs"], app))
    assert 'role="status"' in rendered["html"] and "Disconnected" in rendered["html"]
    assert "Mark all as read" in rendered["html"] and 'aria-label="New notifications"' in rendered["html"]
    assert rendered["id"]
