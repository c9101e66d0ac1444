"""One token-length bound (issue 17): ``MAX_TOKEN_CHARS`` is what fits the handshake, and the authorizer
and ``refresh`` use it, so ``refresh`` never accepts a token that could not have connected.

Negative controls (run when this was written): with ``MAX_TOKEN_CHARS`` back at 16 KiB, the stage
arithmetic (every environment) and the 12,310-character refresh fail; without the TOKEN_INVALID mapping in
``parse_client_message`` the 12,310-character refresh fails (it answers INVALID_MESSAGE).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from realtime.adapters.memory import FakeClock
from realtime.auth import InvalidToken, JwksCache, TokenVerifier
from realtime.config import API_GATEWAY_MAX_URL_CHARS, MAX_TOKEN_CHARS
from realtime.messages import SUPPORTED_VERSIONS

from tests.unit.test_authorizer import Clock, make_config
from tests.unit.tokens import NOW, jwks, mint
from tests.unit.world import World
from wsctl.gateway.server import MAX_URL_CHARS

ENVIRONMENTS = sorted((Path(__file__).resolve().parents[2] / "environments").glob("*.toml"))
#: The issue's reproduction: refresh answered `refreshed`, the handshake 414.
ISSUE_TOKEN_CHARS = 12_310
#: The newest protocol version: refresh exists in it (1.1 on this branch, 2.0 after exact recovery).
NEWEST = max(SUPPORTED_VERSIONS, key=lambda version: tuple(int(part) for part in version.split(".")))


def padded_token(length: int, sub: str = "user-1") -> str:
    """A validly signed token of exactly ``length`` characters: base64 grows 4 characters per 3 bytes of
    the padding claim, so the nearest pads are tried, with a header field of 0-2 characters for the rest."""
    for extra in ("", "a", "ab"):
        headers = {"x": extra} if extra else {}
        reference = len(mint(sub=sub, headers=headers, pad="x" * 1000))
        estimate = 1000 + (length - reference) * 3 // 4
        for pad in range(max(0, estimate - 3), estimate + 4):
            token = mint(sub=sub, headers=headers, pad="x" * pad)
            if len(token) == length:
                return token
    raise AssertionError(f"no token of exactly {length} characters")


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda path: path.stem)
def test_a_token_at_the_bound_fits_every_stages_handshake(environment):
    stage = tomllib.loads(environment.read_text())["name"]  # stacks/config.py: the stage is the env name
    assert API_GATEWAY_MAX_URL_CHARS == MAX_URL_CHARS  # the local gateway enforces API Gateway's quota
    assert len(f"/{stage}?token=") + MAX_TOKEN_CHARS <= MAX_URL_CHARS


def verifier() -> TokenVerifier:
    config = make_config()
    return TokenVerifier(config, JwksCache(config.jwks_url, 3600, clock=Clock(), fetch=lambda url: jwks()), Clock())


def test_the_authorizer_verifies_a_token_at_the_bound_and_refuses_one_char_more():
    assert verifier().verify(padded_token(MAX_TOKEN_CHARS)).user_id == "user-1"
    with pytest.raises(InvalidToken, match="token too large"):
        verifier().verify(padded_token(MAX_TOKEN_CHARS + 1))


@pytest.fixture
def world(telemetry) -> World:
    return World(FakeClock(float(NOW)), telemetry, max_notifications=5)


def refresh(world: World, token: str) -> dict:
    world.client_frame("tab", {"type": "refresh", "version": NEWEST, "id": "f1", "data": {"token": token}})
    return world.frames("tab")[-1]


def test_refresh_refuses_the_12310_character_token_as_token_invalid(world, telemetry):
    # GIVEN an open connection of user-1 and a validly signed 12,310-character token of the same user
    world.connect("tab", "user-1", token_lifetime=600)
    secret = padded_token(ISSUE_TOKEN_CHARS)

    # WHEN the tab refreshes with it
    answer = refresh(world, secret)

    # THEN it is TOKEN_INVALID (the handshake could never carry it: 414), the connection keeps its expiry
    assert answer["type"] == "error" and answer["data"]["code"] == "TOKEN_INVALID", answer
    assert str(MAX_TOKEN_CHARS) in answer["data"]["message"]
    assert world.store.get("tab").token_expires_at == NOW + 600 and world.notifier.closed == []
    assert secret not in telemetry.log_stream.getvalue()
    assert telemetry.metric_values()["TokenRefreshesRejected"] == 1


def test_refresh_accepts_a_token_at_the_bound(world):
    world.connect("tab", "user-1", token_lifetime=600)

    answer = refresh(world, padded_token(MAX_TOKEN_CHARS))

    assert answer["type"] == "refreshed", answer
