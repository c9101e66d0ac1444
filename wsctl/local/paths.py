"""Where the local stack keeps its files (all under the git-ignored ``.local/``)."""

from __future__ import annotations

from wsctl.targets import ENDPOINTS_FILE, LOCAL_DIR, OUTPUTS_FILE, REPO_ROOT

STACK_NAME = "realtime-local"
SYNTH_DIR = LOCAL_DIR / "cdktf.out"
STACK_DIR = SYNTH_DIR / "stacks" / STACK_NAME
TERRAFORM_DIR = LOCAL_DIR / "terraform"
TF_DATA_DIR = TERRAFORM_DIR / "data"
TF_PLUGIN_CACHE = TERRAFORM_DIR / "plugin-cache"
SNAPSHOT_FILE = LOCAL_DIR / "moto-snapshot.pickle"
SNAPSHOT_META = LOCAL_DIR / "moto-snapshot.json"
SYNTH_META = LOCAL_DIR / "synth.json"
PID_FILE = LOCAL_DIR / "local-up.pid"
LOG_DIR = LOCAL_DIR / "logs"
CODE_CACHE = LOCAL_DIR / "code"
# The web app reads the repo's .env.local; a second stack (REALTIME_LOCAL_DIR) keeps its own.
ENV_FILE = REPO_ROOT / ".env.local" if LOCAL_DIR == (REPO_ROOT / ".local").resolve() else LOCAL_DIR / ".env.local"
#: The terraform state: the local env's path, moved along when REALTIME_LOCAL_DIR is set.
STATE_FILE = LOCAL_DIR / "terraform" / "realtime-local.tfstate"
TF_CLI_CONFIG = REPO_ROOT / ".tfcli" / "terraform.rc"

__all__ = ["CODE_CACHE", "ENDPOINTS_FILE", "ENV_FILE", "LOCAL_DIR", "LOG_DIR", "OUTPUTS_FILE", "PID_FILE",
           "REPO_ROOT", "SNAPSHOT_FILE", "SNAPSHOT_META", "STACK_DIR", "STATE_FILE", "STACK_NAME", "SYNTH_DIR", "SYNTH_META",
           "TERRAFORM_DIR", "TF_CLI_CONFIG", "TF_DATA_DIR", "TF_PLUGIN_CACHE"]
