"""`cdktf synth` (the project-local cdktf-cli 0.21.0) produces the same stacks as `python main.py`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.stacks.synthesized import normalised

STACKS = {"realtime-dev", "realtime-staging", "realtime-prod", "realtime-local",
          "realtime-vercel-dev", "realtime-vercel-staging", "realtime-vercel-prod"}


@pytest.mark.slow
def test_cdktf_synth_matches_main_py(tmp_path: Path, synth_dir: Path) -> None:
    # GIVEN the project-local CLI, with the venv's python first on PATH (cdktf.json runs `python main.py`)
    cli = REPO_ROOT / "node_modules" / ".bin" / "cdktf"
    assert cli.exists(), "node_modules/.bin/cdktf is missing: run `make setup`"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "JSII_RUNTIME_PACKAGE_CACHE_ROOT": os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT",
                                                             str(REPO_ROOT / ".cache" / "jsii"))}
    for inherited in ("CDKTF_OUTDIR", "REALTIME_SYNTH_OUT"):
        env.pop(inherited, None)
    outdir = tmp_path / "cli.out"

    # WHEN cdktf synth runs
    result = subprocess.run([str(cli), "synth", "--output", str(outdir)], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)

    # THEN it writes every stack, each identical to the one main.py wrote
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    written = {path.parent.name for path in (outdir / "stacks").glob("*/cdk.tf.json")}
    assert written == STACKS
    for name in sorted(STACKS):
        assert normalised(outdir / "stacks" / name / "cdk.tf.json") == \
            normalised(synth_dir / "stacks" / name / "cdk.tf.json"), name
