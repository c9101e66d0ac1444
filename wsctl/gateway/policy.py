"""The parts of IAM policy evaluation API Gateway applies to a Lambda authorizer's answer."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

INVOKE_ACTION = "execute-api:Invoke"


class AuthorizerResponseError(ValueError):
    """The authorizer answered something API Gateway refuses (it answers 500 then)."""


@lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + r"\Z",
                      re.IGNORECASE if glob.startswith("execute-api") or glob == "*" else 0)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _matches(globs: Any, value: str) -> bool:
    return any(isinstance(g, str) and _pattern(g).match(value) for g in _as_list(globs))


def is_allowed(policy_document: Any, method_arn: str) -> bool:
    """Explicit Deny wins, then an Allow of ``execute-api:Invoke`` on a matching resource, else deny."""
    if not isinstance(policy_document, dict) or "Statement" not in policy_document:
        raise AuthorizerResponseError("policyDocument has no Statement")
    allowed = False
    for statement in _as_list(policy_document["Statement"]):
        if not isinstance(statement, dict):
            raise AuthorizerResponseError("policy statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise AuthorizerResponseError(f"policy statement has Effect {effect!r}")
        if not (_matches(statement.get("Action", []), INVOKE_ACTION)
                and _matches(statement.get("Resource", []), method_arn)):
            continue
        if effect == "Deny":
            return False
        allowed = True
    return allowed


def authorizer_context(response: Any) -> dict[str, Any]:
    """``requestContext.authorizer`` for the routes: principalId plus the context values, each
    stringified. Nothing else: the WebSocket reference documents ``$context.authorizer.principalId`` and
    ``.<property>`` only (the ``integrationLatency`` REST APIs add is not documented for WebSocket)."""
    if not isinstance(response, dict) or "principalId" not in response or "policyDocument" not in response:
        raise AuthorizerResponseError("authorizer response needs principalId and policyDocument")
    context = response.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerResponseError("authorizer context is not an object")
    delivered: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict | list) or value is None:
            raise AuthorizerResponseError(f"authorizer context value {key!r} is not a string, number or boolean")
        # The integration receives every context value stringified ("1", "true"), as in AWS.
        delivered[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return {**delivered, "principalId": response["principalId"]}
