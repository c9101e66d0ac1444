"""Test RSA keys, JWKS documents and Cognito-shaped JWTs minted with them (python-jose + cryptography)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT_ID = "testclient123"
NOW = 1_750_000_000


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes
    public_jwk: dict[str, Any]


@lru_cache(maxsize=8)
def signing_key(kid: str = "key-1") -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    public = jwk.construct(public_pem, "RS256").to_dict()
    public = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}
    public.update(kid=kid, use="sig", alg="RS256")
    return SigningKey(kid, pem, public)


def jwks(*kids: str) -> dict[str, Any]:
    return {"keys": [signing_key(kid).public_jwk for kid in kids or ("key-1",)]}


def claims(now: int = NOW, **overrides: Any) -> dict[str, Any]:
    base = {"sub": "user-1", "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id", "iat": now - 60,
            "auth_time": now - 60, "exp": now + 3540, "cognito:username": "alice"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(now: int = NOW, kid: str = "key-1", headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    return jwt.encode(claims(now, **overrides), signing_key(kid).private_pem.decode(), algorithm="RS256",
                      headers={"kid": kid, **(headers or {})})


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts requests; ``document``/``delay`` can change mid-test."""

    document: dict[str, Any] = field(default_factory=jwks)
    delay: float = 0.0
    status: int = 200
    requests: int = 0

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                if server.delay:
                    threading.Event().wait(server.delay)
                body = json.dumps(server.document).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
