"""The authorizer against AWS's own verifier: every token aws-jwt-verify refuses, ours refuses.

Both verify the same corpus of crafted tokens, signed with the test RSA keys of tests/unit/tokens.py
and judged against the same JWKS (given to aws-jwt-verify through ``cacheJwks``, to ours through the
JWKS cache) at the same instant (node's clock is replaced). The reference is
``CognitoJwtVerifier.create({userPoolId, tokenUse, clientId})`` with its defaults, run by
tests/unit/aws_jwt_verify_reference.cjs. Where only ours refuses, the case must name the row of
ADR 0003's table that says so: our extra strictness is documented, never accidental.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from realtime.auth import InvalidToken, JwksCache, TokenVerifier

from tests.unit.test_authorizer import Clock, make_config
from tests.unit.tokens import CLIENT_ID, ISSUER, NOW, claims, signing_key

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).with_name("aws_jwt_verify_reference.cjs")
USER_POOL_ID = ISSUER.rsplit("/", 1)[1]
GLOBAL_ISSUER = f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{USER_POOL_ID}"

# ADR 0003, "What the authorizer verifies": the rows where we refuse what aws-jwt-verify accepts.
RS256_ONLY = "RS256 only"
REQUIRED_CLAIMS = "exp, iat and a non-empty sub required"
LIFETIME = "exp - iat at most max_token_age_seconds"
IAT_FUTURE = "iat at most 30 s in the future"
EXACT_ISSUER = "exactly the configured issuer"
SIZE = "at most `MAX_TOKEN_CHARS` (4,000) characters of token: what fits the 4,096-character handshake URL"
BEYOND_DOUBLE = "no number beyond a double (1e400) anywhere"
NESTING = "JSON nested at most as deep as python's parser goes (about 1,000 levels)"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwks_document() -> dict:
    no_alg = {k: v for k, v in signing_key("key-noalg").public_jwk.items() if k != "alg"}
    encryption_first = {**signing_key("key-dup").public_jwk, "use": "enc"}
    return {"keys": [signing_key("key-1").public_jwk, no_alg, encryption_first, signing_key("key-dup").public_jwk]}


@lru_cache(maxsize=8)
def private_key(kid: str):
    return serialization.load_pem_private_key(signing_key(kid).private_pem, password=None)


def sign(signing_input: str, kid: str = "key-1", algorithm: hashes.HashAlgorithm | None = None) -> str:
    return b64(private_key(kid).sign(signing_input.encode(), padding.PKCS1v15(), algorithm or hashes.SHA256()))


def token(payload: dict | str | bytes | None = None, header: dict | str | None = None, *, key: str = "key-1",
          algorithm: hashes.HashAlgorithm | None = None) -> str:
    """An RS256-signed JWT over the exact JSON text given (``str``/``bytes`` are sent as they are)."""
    header = {"alg": "RS256", "kid": "key-1"} if header is None else header
    payload = claims() if payload is None else payload
    segments = [part if isinstance(part, bytes) else (part if isinstance(part, str) else json.dumps(part)).encode()
                for part in (header, payload)]
    signing_input = ".".join(b64(segment) for segment in segments)
    return f"{signing_input}.{sign(signing_input, key, algorithm)}"


def resigned(text: str, key: str = "key-1") -> str:
    """A token whose first two segments are ``text`` verbatim, validly signed over exactly that."""
    return f"{text}.{sign(text, key)}"


@dataclass(frozen=True)
class Case:
    name: str
    token: str
    #: Our verdict: None = accepted, else the InvalidToken reason.
    ours: str | None
    #: The ADR 0003 row when aws-jwt-verify accepts what we refuse.
    extra: str | None = None


def with_claims(**changes) -> dict:
    return claims(**changes)


def without(*names: str) -> dict:
    return {k: v for k, v in claims().items() if k not in names}


VALID = token()
HEADER, PAYLOAD, _ = VALID.split(".")

ID_CASES = [
    Case("valid", VALID, None),
    # aud: Cognito puts one client id, as a string, in an id token (the leniency issue 13 found)
    Case("aud-list-with-client", token(with_claims(aud=[CLIENT_ID])), "audience not allowed"),
    Case("aud-list-of-two", token(with_claims(aud=[CLIENT_ID, "other"])), "audience not allowed"),
    Case("aud-other", token(with_claims(aud="other")), "audience not allowed"),
    Case("aud-missing", token(without("aud")), "audience not allowed"),
    Case("aud-number", token(with_claims(aud=7)), "claim aud not a string or a list of strings"),
    Case("aud-list-with-number", token(with_claims(aud=[CLIENT_ID, 7])), "claim aud not a string or a list of strings"),
    # token_use
    Case("token-use-access", token(with_claims(token_use="access")), "wrong token_use"),
    Case("token-use-missing", token(without("token_use")), "wrong token_use"),
    Case("token-use-list", token(with_claims(token_use=["id"])), "wrong token_use"),
    Case("token-use-other", token(with_claims(token_use="refresh")), "wrong token_use"),
    # iss
    Case("iss-other-pool", token(with_claims(iss=ISSUER + "x")), "issuer mismatch"),
    Case("iss-missing", token(without("iss")), "issuer mismatch"),
    Case("iss-number", token(with_claims(iss=5)), "issuer mismatch"),
    Case("iss-global-form", token(with_claims(iss=GLOBAL_ISSUER)), "issuer mismatch", EXACT_ISSUER),
    # exp: no grace, compared unrounded
    Case("exp-now", token(with_claims(exp=NOW)), None),
    Case("exp-half-second-ago", token(with_claims(exp=NOW - 0.5)), "token expired"),
    Case("exp-one-second-ago", token(with_claims(exp=NOW - 1)), "token expired"),
    Case("exp-fraction-ahead", token(with_claims(exp=NOW + 100.5)), None),
    Case("exp-missing", token(without("exp")), "claim exp missing or not a number", REQUIRED_CLAIMS),
    Case("exp-string", token(with_claims(exp=str(NOW + 100))), "claim exp missing or not a number"),
    Case("exp-true", token(with_claims(exp=True)), "claim exp missing or not a number"),
    Case("exp-null", token(with_claims(exp=None) | {"exp": None}), "claim exp missing or not a number"),
    Case("exp-nan", token(json.dumps(with_claims(exp=float("nan")))), "malformed token"),
    Case("exp-infinity", token(json.dumps(with_claims(exp=float("inf")))), "malformed token"),
    Case("exp-1e400", token(json.dumps(with_claims()).replace(f'"exp": {NOW + 3540}', '"exp": 1e400')),
         "malformed token"),
    # nbf: no grace either
    Case("nbf-now", token(with_claims(nbf=NOW)), None),
    Case("nbf-past", token(with_claims(nbf=NOW - 10)), None),
    Case("nbf-half-second-ahead", token(with_claims(nbf=NOW + 0.5)), "token not yet valid"),
    Case("nbf-string", token(with_claims(nbf="0")), "claim nbf missing or not a number"),
    # iat
    Case("iat-missing", token(without("iat")), "claim iat missing or not a number", REQUIRED_CLAIMS),
    Case("iat-string", token(with_claims(iat="1")), "claim iat missing or not a number"),
    Case("iat-10s-ahead", token(with_claims(iat=NOW + 10, exp=NOW + 3600)), None),
    Case("iat-60s-ahead", token(with_claims(iat=NOW + 60, exp=NOW + 3600)), "token issued in the future", IAT_FUTURE),
    Case("lifetime-over-a-day", token(with_claims(iat=NOW - 60, exp=NOW + 86_400)), "token lifetime above maximum",
         LIFETIME),
    # sub, jti, scope: strings when present
    Case("sub-missing", token(without("sub")), "missing sub", REQUIRED_CLAIMS),
    Case("sub-empty", token(with_claims(sub="")), "missing sub", REQUIRED_CLAIMS),
    Case("sub-number", token(with_claims(sub=5)), "claim sub not a string"),
    Case("jti-string", token(with_claims(jti="abc")), None),
    Case("jti-number", token(with_claims(jti=5)), "claim jti not a string"),
    Case("scope-string", token(with_claims(scope="openid email")), None),
    Case("scope-list", token(with_claims(scope=["openid"])), "claim scope not a string"),
    Case("client-id-number-in-id-token", token(with_claims(client_id=5)), None),  # neither reads it here
    # JSON neither JSON nor aws-jwt-verify accepts; and JSON only python cannot take
    Case("custom-nan", token(json.dumps(with_claims(x=float("nan")))), "malformed token"),
    Case("header-infinity", token(header='{"alg": "RS256", "kid": "key-1", "x": Infinity}'), "malformed token"),
    Case("custom-1e400", token(json.dumps(with_claims(x=1)).replace('"x": 1', '"x": 1e400')), "malformed token",
         BEYOND_DOUBLE),
    # deeper than python's parser goes (RecursionError) yet within MAX_TOKEN_CHARS
    Case("custom-nested-1100", token(json.dumps(with_claims(x=1)).replace('"x": 1', '"x": ' + "[" * 1100 + "]" * 1100)),
         "malformed token", NESTING),
    Case("payload-array", token("[1]"), "malformed token"),
    Case("payload-string", token('"x"'), "malformed token"),
    Case("payload-not-utf8", token(b'{"sub": "\xff"}'), "malformed token"),
    Case("payload-bom", token("\ufeff" + json.dumps(claims())), "malformed token"),
    Case("duplicate-keys-last-wins", token('{"aud": "other", ' + json.dumps(claims())[1:]), None),
    # header
    Case("alg-missing", token(header={"kid": "key-1"}), "algorithm not allowed"),
    Case("alg-number", token(header={"alg": 5, "kid": "key-1"}), "algorithm not allowed"),
    Case("alg-none-unsigned", f"{b64(json.dumps({'alg': 'none', 'kid': 'key-1'}).encode())}.{PAYLOAD}.",
         "malformed token"),
    Case("alg-hs256-with-public-key", "", "algorithm not allowed"),  # filled in below
    Case("alg-rs384-key-without-alg", token(header={"alg": "RS384", "kid": "key-noalg"}, key="key-noalg",
                                            algorithm=hashes.SHA384()), "algorithm not allowed", RS256_ONLY),
    Case("alg-rs384-key-with-alg", token(header={"alg": "RS384", "kid": "key-1"}, algorithm=hashes.SHA384()),
         "algorithm not allowed"),
    Case("kid-missing", token(header={"alg": "RS256"}), "missing kid"),
    Case("kid-empty", token(header={"alg": "RS256", "kid": ""}), "missing kid"),
    Case("kid-number", token(header={"alg": "RS256", "kid": 1}), "missing kid"),
    Case("kid-unknown", token(header={"alg": "RS256", "kid": "key-9"}, key="key-9"), "unknown kid"),
    Case("kid-first-entry-is-for-encryption", token(header={"alg": "RS256", "kid": "key-dup"}, key="key-dup"),
         "unknown kid"),
    Case("kid-without-alg-rs256", token(header={"alg": "RS256", "kid": "key-noalg"}, key="key-noalg"), None),
    Case("header-array", token(header="[1]"), "malformed token"),
    Case("header-duplicate-alg-last-wins", token(header='{"alg": "HS256", "kid": "key-1", "alg": "RS256"}'), None),
    # signature
    Case("signed-by-another-key", token(key="key-2"), "bad signature"),
    Case("signature-altered", VALID[:-4] + ("AAAA" if not VALID.endswith("AAAA") else "BBBB"), "bad signature"),
    Case("signature-empty", f"{HEADER}.{PAYLOAD}.", "malformed token"),
    # shape: what python-jose would decode anyway, aws-jwt-verify refuses
    Case("padded-segments", "", None),  # filled in below
    Case("trailing-space", VALID + " ", "malformed token"),
    Case("leading-newline", "\n" + VALID, "malformed token"),
    Case("bang-in-header", resigned(f"{HEADER[:4]}!{HEADER[4:]}.{PAYLOAD}"), "malformed token"),
    Case("plus-in-payload", resigned(f"{HEADER}.{PAYLOAD[:6]}+{PAYLOAD[6:]}"), "malformed token"),
    Case("four-segments", resigned(f"{HEADER}.{PAYLOAD[:10]}.{PAYLOAD[10:]}"), "malformed token"),
    Case("three-padding-chars", resigned(f"{HEADER}===.{PAYLOAD}"), "malformed token"),
    Case("not-a-jwt", "not.a.jwt", "malformed token"),
    Case("empty", "", "malformed token"),
    Case("over-max-token-chars", token(with_claims(pad="x" * 3_000)), "token too large", SIZE),
]


def _fill_in(cases: list[Case]) -> list[Case]:
    import hmac

    public = json.dumps(signing_key("key-1").public_jwk)
    hs_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'key-1'}).encode())}.{PAYLOAD}"
    hs_token = f"{hs_input}.{b64(hmac.new(public.encode(), hs_input.encode(), hashlib.sha256).digest())}"
    padded_header, padded_payload = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "key-1"}).encode()), \
        base64.urlsafe_b64encode(json.dumps(claims(pad="xy")).encode())
    assert padded_header.endswith(b"=") or padded_payload.endswith(b"="), "the padded case must carry padding"
    padded = resigned(f"{padded_header.decode()}.{padded_payload.decode()}")
    filled = {"alg-hs256-with-public-key": hs_token, "padded-segments": padded}
    return [Case(c.name, filled.get(c.name, c.token), c.ours, c.extra) for c in cases]


ID_CASES = _fill_in(ID_CASES)
ACCESS_BASE = {"token_use": "access", "client_id": CLIENT_ID, "aud": None}
ACCESS_CASES = [
    Case("access-valid", token(claims(**ACCESS_BASE)), None),
    Case("access-aud-list-of-strings", token(claims(**{**ACCESS_BASE, "aud": ["anything"]})), None),
    Case("access-aud-number", token(claims(**{**ACCESS_BASE, "aud": 3})), "claim aud not a string or a list of strings"),
    Case("access-client-id-list", token(claims(**{**ACCESS_BASE, "client_id": [CLIENT_ID]})), "client_id not allowed"),
    Case("access-client-id-missing", token(claims(**{**ACCESS_BASE, "client_id": None})), "client_id not allowed"),
    Case("access-client-id-other", token(claims(**{**ACCESS_BASE, "client_id": "other"})), "client_id not allowed"),
    Case("access-aud-is-the-client-but-no-client-id",
         token(claims(**{**ACCESS_BASE, "client_id": None, "aud": CLIENT_ID})), "client_id not allowed"),
    Case("access-id-token", VALID, "wrong token_use"),
]


def random_corpus(seed: int, count: int, token_use: str) -> list[str]:
    """Tokens whose claims and header fields are drawn from valid values, wrong values and wrong types."""
    rng = random.Random(seed)
    odd_values = [None, 0, -1, 1.5, True, False, "", "x", [], ["x"], [CLIENT_ID], {}, {"a": 1}, 10**30,
                  float("nan"), float("inf")]
    good = claims(token_use=token_use, **({"client_id": CLIENT_ID, "aud": None} if token_use == "access" else {}))
    choices = {
        "iss": [ISSUER, GLOBAL_ISSUER, ISSUER + "/"], "sub": ["user-1"], "aud": [CLIENT_ID, "other"],
        "token_use": ["id", "access", "ID"], "client_id": [CLIENT_ID, "other"], "exp": [NOW + 60, NOW - 1, NOW, NOW + 0.25],
        "iat": [NOW - 60, NOW + 29, NOW + 31], "nbf": [NOW - 1, NOW + 1, NOW], "jti": ["j"], "scope": ["s"],
    }
    tokens = []
    for _ in range(count):
        payload = dict(good)
        for name, valid_values in choices.items():
            roll = rng.random()
            if roll < 0.07:
                payload.pop(name, None)
            elif roll < 0.14:
                payload[name] = rng.choice(odd_values)
            elif roll < 0.28:
                payload[name] = rng.choice(valid_values)
        header = {"alg": rng.choice(["RS256"] * 6 + ["RS384", "none", "HS256", 5]),
                  "kid": rng.choice(["key-1"] * 6 + ["key-9", "", 5, "key-dup"])}
        if rng.random() < 0.1:
            del header[rng.choice(["alg", "kid"])]
        key = "key-2" if rng.random() < 0.05 else ("key-dup" if header.get("kid") == "key-dup" else "key-1")
        tokens.append(token(json.dumps(payload), header, key=key))
    return tokens


def reference(tokens: list[str], token_use: str) -> list[dict]:
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the differential test needs node 20 (README, make setup)")
    if not (REPO_ROOT / "node_modules" / "aws-jwt-verify").is_dir():
        pytest.fail("node_modules/aws-jwt-verify is missing: run `make setup` (package.json pins it)")
    document = {"userPoolId": USER_POOL_ID, "clientId": CLIENT_ID, "tokenUse": token_use, "jwks": jwks_document(),
                "now": NOW, "tokens": tokens}
    result = subprocess.run(["node", str(REFERENCE)], input=json.dumps(document), capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120, check=False)
    assert result.returncode == 0, f"aws-jwt-verify reference failed:\n{result.stderr[-2000:]}"
    verdicts = json.loads(result.stdout)
    assert len(verdicts) == len(tokens)
    return verdicts


def ours(tokens: list[str], token_use: str) -> list[str | None]:
    """None when accepted, else the reason; anything but InvalidToken escaping verify() is a bug."""
    config = make_config(token_use=token_use)
    document = jwks_document()
    verifier = TokenVerifier(config, JwksCache(config.jwks_url, 3600, clock=Clock(), fetch=lambda url: document),
                             Clock())
    verdicts = []
    for item in tokens:
        try:
            verifier.verify(item)
            verdicts.append(None)
        except InvalidToken as error:
            verdicts.append(error.reason)
    return verdicts


@pytest.mark.parametrize(("token_use", "cases"), [("id", ID_CASES), ("access", ACCESS_CASES)], ids=["id", "access"])
def test_crafted_tokens_against_aws_jwt_verify(token_use, cases):
    # GIVEN the crafted corpus WHEN both verifiers judge it at the same instant
    theirs = reference([c.token for c in cases], token_use)
    mine = ours([c.token for c in cases], token_use)
    # THEN ours gives the expected verdict, refuses everything aws-jwt-verify refuses, and refuses
    # more only where ADR 0003 says so
    assert {c.name: m for c, m in zip(cases, mine, strict=True)} == {c.name: c.ours for c in cases}
    lenient = [c.name for c, t, m in zip(cases, theirs, mine, strict=True) if not t["ok"] and m is None]
    assert lenient == [], f"accepted by us, refused by aws-jwt-verify: {lenient}"
    stricter = {c.name: c.extra for c, t, m in zip(cases, theirs, mine, strict=True) if t["ok"] and m is not None}
    assert stricter == {c.name: c.extra for c in cases if c.extra is not None}
    assert None not in stricter.values()
    # and the reference really judged: it accepts the valid tokens too
    assert [c.name for c, t in zip(cases, theirs, strict=True) if t["ok"] and c.ours is None] == [
        c.name for c in cases if c.ours is None]


@pytest.mark.parametrize(("token_use", "seed"), [("id", 13), ("access", 31)])
def test_random_tokens_refused_by_aws_jwt_verify_are_refused_by_us(token_use, seed):
    tokens = random_corpus(seed, 1000, token_use)
    theirs = reference(tokens, token_use)
    mine = ours(tokens, token_use)
    lenient = [json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==")) for t, r, m
               in zip(tokens, theirs, mine, strict=True) if not r["ok"] and m is None]
    assert lenient == [], f"{len(lenient)} token(s) accepted by us, refused by aws-jwt-verify, e.g. {lenient[:3]}"
    accepted_by_both = sum(1 for r, m in zip(theirs, mine, strict=True) if r["ok"] and m is None)
    assert accepted_by_both >= 10, "the corpus must hold valid tokens too, or it proves nothing"
