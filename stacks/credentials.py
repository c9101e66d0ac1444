"""Is there anything `make plan` / `make deploy` could authenticate with? Checked before synthesis.

Without credentials the S3 state backend fails only after synthesis and the cdktf CLI start
(12–16 s) with "No valid credential sources found". This looks where the S3 backend (the AWS SDK
for Go's default chain) looks, in its order, and stops in one line naming what to set:

1. environment: ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY``;
2. web identity: ``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN`` (CI with OIDC);
3. the shared config and credentials files (``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``,
   default ``~/.aws/config`` and ``~/.aws/credentials``), profile ``AWS_PROFILE`` or ``default``:
   static keys, SSO (``sso_session`` / ``sso_start_url``), ``credential_process``, an assumed role
   (``role_arn`` with ``source_profile`` / ``credential_source``) or web identity;
4. container credentials: ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` / ``_FULL_URI`` (ECS, CodeBuild);
5. EC2 instance metadata: a single probe of at most 1 s, skipped when ``AWS_EC2_METADATA_DISABLED=true``
   (what the SDKs honour too).

It only says whether a source is *configured*; whether its credentials are valid is for AWS to say.
Standard library only, so it runs before anything is installed:
``python3 -m stacks.credentials plan|deploy ENV``.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

IMDS_HOST = "169.254.169.254"
IMDS_TIMEOUT_SECONDS = 1.0
PROFILE_SOURCE_KEYS = (
    ("aws_access_key_id", "static keys"),
    ("sso_session", "SSO"),
    ("sso_start_url", "SSO"),
    ("credential_process", "credential_process"),
    ("role_arn", "an assumed role"),
    ("web_identity_token_file", "web identity"),
)


@dataclass(frozen=True)
class Found:
    source: str


class Missing(Exception):
    """What to set, in one line."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _profile_sections(env: Mapping[str, str], home: Path, profile: str) -> list[tuple[Path, dict[str, str]]]:
    """The profile's settings in the config file (``[profile x]``, ``[default]``) and the credentials file (``[x]``)."""
    config = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config")
    credentials = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    found = []
    for path, section in ((credentials, profile),
                          (config, profile if profile == "default" else f"profile {profile}")):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError) as error:
            raise Missing(f"cannot read {path}: {error}") from None
        if parser.has_section(section):
            found.append((path, {key.lower(): value for key, value in parser.items(section)}))
    return found


def find_aws_credentials(env: Mapping[str, str], home: Path,
                         probe_imds: Callable[[], bool] | None = None) -> Found:
    """The first configured source of the S3 backend's chain; raises Missing when there is none."""
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Found("environment (AWS_ACCESS_KEY_ID)")
    if key or secret:
        missing = "AWS_SECRET_ACCESS_KEY" if key else "AWS_ACCESS_KEY_ID"
        raise Missing(f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set {missing} too")
    token_file, role = env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), env.get("AWS_ROLE_ARN")
    if token_file and role:
        if not Path(token_file).is_file():
            raise Missing(f"AWS_WEB_IDENTITY_TOKEN_FILE names {token_file}, which does not exist")
        return Found("web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)")
    named = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    profile = named or "default"
    sections = _profile_sections(env, home, profile)
    for path, settings in sections:
        for setting, what in PROFILE_SOURCE_KEYS:
            if settings.get(setting):
                return Found(f"profile {profile!r} in {path} ({what})")
    if named:
        where = " and ".join(str(path) for path, _ in sections) or "~/.aws/config or ~/.aws/credentials"
        state = "has no credentials (keys, sso_session, credential_process or role_arn)" if sections else "is not defined"
        raise Missing(f"AWS_PROFILE={named}: that profile {state} in {where}")
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return Found("container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)")
    imds_disabled = _truthy(env.get("AWS_EC2_METADATA_DISABLED"))
    if not imds_disabled and (probe_imds or imds_answers)():
        return Found("EC2 instance metadata")
    checked = "environment, web identity, profile 'default', container"
    checked += ", instance metadata (disabled by AWS_EC2_METADATA_DISABLED)" if imds_disabled else \
        f", instance metadata (no answer from {IMDS_HOST} within {IMDS_TIMEOUT_SECONDS:.0f} s)"
    raise Missing("no AWS credentials for the S3 state backend: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                  "or AWS_PROFILE (a profile with keys, sso_session or credential_process; `aws sso login` for SSO), "
                  f"or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (checked: {checked})")


def imds_answers() -> bool:
    """One IMDSv2 token request to the link-local metadata address, at most 1 s: any HTTP answer counts."""
    import http.client

    connection = http.client.HTTPConnection(IMDS_HOST, 80, timeout=IMDS_TIMEOUT_SECONDS)
    try:
        connection.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        return connection.getresponse().status < 500
    except OSError:
        return False
    finally:
        connection.close()


def check(action: str, env_name: str, env: Mapping[str, str], home: Path,
          probe_imds: Callable[[], bool] | None = None) -> str:
    """What ``make <action> ENV=<env_name>`` needs; returns the source found, raises Missing otherwise."""
    problems = []
    found = None
    try:
        found = find_aws_credentials(env, home, probe_imds)
    except Missing as missing:
        problems.append(str(missing))
    if action == "deploy" and not env.get("VERCEL_API_TOKEN"):
        problems.append(f"VERCEL_API_TOKEN is not set: the Vercel provider needs it to apply realtime-vercel-{env_name} "
                        "(a token from vercel.com/account/tokens)")
    if problems:
        raise Missing("; ".join(problems))
    assert found is not None  # noqa: S101 - no problem means credentials were found
    return found.source


ENVIRONMENTS = Path(__file__).resolve().parents[1] / "environments"


def state_backend(env_name: str) -> str:
    """The ``[state] backend`` of environments/<env>.toml (only an S3 backend needs AWS credentials here)."""
    import tomllib

    path = ENVIRONMENTS / f"{env_name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ENVIRONMENTS.glob("*.toml")))
        raise Missing(f"there is no environments/{env_name}.toml (environments: {known})")
    try:
        return str(tomllib.loads(path.read_text()).get("state", {}).get("backend", ""))
    except (tomllib.TOMLDecodeError, OSError) as error:
        raise Missing(f"cannot read environments/{env_name}.toml: {error}") from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("plan", "deploy"):
        print("usage: python3 -m stacks.credentials plan|deploy ENV", file=sys.stderr)
        return 2
    action, env_name = args
    try:
        if state_backend(env_name) != "s3":
            print(f"realtime-{env_name} keeps no state in S3: no AWS credentials checked")
            return 0
        source = check(action, env_name, os.environ, Path.home())
    except Missing as missing:
        print(f"make {action} ENV={env_name}: {missing}", file=sys.stderr)
        return 1
    print(f"AWS credentials for realtime-{env_name}: {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
