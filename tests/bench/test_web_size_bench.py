"""Smoke test of bench/web_size.py: every entry and every peer is measured in one run (figures not asserted)."""

from __future__ import annotations

from bench.web_size import PEERS, bundle_sizes, run


def test_bundle_sizes_measure_our_entries_and_the_peers_in_one_run():
    sizes = bundle_sizes()
    assert set(sizes) == {"core", "react", "messages", "validator", *PEERS}
    for entry in sizes.values():
        assert 0 < entry["gzip"] < entry["minified"]
    # The validator is part of the core, and the React entry bundles the core: each is strictly larger.
    assert sizes["validator"]["gzip"] < sizes["core"]["gzip"] < sizes["react"]["gzip"]


def test_the_section_has_a_row_per_entry_against_the_smallest_peer():
    res = run(quick=True)
    assert res["name"] == "web_size" and [r["goal"] for r in res["rows"]][:2] == ["≤ 12 KiB", "≤ 16 KiB"]
    assert all(r["baseline"] and "peer" in r["baseline_label"] for r in res["rows"])
