"""The authorizer handler with a JWKS served on 127.0.0.1, fed the documented REQUEST event."""

from __future__ import annotations

import time

import pytest

from tests.handlers.conftest import LambdaContext, emf, load_event
from tests.unit.tokens import mint


def request_with(token: str | None, origin: str | None = "https://dev.brickhub.example") -> dict:
    event = load_event("authorizer_connect")
    if token is None:
        event["queryStringParameters"] = {}
        event["multiValueQueryStringParameters"] = {}
    else:
        event["queryStringParameters"]["token"] = token
    if origin is None:
        del event["headers"]["Origin"]
    else:
        event["headers"]["Origin"] = origin
    return event


def test_valid_token_is_allowed_with_context_for_connect(authorizer, capsys):
    module, server = authorizer
    now = int(time.time())
    token = mint(now=now, sub="user-42")

    response = module.handler(request_with(token), LambdaContext())

    assert response == {
        "principalId": "user-42",
        "policyDocument": {"Version": "2012-10-17", "Statement": [{
            "Action": "execute-api:Invoke", "Effect": "Allow",
            "Resource": "arn:aws:execute-api:eu-west-1:111111111111:abcdef123/dev/$connect"}]},
        "context": {"userId": "user-42", "tokenExpiresAt": now + 3540},
    }
    out = capsys.readouterr().out
    assert token not in out and emf(out) == {"AuthorizerAllows": 1}
    assert server.requests == 1


@pytest.mark.parametrize("token_factory", [
    lambda now: None,
    lambda now: "garbage",
    lambda now: mint(now=now - 7200),
    lambda now: mint(now=now, aud="not-our-client"),
])
def test_unauthenticated_raises_unauthorized_for_a_401(authorizer, capsys, token_factory):
    module, _ = authorizer
    token = token_factory(int(time.time()))

    with pytest.raises(Exception) as raised:
        module.handler(request_with(token), LambdaContext())

    assert str(raised.value) == "Unauthorized"
    out = capsys.readouterr().out
    assert emf(out) == {"AuthorizerDenials": 1}
    assert '"level":"ERROR"' not in out  # a 401 is an answer, not a function error
    if token:
        assert token not in out


def test_foreign_origin_is_a_deny_policy_for_a_403(authorizer, capsys):
    module, _ = authorizer

    response = module.handler(request_with(mint(now=int(time.time())), origin="https://evil.example"),
                              LambdaContext())

    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert '"origin":"https://evil.example"' in capsys.readouterr().out
