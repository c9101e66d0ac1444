"""Smoke test of bench/web_client.py's bundle measurement (the latency half needs a local stack and Chromium)."""

from __future__ import annotations

from bench.web_client import bundle_sizes


def test_bundle_sizes_measure_each_entry_against_zod():
    sizes = bundle_sizes()
    assert set(sizes) == {"core", "react", "zod"}
    for entry in sizes.values():
        assert 0 < entry["gzip"] < entry["minified"]
    # The client bundles Zod, and the React entry bundles the client: each is strictly larger.
    assert sizes["zod"]["gzip"] < sizes["core"]["gzip"] < sizes["react"]["gzip"]
