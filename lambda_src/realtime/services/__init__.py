"""Use cases, written against the ports only (no boto3, no event dicts)."""
