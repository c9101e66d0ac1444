"""The authorizer's cold start: importing its handler must not load boto3/botocore (nor pydantic)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"

AUTHORIZER_ENV = {
    "ENVIRONMENT": "test", "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Realtime/test",
    "COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool",
    "COGNITO_JWKS_URL": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool/.well-known/jwks.json",
    "COGNITO_CLIENT_IDS": "a,b", "COGNITO_TOKEN_USE": "id", "ALLOWED_ORIGINS": "https://dev.brickhub.example",
    "ALLOW_MISSING_ORIGIN": "false", "MAX_TOKEN_AGE_SECONDS": "86400", "JWKS_CACHE_TTL_SECONDS": "3600",
}

PROBE = """
import json, sys
import handlers.authorizer
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'pydantic', 'pydantic_core'))))
"""


def test_authorizer_handler_imports_neither_boto3_nor_pydantic():
    env = {**os.environ, **AUTHORIZER_ENV, "PYTHONPATH": str(LAMBDA_SRC)}

    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60,
                            cwd=LAMBDA_SRC, check=False)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_probe_would_see_boto3_if_it_were_imported():
    env = {**os.environ, **AUTHORIZER_ENV, "PYTHONPATH": str(LAMBDA_SRC)}
    probe = PROBE.replace("import handlers.authorizer", "import handlers.authorizer, boto3")

    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                            cwd=LAMBDA_SRC, check=False)

    assert "boto3" in json.loads(result.stdout.strip().splitlines()[-1])
