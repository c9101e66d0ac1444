"""Resolve `--env ENV` to a deployed stack: its outputs, region and AWS clients.

`local` reads what `wsctl local up` wrote under `.local/`; dev/staging/prod read the stack's
terraform outputs (`terraform output -json` in `cdktf.out/stacks/realtime-<env>`, which needs the
caller's AWS credentials for the S3 state backend). Every failure is one `WsctlError` line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from wsctl.errors import WsctlError

REPO_ROOT = Path(__file__).resolve().parent.parent
# REALTIME_LOCAL_DIR lets a second local stack (the e2e tests') run beside a developer's `make local`.
LOCAL_DIR = Path(os.environ.get("REALTIME_LOCAL_DIR") or REPO_ROOT / ".local").resolve()
ENDPOINTS_FILE = LOCAL_DIR / "endpoints.json"
OUTPUTS_FILE = LOCAL_DIR / "outputs.json"
KNOWN_ENVS = ("dev", "staging", "prod", "local")
_CLIENTS_LOCK = threading.Lock()
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # noqa: S105 - moto's fixed dummy keys


@dataclass(frozen=True)
class Target:
    """One deployed environment as the CLI sees it."""

    env: str
    region: str
    outputs: dict[str, Any]
    #: moto's endpoint for `local`; None for real AWS.
    aws_endpoint: str | None = None

    def output(self, name: str) -> Any:
        try:
            return self.outputs[name]
        except KeyError:
            raise WsctlError(f"stack realtime-{self.env} has no output {name!r}; redeploy it") from None

    @property
    def is_local(self) -> bool:
        return self.aws_endpoint is not None

    @cached_property
    def session(self):
        import boto3

        if self.is_local:
            return boto3.session.Session(region_name=self.region, **LOCAL_CREDENTIALS)
        session = boto3.session.Session(region_name=self.region)
        if session.get_credentials() is None:
            raise WsctlError(f"no AWS credentials for {self.env}: configure a profile or AWS_* variables")
        return session

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    def client(self, service: str):
        """One client per service and target (a client is thread-safe, a boto3 session is not: the
        local dashboard signs users in from several threads)."""
        with _CLIENTS_LOCK:
            if service not in self._clients:
                endpoint = (self.output("connections_endpoint") if service == "apigatewaymanagementapi"
                            else self.aws_endpoint)
                self._clients[service] = self.session.client(service, endpoint_url=endpoint)
            return self._clients[service]


def resolve(env: str) -> Target:
    if env not in KNOWN_ENVS:
        raise WsctlError(f"unknown env {env!r} (expected one of {', '.join(KNOWN_ENVS)})")
    if env == "local":
        return _resolve_local()
    return _resolve_deployed(env)


def _resolve_local() -> Target:
    if not ENDPOINTS_FILE.is_file() or not OUTPUTS_FILE.is_file():
        raise WsctlError("nothing running: start the local stack with `make local` (wsctl local up)")
    endpoints = json.loads(ENDPOINTS_FILE.read_text())
    outputs = json.loads(OUTPUTS_FILE.read_text())
    return Target(env="local", region=endpoints["region"], outputs=outputs, aws_endpoint=endpoints["aws_endpoint"])


def _resolve_deployed(env: str) -> Target:
    stack_dir = REPO_ROOT / "cdktf.out" / "stacks" / f"realtime-{env}"
    if not (stack_dir / "cdk.tf.json").is_file():
        raise WsctlError(f"stack realtime-{env} is not synthesized: run `make synth`")
    terraform = shutil.which("terraform")
    if terraform is None:
        raise WsctlError("terraform is missing from PATH")
    run_env = dict(os.environ, TF_IN_AUTOMATION="1")
    # `make validate` inits without a backend; only a backend init records .terraform/terraform.tfstate.
    if not (stack_dir / ".terraform" / "terraform.tfstate").is_file():
        init = subprocess.run([terraform, "init", "-input=false", "-no-color"], cwd=stack_dir, env=run_env,  # noqa: S603 - fixed argv
                              capture_output=True, text=True)
        if init.returncode != 0:
            raise WsctlError(f"cannot read the state of realtime-{env} (terraform init failed: "
                             f"{_last_line(init.stderr)}); are AWS credentials set?")
    result = subprocess.run([terraform, "output", "-json", "-no-color"], cwd=stack_dir, env=run_env,  # noqa: S603 - fixed argv
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise WsctlError(f"cannot read outputs of realtime-{env}: {_last_line(result.stderr)}")
    raw = json.loads(result.stdout or "{}")
    if not raw:
        raise WsctlError(f"stack realtime-{env} is not deployed (no outputs): run `make deploy ENV={env}`")
    outputs = {name: item.get("value") for name, item in raw.items()}
    return Target(env=env, region=outputs.get("region") or "", outputs=outputs)


def _last_line(text: str) -> str:
    """Terraform's `Error: …` headline if there is one (its last lines are generic advice)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return errors[0] if errors else (lines[-1] if lines else "no output")
