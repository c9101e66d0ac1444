"""Benchmark 8: the web client's bundle sizes beside the peer SDKs, measured in the same run.

What an app adds when it imports each entry of ``@moc-realtime/client`` as published (the built package,
resolved through node_modules: ``make clients`` first): the core (``RealtimeClient``), the React entry (all of
it), the ``…/messages`` Zod schemas and the generated frame validator alone; beside it, pusher-js, centrifuge and
ably as their quick starts import them (dev dependencies of the bench only: bench/package.json, installed into
bench/node_modules by ``make bench``). esbuild, minified, gzip -9, React external (``bench/web_bundle.mjs`` over
``clients/web/scripts/bundle-size.mjs``, the measure of the size budgets in clients/web/test/size.test.ts).
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from bench.common import BENCH_DIR, REPO_ROOT, result, row, table

KIB = 1024
GOALS_KIB = {"core": 12, "react": 16}
PEERS = ("pusher-js", "centrifuge", "ably")
LABELS = {
    "core": "@moc-realtime/client core (RealtimeClient)",
    "react": "@moc-realtime/client/react (everything)",
    "messages": "@moc-realtime/client/messages (Zod schemas)",
    "validator": "parseServerFrame alone (generated validator)",
}


def bundle_sizes() -> dict[str, dict[str, int]]:
    if not (BENCH_DIR / "node_modules" / "ably").is_dir():
        raise RuntimeError("bench/node_modules is missing: `make bench` installs the peer SDKs (npm ci --prefix bench)")
    if not (REPO_ROOT / "clients" / "web" / "dist" / "index.js").is_file():
        raise RuntimeError("clients/web/dist is not built: run `make clients`")
    done = subprocess.run(["node", str(BENCH_DIR / "web_bundle.mjs"), str(REPO_ROOT)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def _version(package: str) -> str:
    return json.loads((BENCH_DIR / "node_modules" / package / "package.json").read_text())["version"]


def run(quick: bool = False) -> dict[str, Any]:  # noqa: ARG001 - one measurement, nothing to shorten
    started = time.monotonic()
    sizes = bundle_sizes()
    smallest_peer = min(PEERS, key=lambda p: sizes[p]["gzip"])
    peer_gzip = sizes[smallest_peer]["gzip"]
    peer_label = f"{smallest_peer} {_version(smallest_peer)} (smallest peer)"
    rows = []
    for name in ("core", "react", "messages", "validator"):
        gzip = sizes[name]["gzip"]
        goal = GOALS_KIB.get(name)
        rows.append(row(f"{LABELS[name]}, min+gzip", gzip / KIB, "KiB", baseline=peer_gzip / KIB,
                        baseline_label=peer_label, ratio=gzip / peer_gzip, ratio_label=f"{gzip / peer_gzip:.2f}× {smallest_peer}",
                        goal=f"≤ {goal} KiB" if goal else "", passed=(gzip <= goal * KIB) if goal else None))
    details = "\n".join([
        "Bundles (esbuild, minified, gzip -9; React external), ours and the peers' in the same run:",
        "",
        table(["entry", "version", "minified", "min+gzip"],
              [[LABELS.get(name, name), "1.0.0" if name in LABELS else _version(name),
                f"{s['minified'] / KIB:.1f} KiB", f"{s['gzip'] / KIB:.1f} KiB"] for name, s in sizes.items()]),
        "",
        "The core is what an app adds when it imports `RealtimeClient`; the React entry is every export of "
        "`@moc-realtime/client/react`; `…/messages` is the only entry that brings Zod: the core validates "
        "every frame with `parseServerFrame`, generated from the same JSON Schema.",
    ])
    return result("web_size", "Web client: bundle sizes beside pusher-js, centrifuge and ably",
                  "python -m bench.run --only web_size", rows, details, raw={"sizes": sizes}, started=started)
