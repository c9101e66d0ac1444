"""Tokens for local users: the local pool is declared by the realtime-local stack (moto cognito-idp)."""

from __future__ import annotations

import functools
import json
import time
import uuid
from base64 import urlsafe_b64decode
from dataclasses import dataclass, replace
from typing import Any

from wsctl.errors import WsctlError
from wsctl.targets import Target, resolve

# Local-only password of every local user (the emulator's pool; never a real account).
LOCAL_PASSWORD = "Local-Passw0rd-2026"  # noqa: S105


@dataclass(frozen=True)
class LocalToken:
    user: str
    #: The Cognito ``sub``: the ``userId`` connections are stored under and broadcasts target.
    sub: str
    token: str
    expires_in: int


@functools.cache
def token_use() -> str:
    """The local environment file's choice (read once per process, not on every sign-in)."""
    from stacks.config import load_env

    return load_env("local", overrides={}).cognito.token_use


def issue_token(user: str, target: Target | None = None) -> LocalToken:
    import botocore.exceptions

    target = target or resolve("local")
    pool_id, client_id = target.output("user_pool_id"), target.output("user_pool_client_id")
    cognito = target.client("cognito-idp")
    try:
        try:
            cognito.admin_get_user(UserPoolId=pool_id, Username=user)
        except cognito.exceptions.UserNotFoundException:
            cognito.admin_create_user(UserPoolId=pool_id, Username=user, MessageAction="SUPPRESS",
                                      TemporaryPassword=LOCAL_PASSWORD)
            cognito.admin_set_user_password(UserPoolId=pool_id, Username=user, Password=LOCAL_PASSWORD,
                                            Permanent=True)
        result = cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                       AuthParameters={"USERNAME": user, "PASSWORD": LOCAL_PASSWORD})
    except botocore.exceptions.EndpointConnectionError:
        raise WsctlError("nothing running: start the local stack with `make local` (wsctl local up)") from None
    except botocore.exceptions.ClientError as error:
        raise WsctlError(f"cannot sign in {user!r} in the local pool: {error.response['Error'].get('Message')}") from None
    tokens = result["AuthenticationResult"]
    token = tokens["IdToken"] if token_use() == "id" else tokens["AccessToken"]
    return LocalToken(user=user, sub=claims(token)["sub"], token=token, expires_in=int(tokens.get("ExpiresIn", 3600)))


def sign_like_the_emulator(claims: dict[str, Any]) -> str:
    """RS256 with the key moto signs every pool's tokens with (kid "dummy"; public, local use only)."""
    from jose import jwt
    from moto.utilities.utils import load_resource

    key = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def mint_token(target: Target, user: str, sub: str, lifetime_seconds: int, issued_at: int | None = None) -> str:
    """An IdToken like the local pool's, with a chosen lifetime (the pool itself always issues 1-hour
    tokens): for expiry and refresh tests only, signed with the emulator's public key."""
    now = int(time.time()) if issued_at is None else issued_at
    region, pool_id = target.region, target.output("user_pool_id")
    return sign_like_the_emulator({
        "iss": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}", "sub": sub,
        "aud": target.output("user_pool_client_id"), "token_use": "id", "iat": now, "auth_time": now,
        "exp": now + lifetime_seconds, "jti": str(uuid.uuid4()), "cognito:username": user})


def issue_short_lived(user: str, lifetime_seconds: int, target: Target | None = None) -> LocalToken:
    """The pool's user (created on first use) with a token of ``lifetime_seconds`` instead of an hour."""
    target = target or resolve("local")
    issued = issue_token(user, target)
    return replace(issued, token=mint_token(target, user, issued.sub, lifetime_seconds), expires_in=lifetime_seconds)


def local_user_ids(values: list[str], target: Target) -> list[str]:
    """``--user`` values as the userIds (Cognito subs) connections are stored under: a sub of an
    existing local user stays as it is, a local user name becomes that user's sub; anything else
    is refused in one line, because a broadcast to it would reach nobody."""
    import botocore.exceptions

    pool_id = target.output("user_pool_id")
    cognito = target.client("cognito-idp")
    resolved = []
    try:
        for value in values:
            user_id = _existing_sub(cognito, pool_id, value) or _sub_of_user_name(cognito, pool_id, value)
            if user_id is None:
                raise WsctlError(f"no local user {value!r} (neither a user name nor a userId in the local pool); "
                                 f"`wsctl local token --user {value}` creates one")
            resolved.append(user_id)
    except botocore.exceptions.EndpointConnectionError:
        raise WsctlError("nothing running: start the local stack with `make local` (wsctl local up)") from None
    except botocore.exceptions.ClientError as error:
        raise WsctlError(f"cannot read the local pool: {error.response['Error'].get('Message')}") from None
    return list(dict.fromkeys(resolved))


def _existing_sub(cognito, pool_id: str, value: str) -> str | None:
    if '"' in value or "\\" in value:
        return None  # not a sub (those are UUIDs), and it could not be quoted in the filter
    found = cognito.list_users(UserPoolId=pool_id, Filter=f'sub = "{value}"', Limit=1).get("Users") or []
    return value if found else None


def _sub_of_user_name(cognito, pool_id: str, name: str) -> str | None:
    try:
        user = cognito.admin_get_user(UserPoolId=pool_id, Username=name)
    except cognito.exceptions.UserNotFoundException:
        return None
    return next((a["Value"] for a in user.get("UserAttributes", []) if a["Name"] == "sub"), None)


def claims(token: str) -> dict:
    """The payload of a JWT, unverified (for display: the authorizer is what verifies)."""
    payload = token.split(".")[1]
    return json.loads(urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def print_token(user: str) -> int:
    issued = issue_token(user)
    print(f"# user {issued.user}: userId (sub) {issued.sub}, expires in {issued.expires_in} s")
    print(issued.token)
    return 0
