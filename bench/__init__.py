"""Benchmarks with same-run baselines (issue 7). ``make bench`` = ``python -m bench.run``.

Each benchmark module exposes ``run(quick: bool = False, **sizes) -> dict`` returning a result in the
shape built by :func:`bench.common.result`; :mod:`bench.report` renders them into ``bench/RESULTS.md``.
"""
