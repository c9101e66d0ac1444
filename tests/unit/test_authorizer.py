"""Authorizer: every verification failure is a 401, a bad Origin a 403 Deny, else an Allow policy."""

from __future__ import annotations

import json

import pytest
from jose import jwt
from realtime.auth import (
    LEEWAY_SECONDS,
    REFETCH_INTERVAL_SECONDS,
    Authorizer,
    InvalidToken,
    JwksCache,
    TokenVerifier,
    Unauthorized,
    fetch_jwks,
)
from realtime.config import AuthorizerConfig, CommonConfig
from realtime.events import AuthorizerRequest

from tests.unit.tokens import CLIENT_ID, ISSUER, NOW, JwksServer, jwks, mint, signing_key

METHOD_ARN = "arn:aws:execute-api:eu-west-1:111111111111:abcdef123/dev/$connect"
ORIGIN = "https://dev.brickhub.example"


def make_config(**overrides) -> AuthorizerConfig:
    values = dict(
        common=CommonConfig("test", "DEBUG", "Realtime/test", "realtime-test-authorizer"),
        issuer=ISSUER, jwks_url="https://example.invalid/jwks.json", client_ids=frozenset({CLIENT_ID}),
        token_use="id", allowed_origins=frozenset({ORIGIN, "http://localhost:3000"}), allow_missing_origin=False,
        max_token_age_seconds=86400, jwks_cache_ttl_seconds=3600)
    values.update(overrides)
    return AuthorizerConfig(**values)


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingFetch:
    def __init__(self, document=None, fail: bool = False):
        self.document = document or jwks("key-1")
        self.fail = fail
        self.calls = 0

    def __call__(self, url: str):
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return self.document


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fetch() -> CountingFetch:
    return CountingFetch()


def build(telemetry, clock, fetch, **config_overrides):
    config = make_config(**config_overrides)
    cache = JwksCache(config.jwks_url, config.jwks_cache_ttl_seconds, clock=clock, fetch=fetch)
    return Authorizer(config, TokenVerifier(config, cache, clock), telemetry.logger, telemetry.metrics)


def event(token: str | None, origin: str | None = ORIGIN) -> AuthorizerRequest:
    headers = {"Host": "abcdef123.execute-api.eu-west-1.amazonaws.com"}
    if origin is not None:
        headers["Origin"] = origin
    return AuthorizerRequest.from_event({
        "type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers,
        "queryStringParameters": {"token": token} if token is not None else {},
        "requestContext": {"connectionId": "conn-1", "routeKey": "$connect"},
    })


def test_valid_id_token_from_allowed_origin_is_allowed_with_user_context(telemetry, clock, fetch):
    authorizer = build(telemetry, clock, fetch)
    token = mint()

    response = authorizer.authorize(event(token))

    assert response["principalId"] == "user-1"
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}]
    assert response["context"] == {"userId": "user-1", "tokenExpiresAt": NOW + 3540}
    assert telemetry.metric_values() == {"AuthorizerAllows": 1}
    assert token not in telemetry.log_stream.getvalue()


def test_valid_access_token_checks_client_id_instead_of_aud(telemetry, clock, fetch):
    authorizer = build(telemetry, clock, fetch, token_use="access")

    allowed = authorizer.authorize(event(mint(token_use="access", aud=None, client_id=CLIENT_ID)))

    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    with pytest.raises(Unauthorized):
        authorizer.authorize(event(mint(token_use="access", aud=CLIENT_ID, client_id="someone-else")))


@pytest.mark.parametrize("token_factory, reason", [
    (lambda: mint(exp=NOW - LEEWAY_SECONDS - 1), "token expired"),
    (lambda: mint(iss="https://cognito-idp.eu-west-1.amazonaws.com/other"), "issuer mismatch"),
    (lambda: mint(aud="another-client"), "audience not allowed"),
    (lambda: mint(aud=[CLIENT_ID]), "audience not allowed"),  # Cognito issues a string; aws-jwt-verify refuses a list
    (lambda: mint(exp=NOW - 0.5), "token expired"),  # no grace on exp, as aws-jwt-verify's default
    (lambda: mint(token_use="access"), "wrong token_use"),
    (lambda: mint(nbf=NOW + LEEWAY_SECONDS + 60), "token not yet valid"),
    (lambda: mint(iat=NOW + LEEWAY_SECONDS + 60, exp=NOW + 7200), "token issued in the future"),
    (lambda: mint(iat=NOW - 10, exp=NOW + 86400), "token lifetime above maximum"),
    (lambda: mint(exp=None), "claim exp missing or not a number"),
    (lambda: mint(sub=None), "missing sub"),
    (lambda: mint(kid="key-unknown"), "unknown kid"),
    (lambda: mint(headers={"kid": None}), "missing kid"),
    (lambda: "not.a.jwt", "malformed token"),
    (lambda: mint()[:-4] + "AAAA", "bad signature"),
    # Algorithm confusion: HS256 signed with the public key as the HMAC secret.
    (lambda: jwt.encode({"sub": "x"}, json.dumps(signing_key("key-1").public_jwk), algorithm="HS256",
                        headers={"kid": "key-1"}), "algorithm not allowed"),
])
def test_every_verification_failure_is_a_401_and_logged_without_the_token(telemetry, clock, fetch,
                                                                          token_factory, reason):
    authorizer = build(telemetry, clock, fetch, max_token_age_seconds=3600)
    token = token_factory()

    with pytest.raises(Unauthorized) as raised:
        authorizer.authorize(event(token))

    assert str(raised.value) == "Unauthorized"
    denial = [entry for entry in telemetry.logs() if entry["message"] == "connection denied"]
    assert denial[0]["reason"] == reason and denial[0]["status"] == 401 and denial[0]["origin"] == ORIGIN
    assert token not in telemetry.log_stream.getvalue()
    assert telemetry.metric_values() == {"AuthorizerDenials": 1}


def test_alg_none_token_is_rejected(telemetry, clock, fetch):
    header = jwt.get_unverified_header(mint())
    assert header["alg"] == "RS256"
    unsigned = "eyJhbGciOiJub25lIiwia2lkIjoia2V5LTEifQ." + mint().split(".")[1] + "."

    with pytest.raises(Unauthorized):
        build(telemetry, clock, fetch).authorize(event(unsigned))


def test_missing_token_is_a_401(telemetry, clock, fetch):
    with pytest.raises(Unauthorized):
        build(telemetry, clock, fetch).authorize(event(None))
    assert fetch.calls == 0


def test_disallowed_origin_with_valid_token_is_a_deny_policy(telemetry, clock, fetch):
    response = build(telemetry, clock, fetch).authorize(event(mint(), origin="https://evil.example"))

    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in response
    denial = telemetry.logs()[-1]
    assert (denial["reason"], denial["status"], denial["origin"]) == ("origin not allowed", 403, "https://evil.example")


@pytest.mark.parametrize("origin", ["https://dev.brickhub.example/", "https://dev.brickhub.example:443",
                                    "http://dev.brickhub.example", "https://dev.brickhub.example.evil.example"])
def test_origin_must_match_exactly(telemetry, clock, fetch, origin):
    response = build(telemetry, clock, fetch).authorize(event(mint(), origin=origin))
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_missing_origin_follows_configuration(telemetry, clock, fetch):
    strict = build(telemetry, clock, fetch).authorize(event(mint(), origin=None))
    lenient = build(telemetry, clock, fetch, allow_missing_origin=True).authorize(event(mint(), origin=None))

    assert strict["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert lenient["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_invalid_token_with_bad_origin_is_still_a_401(telemetry, clock, fetch):
    with pytest.raises(Unauthorized):
        build(telemetry, clock, fetch).authorize(event(mint(aud="nope"), origin="https://evil.example"))


def test_jwks_is_cached_for_its_ttl_then_refetched(telemetry, clock, fetch):
    authorizer = build(telemetry, clock, fetch, jwks_cache_ttl_seconds=600)

    for _ in range(5):
        authorizer.authorize(event(mint(now=int(clock.now))))
    assert fetch.calls == 1

    clock.now += 601
    authorizer.authorize(event(mint(now=int(clock.now))))
    assert fetch.calls == 2


def test_unknown_kid_refetches_at_most_once_per_interval(telemetry, clock, fetch):
    authorizer = build(telemetry, clock, fetch)
    authorizer.authorize(event(mint()))  # warm: 1 fetch

    for _ in range(10):
        with pytest.raises(Unauthorized):
            authorizer.authorize(event(mint(kid="key-2")))
    assert fetch.calls == 1  # the warm fetch was < interval ago

    # The pool rotates its keys: after the interval one refetch picks the new kid up.
    fetch.document = jwks("key-1", "key-2")
    clock.now += REFETCH_INTERVAL_SECONDS
    allowed = authorizer.authorize(event(mint(now=int(clock.now), kid="key-2")))
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert fetch.calls == 2


def test_unreachable_jwks_denies(telemetry, clock):
    failing = CountingFetch(fail=True)
    with pytest.raises(Unauthorized):
        build(telemetry, clock, failing).authorize(event(mint()))
    assert telemetry.logs()[-1]["reason"] == "jwks unavailable"


def test_expired_cache_with_unreachable_jwks_denies_and_does_not_hammer_it(telemetry, clock, fetch):
    authorizer = build(telemetry, clock, fetch, jwks_cache_ttl_seconds=60)
    authorizer.authorize(event(mint()))
    fetch.fail = True
    clock.now += 61

    for _ in range(20):
        with pytest.raises(Unauthorized):
            authorizer.authorize(event(mint(now=int(clock.now))))

    assert fetch.calls == 2  # one failed attempt, then the retry back-off holds


def test_jwks_entries_that_are_not_rs256_signing_keys_are_ignored():
    cache = JwksCache("u", 3600, clock=lambda: NOW, fetch=lambda url: {"keys": [
        {**signing_key("key-1").public_jwk, "use": "enc"},
        {**signing_key("key-2").public_jwk, "alg": "RS512"},
        {"kty": "oct", "kid": "key-3", "k": "c2VjcmV0"},
        signing_key("key-4").public_jwk,
    ]})
    for kid in ("key-1", "key-2", "key-3"):
        with pytest.raises(InvalidToken):
            cache.key(kid)
    assert cache.key("key-4") is not None


def test_fetch_jwks_reads_a_real_http_endpoint_and_times_out():
    server = JwksServer()
    try:
        document = fetch_jwks(server.url, timeout=2)
        assert [key["kid"] for key in document["keys"]] == ["key-1"]

        server.delay = 1.0
        with pytest.raises(OSError):
            fetch_jwks(server.url, timeout=0.2)
    finally:
        server.close()


def test_authorizer_against_a_live_jwks_endpoint(telemetry):
    server = JwksServer()
    try:
        config = make_config(jwks_url=server.url)
        clock = Clock()
        authorizer = Authorizer(config, TokenVerifier(config, JwksCache(server.url, 3600, clock=clock), clock),
                                telemetry.logger, telemetry.metrics)
        assert authorizer.authorize(event(mint()))["context"]["userId"] == "user-1"
        assert authorizer.authorize(event(mint(sub="user-2")))["context"]["userId"] == "user-2"
        assert server.requests == 1
    finally:
        server.close()


def test_a_token_in_sec_websocket_protocol_is_not_a_token(telemetry, clock, fetch):
    """ADR 0003: query string only."""
    request = AuthorizerRequest.from_event({
        "type": "REQUEST", "methodArn": METHOD_ARN,
        "headers": {"Origin": ORIGIN, "Sec-WebSocket-Protocol": f"bearer, {mint()}"},
        "queryStringParameters": None, "requestContext": {"connectionId": "c"}})

    with pytest.raises(Unauthorized):
        build(telemetry, clock, fetch).authorize(request)
    assert telemetry.logs()[-1]["reason"] == "missing token"
