"""``realtime-vercel-<env>``: one variable per key and target, values by reference, no token anywhere."""

from __future__ import annotations

import json

import pytest

from stacks.config import ENVIRONMENT_NAMES, load_env
from tests.stacks.synthesized import REMOTE_OUTPUT, Synthesized

VERCEL_ENVS = [name for name in ENVIRONMENT_NAMES if load_env(name).vercel is not None]


def test_every_environment_but_local_has_a_vercel_stack(synth_dir):
    names = {p.name for p in (synth_dir / "stacks").iterdir() if p.name.startswith("realtime-vercel-")}
    assert names == {f"realtime-vercel-{env}" for env in VERCEL_ENVS} == {
        "realtime-vercel-dev", "realtime-vercel-staging", "realtime-vercel-prod"}


@pytest.mark.parametrize("env_name", VERCEL_ENVS)
def test_one_variable_per_key_and_target(synth_dir, env_name):
    cfg = load_env(env_name)
    stack = Synthesized.load(synth_dir, f"realtime-vercel-{env_name}")
    variables = list(stack.resources("vercel_project_environment_variable").values())
    keys = {"WEBSOCKET_API_ENDPOINT", f"{cfg.vercel.public_prefix}WEBSOCKET_API_ENDPOINT", "WEBSOCKET_REGION",
            "WEBSOCKET_BROADCAST_QUEUE_URL", "AWS_ROLE_ARN"}
    assert sorted((v["key"], tuple(v["target"])) for v in variables) == sorted(
        (key, (target,)) for key in keys for target in cfg.vercel.targets)
    for variable in variables:
        assert variable["project_id"] == cfg.vercel.project_id
        assert variable["team_id"] == cfg.vercel.team_id
        if variable["key"] == "WEBSOCKET_REGION":
            assert variable["value"] == cfg.region
        else:
            # Cross-stack reference to realtime-<env>'s outputs through remote state.
            assert variable["value"].startswith("${data.terraform_remote_state."), variable


@pytest.mark.parametrize("env_name", VERCEL_ENVS)
def test_provider_pinned_state_remote_and_no_token(synth_dir, env_name):
    cfg = load_env(env_name)
    stack = Synthesized.load(synth_dir, f"realtime-vercel-{env_name}")
    terraform = stack.document["terraform"]
    assert terraform["required_providers"]["vercel"]["source"] == "vercel/vercel"
    assert terraform["required_providers"]["vercel"]["version"].count(".") == 2  # exact version
    assert stack.document["provider"]["vercel"] == [{"team": cfg.vercel.team_id}]
    assert terraform["backend"]["s3"]["use_lockfile"] is True
    assert terraform["backend"]["s3"]["key"] != cfg.state.key
    (remote,) = stack.document["data"]["terraform_remote_state"].values()
    assert remote["backend"] == "s3" and remote["config"]["key"] == cfg.state.key
    text = json.dumps(stack.document).lower()
    assert "api_token" not in text and "vercel_api_token" not in text


def test_aws_stacks_export_what_vercel_reads(synth_dir):
    """The producer side of the cross-stack reference: the AWS stack outputs the referenced values."""
    for env_name in VERCEL_ENVS:
        vercel = Synthesized.load(synth_dir, f"realtime-vercel-{env_name}")
        aws = Synthesized.load(synth_dir, f"realtime-{env_name}")
        referenced = {name for v in vercel.resources("vercel_project_environment_variable").values()
                      for name in REMOTE_OUTPUT.findall(v["value"])}
        assert len(referenced) == 3 and referenced <= set(aws.document["output"])


def test_no_two_stacks_write_one_vercel_variable_or_trust_one_subject(synth_dir):
    """ADR 0001 in the synthesized JSON, across every environment (config.check_vercel_ownership
    refuses such files; this holds the stacks to the same rule the check models)."""
    variables = [(stack_name, v["project_id"], v["key"], target, v.get("git_branch"))
                 for stack_name in (f"realtime-vercel-{env}" for env in VERCEL_ENVS)
                 for v in Synthesized.load(synth_dir, stack_name).resources("vercel_project_environment_variable").values()
                 for target in v["target"]]
    claims = [claim[1:] for claim in variables]
    assert len(claims) == len(set(claims)) == 5 * len(VERCEL_ENVS)
    assert all(git_branch is None for *_, git_branch in claims)  # each covers every branch of its target
    subjects = []
    for env_name in VERCEL_ENVS:
        aws = Synthesized.load(synth_dir, f"realtime-{env_name}")
        for role in aws.resources("aws_iam_role").values():
            for statement in json.loads(role["assume_role_policy"])["Statement"]:
                for key, value in statement.get("Condition", {}).get("StringEquals", {}).items():
                    if key.endswith(":sub"):
                        subjects.extend([value] if isinstance(value, str) else value)
    assert sorted(subjects) == sorted(s for env in VERCEL_ENVS for s in load_env(env).vercel.subjects)
    assert len(subjects) == len(set(subjects))
