"""Adapters for the ports in ``realtime.ports``: AWS (boto3) and in-memory (unit tests, benchmarks)."""
