"""The token verifier of ``default``'s in-band ``refresh``, built on first use (ADR 0016).

python-jose and the JWKS fetch would add to every cold start of ``default`` although most invocations
are pings; importing ``realtime.auth`` only when the first ``refresh`` arrives moves that cost to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from realtime.config import TokenRules


def lazy_token_verifier(rules: TokenRules) -> Callable[[], Any]:
    """A zero-argument function returning one ``TokenVerifier`` (with its JWKS cache) per execution environment."""

    @functools.cache
    def build() -> Any:
        from realtime.auth import JwksCache, TokenVerifier

        return TokenVerifier(rules, JwksCache(rules.jwks_url, rules.jwks_cache_ttl_seconds))

    return build
