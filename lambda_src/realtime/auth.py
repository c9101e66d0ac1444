"""REQUEST authorizer on ``$connect``: Cognito JWT (RS256 only) + Origin allowlist.

Imports python-jose and the standard library only: no boto3, no pydantic (cold start; enforced by
tests/unit/test_authorizer_imports.py). Time checks use the injected clock, not python-jose's own,
so that tests control time and the leeway is ours.

At least as strict as AWS's own verifier (aws-jwt-verify 5.2 ``CognitoJwtVerifier`` with its
defaults) on every header field and claim: tests/unit/test_authorizer_differential.py runs both
over the same crafted tokens. Stricter where noted: RS256 only, ``exp``/``iat``/``sub`` required,
a maximum lifetime, no ``iat`` in the future, exactly the configured issuer, a size bound.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

from realtime.config import MAX_TOKEN_CHARS, AuthorizerConfig
from realtime.events import AuthorizerRequest
from realtime.observability import Logger, Metrics

#: Clock skew tolerated on an ``iat`` in the future, seconds. ``exp`` and ``nbf`` get none, like
#: aws-jwt-verify's default (``graceSeconds: 0``): a token is expired the moment ``exp`` has passed.
LEEWAY_SECONDS = 30
#: Unknown-kid refetches happen at most once per this interval.
REFETCH_INTERVAL_SECONDS = 60.0
#: After a failed fetch of an expired JWKS, wait this long before trying again.
RETRY_AFTER_FAILURE_SECONDS = 5.0
JWKS_TIMEOUT_SECONDS = 2.0
MAX_JWKS_BYTES = 512 * 1024
#: aws-jwt-verify's shape check: three base64url segments, each with at most two '=' of padding.
#: python-jose alone would skip other characters (whitespace, '!', a fourth '.') while decoding.
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}")


class Unauthorized(Exception):  # noqa: N818 - the name is API Gateway's contract
    """Raised to answer 401: API Gateway maps an authorizer error "Unauthorized" to 401."""

    is_response = True

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class InvalidToken(Exception):
    """The token does not verify; ``reason`` is safe to log (it never contains the token)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def fetch_jwks(url: str, timeout: float = JWKS_TIMEOUT_SECONDS) -> Mapping[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise InvalidToken("jwks url scheme not allowed")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
        document = json.loads(response.read(MAX_JWKS_BYTES))
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    return document


def _signing_keys(document: Mapping[str, Any]) -> dict[str, Key]:
    keys: dict[str, Key] = {}
    seen: set[str] = set()
    for entry in document.get("keys", []):
        kid = entry.get("kid") if isinstance(entry, Mapping) else None
        if not isinstance(kid, str) or kid in seen:
            continue  # the first entry with a kid decides it, usable or not (as aws-jwt-verify's lookup)
        seen.add(kid)
        if entry.get("kty") != "RSA":
            continue
        if entry.get("alg", "RS256") != "RS256" or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwk.construct(dict(entry), "RS256")
        except JOSEError:
            continue
    return keys


class JwksCache:
    """Signing keys by kid, cached for ``ttl_seconds``; unknown kids refetch at most once per interval."""

    def __init__(self, url: str, ttl_seconds: float, *, clock: Callable[[], float] = time.time,
                 fetch: Callable[[str], Mapping[str, Any]] = fetch_jwks,
                 refetch_interval: float = REFETCH_INTERVAL_SECONDS):
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.refetch_interval = refetch_interval
        self._clock = clock
        self._fetch = fetch
        self._keys: dict[str, Key] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def _refresh(self, now: float) -> None:
        self._last_attempt = now
        self.fetches += 1
        try:
            keys = _signing_keys(self._fetch(self.url))
        except Exception:  # noqa: BLE001 - any fetch failure means "no new keys"; callers deny
            return
        self._keys, self._fetched_at = keys, now

    def key(self, kid: str) -> Key:
        with self._lock:
            now = self._clock()
            expired = self._fetched_at is None or now - self._fetched_at >= self.ttl_seconds
            if expired and now - self._last_attempt >= RETRY_AFTER_FAILURE_SECONDS:
                self._refresh(now)
                expired = self._fetched_at is None or now - self._fetched_at >= self.ttl_seconds
            if expired:
                raise InvalidToken("jwks unavailable")
            if kid not in self._keys and now - self._last_attempt >= self.refetch_interval:
                self._refresh(now)
            try:
                return self._keys[kid]
            except KeyError:
                raise InvalidToken("unknown kid") from None


@dataclass(frozen=True)
class VerifiedToken:
    user_id: str
    expires_at: int
    issued_at: int


def _number(claims: Mapping[str, Any], name: str, required: bool) -> int | float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"claim {name} missing or not a number")
    return value


def _finite(document: Any) -> bool:
    """False when JSON holds NaN or ±Infinity: python's parser reads those literals, JSON (and
    aws-jwt-verify) does not. Iterative: the document may be nested as deep as the parser went."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


#: Registered claims that must be strings when present, as aws-jwt-verify checks them (``aud``,
#: ``exp``, ``nbf`` and ``iat`` are checked below; ``token_use`` and ``client_id`` by value).
_STRING_CLAIMS = ("iss", "sub", "jti", "scope")


class TokenVerifier:
    def __init__(self, config: AuthorizerConfig, jwks: JwksCache, clock: Callable[[], float] = time.time):
        self.config = config
        self.jwks = jwks
        self.clock = clock

    def verify(self, token: str) -> VerifiedToken:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token too large")
        if not JWT_SHAPE.fullmatch(token):
            raise InvalidToken("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except (JOSEError, RecursionError):
            raise InvalidToken("malformed token") from None
        if not _finite(header):
            raise InvalidToken("malformed token")
        if header.get("alg") != "RS256":
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("missing kid")
        key = self.jwks.key(kid)
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], issuer=self.config.issuer, options={
                "verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                "verify_at_hash": False, "verify_iss": True, "verify_sub": False, "verify_jti": False,
            })
        except JOSEError as error:
            message = str(error).lower()
            raise InvalidToken("issuer mismatch" if "issuer" in message
                               else "malformed token" if "payload" in message else "bad signature") from None
        except RecursionError:
            raise InvalidToken("malformed token") from None
        return self._check_claims(claims)

    def _check_claims(self, claims: Mapping[str, Any]) -> VerifiedToken:
        now = self.clock()
        if not _finite(claims):
            raise InvalidToken("malformed token")
        for name in _STRING_CLAIMS:
            if name in claims and not isinstance(claims[name], str):
                raise InvalidToken(f"claim {name} not a string")
        audience = claims.get("aud")
        if "aud" in claims and not (isinstance(audience, str) or (
                isinstance(audience, list) and all(isinstance(a, str) for a in audience))):
            raise InvalidToken("claim aud not a string or a list of strings")
        expires_at = _number(claims, "exp", required=True)
        issued_at = _number(claims, "iat", required=True)
        not_before = _number(claims, "nbf", required=False)
        if claims.get("token_use") != self.config.token_use:
            raise InvalidToken("wrong token_use")
        if self.config.token_use == "id":  # noqa: S105 - token kind, not a secret
            # Cognito puts one client id in an id token's aud; a list is refused (as aws-jwt-verify does).
            if not isinstance(audience, str) or audience not in self.config.client_ids:
                raise InvalidToken("audience not allowed")
        elif not isinstance(claims.get("client_id"), str) or claims["client_id"] not in self.config.client_ids:
            raise InvalidToken("client_id not allowed")
        if expires_at < now:
            raise InvalidToken("token expired")
        if not_before is not None and not_before > now:
            raise InvalidToken("token not yet valid")
        if issued_at > now + LEEWAY_SECONDS:
            raise InvalidToken("token issued in the future")
        if expires_at - issued_at > self.config.max_token_age_seconds:
            raise InvalidToken("token lifetime above maximum")
        subject = claims.get("sub")
        if not subject:
            raise InvalidToken("missing sub")
        return VerifiedToken(user_id=subject, expires_at=int(expires_at), issued_at=int(issued_at))


def policy(principal_id: str, effect: str, method_arn: str, context: Mapping[str, Any] | None = None) -> dict:
    document: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
    }
    if context:
        document["context"] = dict(context)
    return document


class Authorizer:
    """401 (raise :class:`Unauthorized`) when the token does not verify; Deny policy (403) when the
    token is valid but the Origin is not allowed; Allow policy with ``userId``/``tokenExpiresAt``."""

    def __init__(self, config: AuthorizerConfig, verifier: TokenVerifier, logger: Logger, metrics: Metrics):
        self.config = config
        self.verifier = verifier
        self.logger = logger
        self.metrics = metrics

    def _deny(self, reason: str, request: AuthorizerRequest, status: int) -> None:
        self.metrics.count("AuthorizerDenials")
        self.logger.warning("connection denied", reason=reason, status=status, origin=request.origin,
                            connectionId=request.connection_id)

    def authorize(self, request: AuthorizerRequest) -> dict:
        if request.token is None:
            self._deny("missing token", request, 401)
            raise Unauthorized()
        try:
            verified = self.verifier.verify(request.token)
        except InvalidToken as error:
            self._deny(error.reason, request, 401)
            raise Unauthorized() from None
        except Exception as error:  # noqa: BLE001 - every verification failure denies
            self._deny(f"verification error {type(error).__name__}", request, 401)
            raise Unauthorized() from None
        if not self._origin_allowed(request.origin):
            self._deny("origin not allowed", request, 403)
            return policy(verified.user_id, "Deny", request.method_arn)
        self.metrics.count("AuthorizerAllows")
        self.logger.info("connection allowed", userId=verified.user_id, origin=request.origin,
                         connectionId=request.connection_id)
        return policy(verified.user_id, "Allow", request.method_arn,
                      {"userId": verified.user_id, "tokenExpiresAt": verified.expires_at})

    def _origin_allowed(self, origin: str | None) -> bool:
        if origin is None:
            return self.config.allow_missing_origin
        return origin in self.config.allowed_origins
