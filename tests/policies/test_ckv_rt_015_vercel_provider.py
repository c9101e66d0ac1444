"""CKV_RT_015: the Vercel provider takes its token from VERCEL_API_TOKEN and pins its team."""

import pytest


@pytest.mark.parametrize(
    ("provider", "passes"),
    [
        ({"team": "team_brickhub0000000000000"}, True),
        ({"team": "team_brickhub0000000000000", "api_token": "vcp_0123456789abcdef"}, False),
        ({"team": "team_brickhub0000000000000", "api_token": "${var.vercel_token}"}, False),
        ({}, False),
    ],
    ids=["team-from-config-token-from-env", "literal-token", "token-variable", "no-team"],
)
def test_token_never_in_configuration(check, provider, passes):
    # GIVEN a stack whose only block is the vercel provider
    # WHEN only CKV_RT_015 runs
    results = check("CKV_RT_015", provider={"vercel": [provider]})
    # THEN the provider block is the one subject, passed or failed
    assert (results.passed, results.failed) == (
        ({"provider.vercel"}, set()) if passes else (set(), {"provider.vercel"})
    )
