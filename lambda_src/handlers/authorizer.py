"""REQUEST authorizer on $connect. Imports no boto3 (cold start; tests/unit/test_authorizer_imports.py)."""

from realtime.auth import Authorizer, JwksCache, TokenVerifier
from realtime.config import AuthorizerConfig
from realtime.events import AuthorizerRequest
from realtime.observability import instrumented, telemetry

from handlers import init_complete

CONFIG = AuthorizerConfig.from_env()
LOGGER, METRICS = telemetry(CONFIG.common)
JWKS = JwksCache(CONFIG.jwks_url, CONFIG.jwks_cache_ttl_seconds)
AUTHORIZER = Authorizer(CONFIG, TokenVerifier(CONFIG, JWKS), LOGGER, METRICS)


@instrumented(LOGGER, METRICS)
def handler(event, context):
    """Allow/Deny policy, or raise ``Unauthorized`` (API Gateway answers 401)."""
    return AUTHORIZER.authorize(AuthorizerRequest.from_event(event))


init_complete()
