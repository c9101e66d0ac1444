"""Lambda config: a missing or malformed variable fails init with its name."""

from __future__ import annotations

import pytest
from realtime.config import (
    AuthorizerConfig,
    BroadcastConfig,
    ConfigError,
    ConnectConfig,
    DefaultConfig,
    DisconnectConfig,
    SweeperConfig,
)

COMMON = {"ENVIRONMENT": "dev", "LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Realtime/dev"}
ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
TOKEN_RULES = {"COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/p",
               "COGNITO_JWKS_URL": "https://cognito-idp.eu-west-1.amazonaws.com/p/.well-known/jwks.json",
               "COGNITO_CLIENT_IDS": "a, b", "COGNITO_TOKEN_USE": "id", "MAX_TOKEN_AGE_SECONDS": "86400",
               "JWKS_CACHE_TTL_SECONDS": "3600"}
LOG = {"NOTIFICATIONS_TABLE": "realtime-dev-notifications", "NOTIFICATION_RETENTION_SECONDS": "86400"}
VALID = {
    AuthorizerConfig: {**COMMON, **TOKEN_RULES,
                       "ALLOWED_ORIGINS": "https://dev.brickhub.example,http://localhost:3000",
                       "ALLOW_MISSING_ORIGIN": "false"},
    ConnectConfig: {**COMMON, "CONNECTIONS_TABLE": "realtime-dev-connections", "CONNECTIONS_ENDPOINT": ENDPOINT,
                    "GLOBAL_CONNECTION_LIMIT": "2000",
                    "PER_USER_CONNECTION_LIMIT": "10"},
    DisconnectConfig: {**COMMON, "CONNECTIONS_TABLE": "realtime-dev-connections"},
    DefaultConfig: {**COMMON, "CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": ENDPOINT, "MAX_MESSAGE_BYTES": "131072",
                    "MESSAGE_RATE_LIMIT_PER_MINUTE": "60", "MAX_RATE_VIOLATIONS": "3", **LOG,
                    "RESUME_MAX_NOTIFICATIONS": "100", "READ_BUDGET_ITEMS": "2500", "READ_BUDGET_WINDOW_SECONDS": "600", **TOKEN_RULES},
    BroadcastConfig: {**COMMON, "CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": ENDPOINT,
                      "BROADCAST_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/realtime-dev-broadcast",
                      "BROADCAST_CONCURRENCY": "64", "BROADCAST_SCAN_SEGMENTS": "4",
                      "ANNOUNCEMENT_INTERVAL_SECONDS": "60", **LOG},
    SweeperConfig: {**COMMON, "CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": ENDPOINT,
                    "GLOBAL_CONNECTION_LIMIT": "2000"},
}


@pytest.mark.parametrize("config_class", list(VALID))
def test_valid_environment_loads(config_class):
    config = config_class.from_env(VALID[config_class])
    assert config.common.environment == "dev"
    assert config.common.function_name.startswith("realtime-dev-")


@pytest.mark.parametrize("config_class, name", [(cls, name) for cls, env in VALID.items() for name in env])
def test_each_missing_variable_fails_with_its_name(config_class, name):
    environ = {k: v for k, v in VALID[config_class].items() if k != name}
    with pytest.raises(ConfigError, match=name):
        config_class.from_env(environ)


@pytest.mark.parametrize("config_class, name, value", [
    (ConnectConfig, "GLOBAL_CONNECTION_LIMIT", "lots"),
    (ConnectConfig, "PER_USER_CONNECTION_LIMIT", "0"),
    (DefaultConfig, "MAX_MESSAGE_BYTES", "200000"),
    (DefaultConfig, "CONNECTIONS_ENDPOINT", "abc123.execute-api"),
    (AuthorizerConfig, "COGNITO_TOKEN_USE", "refresh"),
    (AuthorizerConfig, "ALLOW_MISSING_ORIGIN", "yes"),
    (AuthorizerConfig, "ALLOWED_ORIGINS", "https://dev.brickhub.example/path"),
    (AuthorizerConfig, "COGNITO_ISSUER", "ftp://issuer"),
    (BroadcastConfig, "BROADCAST_CONCURRENCY", "-1"),
    (AuthorizerConfig, "LOG_LEVEL", "LOUD"),
])
def test_malformed_variable_fails_with_its_name_and_value(config_class, name, value):
    with pytest.raises(ConfigError, match=name):
        config_class.from_env({**VALID[config_class], name: value})


def test_lists_are_parsed_and_trimmed():
    config = AuthorizerConfig.from_env(VALID[AuthorizerConfig])
    assert config.client_ids == frozenset({"a", "b"})
    assert config.allowed_origins == frozenset({"https://dev.brickhub.example", "http://localhost:3000"})
    assert config.allow_missing_origin is False
