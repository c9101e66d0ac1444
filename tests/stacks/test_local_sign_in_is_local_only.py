"""The dashboard's sign-in (wsctl/local/dashboard.py) hands out tokens of the local pool to anyone who
asks. Nothing like it may exist in a deployed stack: no user pool or password flow of ours, no route or
function serving tokens, and no stack or Lambda code that reaches the dashboard module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stacks.synthesized import Synthesized

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ["realtime-dev", "realtime-staging", "realtime-prod"]
LOCAL_ONLY_MARKERS = ["/local/token", "REALTIME_LOCAL_TOKEN_LIFETIME_SECONDS", "USER_PASSWORD_AUTH"]
DASHBOARD_MODULE = ["wsctl.local.dashboard", "wsctl/local/dashboard", "/local/token"]


def _stack_text(synth_dir: Path, name: str) -> tuple[Synthesized, str]:
    stack = Synthesized.load(synth_dir, name)
    return stack, json.dumps(stack.document)


@pytest.mark.parametrize("name", DEPLOYED)
def test_deployed_stacks_have_no_pool_and_no_token_endpoint_of_their_own(synth_dir, name):
    stack, text = _stack_text(synth_dir, name)
    cognito = sorted(t for t in stack.document.get("resource", {}) if t.startswith("aws_cognito"))
    assert cognito == [], f"{name} declares {cognito}: deployed stacks trust the web app's existing pool"
    assert [marker for marker in LOCAL_ONLY_MARKERS if marker.lower() in text.lower()] == []


def test_the_local_stack_is_where_the_pool_and_its_password_flow_live(synth_dir):
    # The check above can fail: the local stack has exactly what the deployed ones must not.
    stack, text = _stack_text(synth_dir, "realtime-local")
    assert stack.resources("aws_cognito_user_pool")
    assert "USER_PASSWORD_AUTH" in text


def test_no_stack_or_lambda_code_reaches_the_dashboard():
    offenders = [str(path.relative_to(REPO_ROOT)) for folder in ("stacks", "lambda_src", "policies")
                 for path in (REPO_ROOT / folder).rglob("*.py")
                 if any(marker in path.read_text() for marker in DASHBOARD_MODULE)]
    assert offenders == []
