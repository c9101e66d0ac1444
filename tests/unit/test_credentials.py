"""`make plan` / `make deploy` check for credentials before synthesizing (stacks/credentials.py).

No test here sends anything to a non-loopback address: the instance-metadata probe is either
replaced by a function or disabled with AWS_EC2_METADATA_DISABLED=true, as the SDKs honour it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from stacks.credentials import Missing, check, find_aws_credentials

REPO_ROOT = Path(__file__).resolve().parents[2]
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}


def never(*_args) -> bool:
    raise AssertionError("the instance metadata probe must not run")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nothing_configured_names_what_to_set(tmp_path):
    with pytest.raises(Missing) as missing:
        find_aws_credentials(dict(NO_IMDS), tmp_path, probe_imds=never)
    message = str(missing.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_ROLE_ARN", "disabled by AWS_EC2_METADATA_DISABLED"):
        assert name in message
    assert "\n" not in message


def test_environment_keys(tmp_path):
    found = find_aws_credentials({"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}, tmp_path, never)
    assert found.source.startswith("environment")


def test_half_of_the_environment_keys_names_the_other_half(tmp_path):
    with pytest.raises(Missing, match="set AWS_SECRET_ACCESS_KEY too"):
        find_aws_credentials({"AWS_ACCESS_KEY_ID": "AKIA", **NO_IMDS}, tmp_path, never)


@pytest.mark.parametrize(("section", "kind"), [
    ("aws_access_key_id = AKIA\naws_secret_access_key = s\n", "static keys"),
    ("sso_session = corp\nsso_account_id = 1\nsso_role_name = r\n", "SSO"),
    ("sso_start_url = https://corp.awsapps.com/start\n", "SSO"),
    ("credential_process = /usr/bin/get-creds\n", "credential_process"),
    ("role_arn = arn:aws:iam::1:role/r\nsource_profile = base\n", "an assumed role"),
])
def test_a_profile_in_the_config_file(tmp_path, section, kind):
    write(tmp_path / ".aws" / "config", f"[profile deploy]\nregion = eu-west-1\n{section}")
    found = find_aws_credentials({"AWS_PROFILE": "deploy", **NO_IMDS}, tmp_path, never)
    assert found.source == f"profile 'deploy' in {tmp_path / '.aws' / 'config'} ({kind})"


def test_the_default_profile_in_the_credentials_file(tmp_path):
    write(tmp_path / ".aws" / "credentials", "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n")
    assert "profile 'default'" in find_aws_credentials(dict(NO_IMDS), tmp_path, never).source


def test_files_named_by_the_environment_win_over_home(tmp_path):
    config = write(tmp_path / "elsewhere" / "config", "[profile ci]\ncredential_process = x\n")
    found = find_aws_credentials({"AWS_PROFILE": "ci", "AWS_CONFIG_FILE": str(config), **NO_IMDS}, tmp_path, never)
    assert str(config) in found.source


def test_a_named_profile_that_does_not_exist_is_named(tmp_path):
    write(tmp_path / ".aws" / "config", "[profile other]\ncredential_process = x\n")
    with pytest.raises(Missing, match="AWS_PROFILE=deploy: that profile is not defined"):
        find_aws_credentials({"AWS_PROFILE": "deploy", **NO_IMDS}, tmp_path, never)


def test_a_named_profile_with_only_a_region_has_no_credentials(tmp_path):
    write(tmp_path / ".aws" / "config", "[profile deploy]\nregion = eu-west-1\n")
    with pytest.raises(Missing, match="AWS_PROFILE=deploy: that profile has no credentials"):
        find_aws_credentials({"AWS_PROFILE": "deploy", **NO_IMDS}, tmp_path, never)


def test_web_identity_needs_its_token_file(tmp_path):
    token = write(tmp_path / "token", "eyJ")
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token), "AWS_ROLE_ARN": "arn:aws:iam::1:role/ci", **NO_IMDS}
    assert find_aws_credentials(env, tmp_path, never).source.startswith("web identity")
    env["AWS_WEB_IDENTITY_TOKEN_FILE"] = str(tmp_path / "gone")
    with pytest.raises(Missing, match="does not exist"):
        find_aws_credentials(env, tmp_path, never)


@pytest.mark.parametrize("name", ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"])
def test_container_credentials(tmp_path, name):
    assert find_aws_credentials({name: "/v2/credentials/x", **NO_IMDS}, tmp_path, never).source.startswith("container")


def test_instance_metadata_is_probed_only_when_not_disabled(tmp_path):
    calls = []

    def answering() -> bool:
        calls.append(1)
        return True

    assert find_aws_credentials({}, tmp_path, answering).source == "EC2 instance metadata"
    with pytest.raises(Missing, match="no answer from 169.254.169.254"):
        find_aws_credentials({}, tmp_path, lambda: False)
    with pytest.raises(Missing):
        find_aws_credentials({"AWS_EC2_METADATA_DISABLED": "true"}, tmp_path, answering)
    assert calls == [1]


def test_deploy_also_needs_the_vercel_token(tmp_path):
    keys = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    assert check("plan", "dev", keys, tmp_path, never).startswith("environment")
    with pytest.raises(Missing, match="VERCEL_API_TOKEN is not set"):
        check("deploy", "dev", keys, tmp_path, never)
    assert check("deploy", "dev", {**keys, "VERCEL_API_TOKEN": "v"}, tmp_path, never)
    with pytest.raises(Missing) as both:
        check("deploy", "dev", dict(NO_IMDS), tmp_path, never)
    assert "AWS_ACCESS_KEY_ID" in str(both.value) and "VERCEL_API_TOKEN" in str(both.value)


# ---- through make, with a scrubbed environment --------------------------------------------------

def scrubbed_make(target: str, home: Path, **extra: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true", **extra}
    started = time.monotonic()
    result = subprocess.run(["make", "--no-print-directory", target, "ENV=dev"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    return result, time.monotonic() - started


def test_make_plan_without_credentials_fails_at_once_before_synthesis(tmp_path):
    result, seconds = scrubbed_make("plan", tmp_path)
    assert result.returncode != 0
    assert seconds < 5
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("make plan ENV=dev: no AWS credentials for the S3 state backend: set AWS_ACCESS_KEY_ID")
    assert "AWS_PROFILE" in lines[0]
    # nothing was synthesized or started: the check is the only command that ran
    assert "main.py" not in result.stdout + result.stderr and "cdktf" not in result.stdout


def test_make_deploy_without_the_vercel_token_fails_before_synthesis(tmp_path):
    result, seconds = scrubbed_make("deploy", tmp_path, AWS_ACCESS_KEY_ID="AKIA", AWS_SECRET_ACCESS_KEY="s")
    assert result.returncode != 0 and seconds < 5
    assert result.stderr.startswith("make deploy ENV=dev: VERCEL_API_TOKEN is not set")
    assert "main.py" not in result.stdout + result.stderr


def test_an_unknown_environment_is_named_with_the_known_ones(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(["make", "--no-print-directory", "plan", "ENV=prdo"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert result.stderr.startswith("make plan ENV=prdo: there is no environments/prdo.toml (environments: dev, local,")


def test_the_local_environment_needs_no_aws_credentials():
    from stacks.credentials import state_backend

    assert state_backend("local") == "local"
    assert state_backend("dev") == "s3"
