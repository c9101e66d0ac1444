"""Domain of the WebSocket notification backend.

Kept free of imports on purpose: ``handlers.authorizer`` imports ``realtime.auth`` and must not pull
boto3 (or pydantic) into its cold start through this package.
"""
