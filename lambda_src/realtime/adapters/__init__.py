"""Adapters for the ports in ``realtime.ports``: AWS (botocore clients, ``aws``) and in-memory (unit tests, benchmarks)."""
