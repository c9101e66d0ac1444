"""The environment loader: every shipped file loads; each kind of bad file names file, key and expectation."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from stacks.config import ENVIRONMENT_NAMES, ENVIRONMENTS_DIR, ConfigError, load_all, load_env

NO_OVERRIDES: dict[str, str] = {}


def test_every_shipped_environment_loads():
    configs = load_all()
    assert list(configs) == list(ENVIRONMENT_NAMES)
    assert configs["local"].targets_emulator and configs["local"].vercel is None
    assert all(not configs[n].targets_emulator and configs[n].vercel for n in ("dev", "staging", "prod"))
    assert configs["prod"].resource_name("connections") == "realtime-prod-connections"


def test_config_is_frozen():
    cfg = load_env("dev", overrides=NO_OVERRIDES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.region = "us-east-1"  # type: ignore[misc]


@pytest.fixture
def environments(tmp_path: Path) -> Path:
    """A copy of environments/ the test may break."""
    directory = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, directory)
    return directory


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / f"{name}.toml"
    text = path.read_text()
    assert re.search(old, text, flags=re.MULTILINE), f"{old!r} not in {name}.toml"
    path.write_text(re.sub(old, new, text, count=1, flags=re.MULTILINE))


def load_error(directory: Path, name: str, overrides: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as error:
        load_env(name, directory=directory, overrides=NO_OVERRIDES if overrides is None else overrides)
    return str(error.value)


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    pytest.param("dev", r"^global_limit = 2000\n", "",
                 "environments/dev.toml: connections.global_limit: expected an integer >= 1, missing",
                 id="missing-key"),
    pytest.param("dev", r"^per_user_limit = 10$", 'per_user_limit = "ten"',
                 "environments/dev.toml: connections.per_user_limit: expected an integer >= 1, got 'ten'",
                 id="wrong-type"),
    pytest.param("staging", r"^per_user_limit = 10$", "per_user_limit = 0",
                 "environments/staging.toml: connections.per_user_limit: expected an integer >= 1, got 0",
                 id="out-of-range"),
    pytest.param("prod", r'^region = "eu-west-1"$', 'region = "europe-west"',
                 "environments/prod.toml: region: expected an AWS region like 'eu-west-1', got 'europe-west'",
                 id="bad-region"),
    pytest.param("dev", r"^\[connections\]$", "[connections]\nmax_connections = 5",
                 "environments/dev.toml: connections.max_connections: unknown key (expected one of "
                 "global_limit, max_token_age_seconds, per_user_limit)",
                 id="unknown-key"),
    pytest.param("dev", r'"https://dev.brickhub.example"', '"https://dev.brickhub.example/"',
                 "environments/dev.toml: origins.allowed: expected a non-empty list of origins "
                 "'scheme://host[:port]' (no path, no trailing slash), "
                 "got ['https://dev.brickhub.example/', 'http://localhost:3000']",
                 id="bad-origin"),
    pytest.param("local", r"^\[cognito\]$",
                 '[vercel]\nteam_id = "team_x"\n\n[cognito]',
                 "environments/local.toml: vercel: expected no [vercel] table in the emulator environment, got 'a table'",
                 id="vercel-in-local"),
    pytest.param("dev", r'^account_id = "111111111111"$', 'account_id = "1111"',
                 "environments/dev.toml: account_id: expected a 12-digit AWS account id, got '1111'",
                 id="bad-account-id"),
    pytest.param("dev", r'^account_id = "111111111111"\n', "",
                 "environments/dev.toml: account_id: expected a 12-digit AWS account id, missing",
                 id="account-id-required-outside-local"),
    pytest.param("dev", r'^name = "dev"$', 'name = "prod"',
                 "environments/dev.toml: name: expected 'dev' (the file's name), got 'prod'",
                 id="name-mismatch"),
    pytest.param("dev", r"^retention_days = 400$", "retention_days = 100",
                 "environments/dev.toml: logs.retention_days: expected a CloudWatch retention (one of 1, 3, 5",
                 id="bad-retention"),
    pytest.param("dev", r'^backend = "s3"$', 'backend = "local"',
                 "environments/dev.toml: state.backend: expected one of 's3', got 'local'",
                 id="local-state-outside-emulator"),
    pytest.param("dev", r'^token_use = "id"$', 'token_use = "id"\nlocal_user_pool = true',
                 "environments/dev.toml: cognito.local_user_pool: expected false outside the emulator environment, "
                 "got True", id="local-pool-outside-emulator"),
    pytest.param("dev", r'^targets = \["development"\]$', 'targets = ["staging"]',
                 "environments/dev.toml: vercel.targets: expected a non-empty list of Vercel targets "
                 "(production, preview, development), got ['staging']", id="bad-vercel-target"),
    pytest.param("dev", r'^project_name = "brickhub-web"\n', '',
                 "environments/dev.toml: vercel.project_name: expected a Vercel project name (lower-case, digits, "
                 "'.', '_', '-'), missing", id="missing-vercel-project-name"),
    pytest.param("dev", r'^public_prefix = "NEXT_PUBLIC_"$', 'public_prefix = "next_public"',
                 "environments/dev.toml: vercel.public_prefix: expected an upper-case prefix ending in '_', "
                 "got 'next_public'", id="bad-public-prefix"),
    pytest.param("dev", r"^max_bytes = 131072$", "max_bytes = 262144",
                 "environments/dev.toml: messages.max_bytes: expected an integer between 1024 and 131072, got 262144",
                 id="above-api-gateway-frame-limit"),
    pytest.param("dev", r'^notification_email = .*$', 'notification_email = "oncall"',
                 "environments/dev.toml: alarms.notification_email: expected an e-mail address, got 'oncall'",
                 id="bad-email"),
    pytest.param("local", r'^aws_endpoint = "http://127.0.0.1:4566"$', 'aws_endpoint = "http://0.0.0.0:4566"',
                 "environments/local.toml: emulator.aws_endpoint: expected an http://127.0.0.1:<port> URL "
                 "(the emulator is loopback-only), got 'http://0.0.0.0:4566'", id="emulator-not-loopback"),
    pytest.param("dev", r"^allow_missing = false$", 'allow_missing = "no"',
                 "environments/dev.toml: origins.allow_missing: expected true or false, got 'no'",
                 id="bad-boolean"),
])
def test_bad_file_names_file_key_and_expectation(environments, name, old, new, message):
    edit(environments, name, old, new)
    assert load_error(environments, name).startswith(message)


def test_a_table_given_as_a_value(environments):
    edit(environments, "dev", r"^\[alarms\]\n(.|\n)*?(?=\n\[vercel\])", "")
    edit(environments, "dev", r'^account_id = "111111111111"$', 'account_id = "111111111111"\nalarms = 3')
    assert load_error(environments, "dev") == "environments/dev.toml: alarms: expected a table, got 3"


def test_not_valid_toml(environments):
    (environments / "dev.toml").write_text("name = \n")
    assert load_error(environments, "dev").startswith("environments/dev.toml: not valid TOML: ")


def test_missing_file(environments):
    (environments / "staging.toml").unlink()
    assert load_error(environments, "staging") == (
        "environments/staging.toml: file not found (environments are dev, staging, prod, local)")


def test_emulator_endpoints_come_from_the_environment_at_deploy_time(environments):
    overrides = {"REALTIME_LOCAL_AWS_ENDPOINT": "http://127.0.0.1:45123/",
                 "REALTIME_LOCAL_GATEWAY_URL": "http://127.0.0.1:45124"}
    cfg = load_env("local", directory=environments, overrides=overrides)
    assert cfg.emulator.aws_endpoint == "http://127.0.0.1:45123"
    assert cfg.emulator.gateway_url == "http://127.0.0.1:45124"


def test_emulator_override_must_be_loopback(environments):
    message = load_error(environments, "local", {"REALTIME_LOCAL_AWS_ENDPOINT": "http://10.0.0.5:4566"})
    assert message == ("environments/local.toml: emulator.aws_endpoint: expected an http://127.0.0.1:<port> URL "
                       "(the emulator is loopback-only), got 'http://10.0.0.5:4566'")


def test_main_reports_a_bad_environment_and_exits_2(environments, monkeypatch, capsys):
    # GIVEN a broken dev.toml WHEN synthesis starts THEN it stops before building anything
    import main
    import stacks.config

    edit(environments, "dev", r"^per_user_limit = 10$", "per_user_limit = -1")
    monkeypatch.setattr(stacks.config.load_all, "__defaults__", (environments,))
    assert main.main() == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: environments/dev.toml: connections.per_user_limit: expected an integer >= 1, got -1")


# --- Vercel target ownership across environment files (ADR 0001) ----------------------------------

PROJECT_ID = "prj_brickhubweb000000000000"
ALL_KEYS = ("WEBSOCKET_API_ENDPOINT, NEXT_PUBLIC_WEBSOCKET_API_ENDPOINT, WEBSOCKET_REGION, "
            "WEBSOCKET_BROADCAST_QUEUE_URL, AWS_ROLE_ARN")


def load_all_error(directory: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load_all(directory)
    return str(error.value)


def test_shipped_environments_own_one_target_each():
    vercel = {name: cfg.vercel for name, cfg in load_all().items() if cfg.vercel is not None}
    assert {name: v.targets for name, v in vercel.items()} == {
        "dev": ("development",), "staging": ("preview",), "prod": ("production",)}
    subjects = [subject for v in vercel.values() for subject in v.subjects]
    assert len(subjects) == len(set(subjects)) == 3


def test_two_environments_writing_one_target_fail_naming_both_files_and_the_keys(environments):
    # GIVEN dev also claims staging's preview target (the collision issue 13 found)
    edit(environments, "dev", r'^targets = \["development"\]$', 'targets = ["development", "preview"]')
    # WHEN every environment loads THEN one line names both files, every key and the target
    assert load_all_error(environments) == (
        f"environments/dev.toml and environments/staging.toml: vercel.targets: both write {ALL_KEYS} to "
        f"target 'preview' (every git branch) of project {PROJECT_ID}; each target of a project belongs to "
        "one environment (ADR 0001)")


def test_a_different_public_prefix_still_collides_on_the_other_keys(environments):
    edit(environments, "prod", r'^targets = \["production"\]$', 'targets = ["preview"]')
    edit(environments, "prod", r'^public_prefix = "NEXT_PUBLIC_"$', 'public_prefix = "VITE_"')
    assert load_all_error(environments).startswith(
        "environments/staging.toml and environments/prod.toml: vercel.targets: both write WEBSOCKET_API_ENDPOINT, "
        "WEBSOCKET_REGION, WEBSOCKET_BROADCAST_QUEUE_URL, AWS_ROLE_ARN to target 'preview' (every git branch)")


def test_one_subject_trusted_by_two_roles_fails_even_for_another_project_id(environments):
    # GIVEN prod names another project id but the same project name, on staging's target: no
    # variable collides, yet both roles would trust the same preview deployments
    edit(environments, "prod", r'^project_id = "prj_brickhubweb000000000000"$', 'project_id = "prj_other00000"')
    edit(environments, "prod", r'^targets = \["production"\]$', 'targets = ["preview"]')
    assert load_all_error(environments) == (
        "environments/staging.toml and environments/prod.toml: vercel.targets: both roles would trust sub "
        "'owner:brickhub:project:brickhub-web:environment:preview'; each Vercel OIDC subject is trusted by one "
        "environment (ADR 0001)")


def test_the_same_target_of_another_project_is_free(environments):
    edit(environments, "prod", r'^project_id = "prj_brickhubweb000000000000"$', 'project_id = "prj_other00000"')
    edit(environments, "prod", r'^project_name = "brickhub-web"$', 'project_name = "brickhub-admin"')
    edit(environments, "prod", r'^targets = \["production"\]$', 'targets = ["preview", "production"]')
    assert load_all(environments)["prod"].vercel.subjects == (
        "owner:brickhub:project:brickhub-admin:environment:preview",
        "owner:brickhub:project:brickhub-admin:environment:production")


def test_a_target_listed_twice_in_one_file(environments):
    edit(environments, "prod", r'^targets = \["production"\]$', 'targets = ["production", "production"]')
    assert load_error(environments, "prod") == (
        "environments/prod.toml: vercel.targets: expected a list of distinct Vercel targets (production, preview, "
        "development), got ['production', 'production']")


def test_main_reports_an_ownership_conflict_in_one_line_and_exits_2(environments, monkeypatch, capsys):
    import main
    import stacks.config

    edit(environments, "prod", r'^targets = \["production"\]$', 'targets = ["production", "development"]')
    monkeypatch.setattr(stacks.config.load_all, "__defaults__", (environments,))
    assert main.main() == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: environments/dev.toml and environments/prod.toml: vercel.targets: both write ")
