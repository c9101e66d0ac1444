"""Per-function configuration, read once at init from the variables listed in docs/contracts.md.

A missing or malformed variable raises :class:`ConfigError` naming it, so a misconfigured function
fails its init (visible in the function's error metric) instead of misbehaving at request time.
Imports nothing heavy: the authorizer loads this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

#: API Gateway's hard limit on a WebSocket frame.
API_GATEWAY_MAX_FRAME_BYTES = 128 * 1024


class ConfigError(RuntimeError):
    """A required environment variable is missing or malformed."""


class _Env:
    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def _raw(self, name: str) -> str:
        value = self._environ.get(name)
        if value is None or not value.strip():
            raise ConfigError(f"environment variable {name} is missing or empty")
        return value.strip()

    def _fail(self, name: str, expected: str, got: str) -> ConfigError:
        return ConfigError(f"environment variable {name}: expected {expected}, got {got!r}")

    def string(self, name: str, default: str | None = None) -> str:
        if default is not None and not self._environ.get(name, "").strip():
            return default
        return self._raw(name)

    def integer(self, name: str, minimum: int, maximum: int | None = None, default: int | None = None) -> int:
        if default is not None and not self._environ.get(name, "").strip():
            return default
        raw = self._raw(name)
        expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        if not re.fullmatch(r"[0-9]+", raw):
            raise self._fail(name, expected, raw)
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise self._fail(name, expected, raw)
        return value

    def boolean(self, name: str) -> bool:
        raw = self._raw(name).lower()
        if raw not in ("true", "false"):
            raise self._fail(name, "true or false", raw)
        return raw == "true"

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw not in options:
            raise self._fail(name, "one of " + ", ".join(options), raw)
        return raw

    def url(self, name: str, schemes: tuple[str, ...] = ("https", "http")) -> str:
        raw = self._raw(name)
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise self._fail(name, "a URL with scheme " + "/".join(schemes), raw)
        return raw.rstrip("/")

    def csv(self, name: str, item_check=None, expected: str = "a comma-separated list") -> tuple[str, ...]:
        items = tuple(part.strip() for part in self._raw(name).split(",") if part.strip())
        if not items or (item_check is not None and not all(item_check(item) for item in items)):
            raise self._fail(name, expected, self._environ.get(name, ""))
        return items


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return (parts.scheme in ("https", "http") and bool(parts.netloc) and not parts.path
            and not parts.query and not parts.fragment and value == f"{parts.scheme}://{parts.netloc}")


#: API Gateway's WebSocket quota "Length, in characters, of the URL for a WebSocket API" (the local
#: gateway answers 414 above it: wsctl/gateway/server.py ``MAX_URL_CHARS``).
API_GATEWAY_MAX_URL_CHARS = 4096
#: Longest token the authorizer verifies and a ``refresh`` may carry: what fits the handshake. The
#: token travels in ``/<stage>?token=<token>``; the longest stage is ``staging`` (15 characters of
#: prefix: 4,081 left), and even counting ``wss://`` and the longest execute-api host (~57 more:
#: 4,024 left) 4,000 fits. A longer token can never connect, so ``refresh`` must not accept it
#: either (issue 17; tests/unit/test_token_bound.py checks every environment). Cognito's are 1-2 KB.
MAX_TOKEN_CHARS = 4000


@dataclass(frozen=True)
class CommonConfig:
    environment: str
    log_level: str
    metrics_namespace: str
    function_name: str

    @classmethod
    def load(cls, env: _Env, function: str) -> CommonConfig:
        environment = env.string("ENVIRONMENT")
        return cls(
            environment=environment,
            log_level=env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR")),
            metrics_namespace=env.string("METRICS_NAMESPACE"),
            function_name=env.string("AWS_LAMBDA_FUNCTION_NAME", default=f"realtime-{environment}-{function}"),
        )


@dataclass(frozen=True)
class TokenRules:
    """What a token must satisfy (``realtime.auth.TokenVerifier``): the authorizer's rules, also applied by
    ``default`` to an in-band ``refresh`` — one set of variables, so the two can never disagree."""

    issuer: str
    jwks_url: str
    client_ids: frozenset[str]
    token_use: str
    max_token_age_seconds: int
    jwks_cache_ttl_seconds: int

    @classmethod
    def load(cls, env: _Env) -> TokenRules:
        return cls(
            issuer=env.url("COGNITO_ISSUER"),
            jwks_url=env.url("COGNITO_JWKS_URL"),
            client_ids=frozenset(env.csv("COGNITO_CLIENT_IDS")),
            token_use=env.choice("COGNITO_TOKEN_USE", ("id", "access")),
            max_token_age_seconds=env.integer("MAX_TOKEN_AGE_SECONDS", 60),
            jwks_cache_ttl_seconds=env.integer("JWKS_CACHE_TTL_SECONDS", 60),
        )


@dataclass(frozen=True)
class AuthorizerConfig:
    common: CommonConfig
    issuer: str
    jwks_url: str
    client_ids: frozenset[str]
    token_use: str
    allowed_origins: frozenset[str]
    allow_missing_origin: bool
    max_token_age_seconds: int
    jwks_cache_ttl_seconds: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthorizerConfig:
        env = _Env(os.environ if environ is None else environ)
        rules = TokenRules.load(env)
        return cls(
            common=CommonConfig.load(env, "authorizer"),
            issuer=rules.issuer,
            jwks_url=rules.jwks_url,
            client_ids=rules.client_ids,
            token_use=rules.token_use,
            allowed_origins=frozenset(env.csv(
                "ALLOWED_ORIGINS", _is_origin, "comma-separated scheme://host[:port] origins")),
            allow_missing_origin=env.boolean("ALLOW_MISSING_ORIGIN"),
            max_token_age_seconds=rules.max_token_age_seconds,
            jwks_cache_ttl_seconds=rules.jwks_cache_ttl_seconds,
        )


@dataclass(frozen=True)
class ConnectConfig:
    common: CommonConfig
    table_name: str
    connections_endpoint: str
    global_limit: int
    per_user_limit: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConnectConfig:
        env = _Env(os.environ if environ is None else environ)
        return cls(
            common=CommonConfig.load(env, "connect"),
            table_name=env.string("CONNECTIONS_TABLE"),
            connections_endpoint=env.url("CONNECTIONS_ENDPOINT"),
            global_limit=env.integer("GLOBAL_CONNECTION_LIMIT", 1),
            per_user_limit=env.integer("PER_USER_CONNECTION_LIMIT", 1),
        )


@dataclass(frozen=True)
class DisconnectConfig:
    common: CommonConfig
    table_name: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DisconnectConfig:
        env = _Env(os.environ if environ is None else environ)
        return cls(common=CommonConfig.load(env, "disconnect"), table_name=env.string("CONNECTIONS_TABLE"))


@dataclass(frozen=True)
class DefaultConfig:
    common: CommonConfig
    table_name: str
    connections_endpoint: str
    max_message_bytes: int
    rate_limit_per_minute: int
    max_rate_violations: int
    notifications_table: str
    retention_seconds: int
    resume_max_notifications: int
    read_budget_items: int
    read_budget_window_seconds: int
    token: TokenRules

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DefaultConfig:
        env = _Env(os.environ if environ is None else environ)
        return cls(
            common=CommonConfig.load(env, "default"),
            table_name=env.string("CONNECTIONS_TABLE"),
            connections_endpoint=env.url("CONNECTIONS_ENDPOINT"),
            max_message_bytes=env.integer("MAX_MESSAGE_BYTES", 64, API_GATEWAY_MAX_FRAME_BYTES),
            rate_limit_per_minute=env.integer("MESSAGE_RATE_LIMIT_PER_MINUTE", 1),
            max_rate_violations=env.integer("MAX_RATE_VIOLATIONS", 1),
            notifications_table=env.string("NOTIFICATIONS_TABLE"),
            retention_seconds=env.integer("NOTIFICATION_RETENTION_SECONDS", 1),
            resume_max_notifications=env.integer("RESUME_MAX_NOTIFICATIONS", 1, 1000),
            read_budget_items=env.integer("READ_BUDGET_ITEMS", 1, 1_000_000),
            read_budget_window_seconds=env.integer("READ_BUDGET_WINDOW_SECONDS", 60, 86400),
            token=TokenRules.load(env),
        )


@dataclass(frozen=True)
class BroadcastConfig:
    common: CommonConfig
    table_name: str
    connections_endpoint: str
    queue_url: str
    concurrency: int
    scan_segments: int
    announcement_interval_seconds: int
    notifications_table: str
    retention_seconds: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BroadcastConfig:
        env = _Env(os.environ if environ is None else environ)
        return cls(
            common=CommonConfig.load(env, "broadcast"),
            table_name=env.string("CONNECTIONS_TABLE"),
            connections_endpoint=env.url("CONNECTIONS_ENDPOINT"),
            queue_url=env.url("BROADCAST_QUEUE_URL"),
            concurrency=env.integer("BROADCAST_CONCURRENCY", 1, 512),
            scan_segments=env.integer("BROADCAST_SCAN_SEGMENTS", 1, 1000),
            announcement_interval_seconds=env.integer("ANNOUNCEMENT_INTERVAL_SECONDS", 0),
            notifications_table=env.string("NOTIFICATIONS_TABLE"),
            retention_seconds=env.integer("NOTIFICATION_RETENTION_SECONDS", 1),
        )


@dataclass(frozen=True)
class SweeperConfig:
    common: CommonConfig
    table_name: str
    connections_endpoint: str
    global_limit: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SweeperConfig:
        env = _Env(os.environ if environ is None else environ)
        return cls(
            common=CommonConfig.load(env, "sweeper"),
            table_name=env.string("CONNECTIONS_TABLE"),
            connections_endpoint=env.url("CONNECTIONS_ENDPOINT"),
            global_limit=env.integer("GLOBAL_CONNECTION_LIMIT", 1),
        )
