"""stacks.provider_bindings: the provider package imported without its eager submodule block still
offers every submodule, and synthesis writes exactly what the eager import writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.stacks.synthesized import normalised
from tests.stacks.test_cdktf_cli import STACKS

PROBE = """
import json, sys
from stacks.provider_bindings import import_lazily, PACKAGE
import_lazily()
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
import cdktf_cdktf_provider_aws as provider
loaded_before = sorted(n for n in sys.modules if n.startswith(PACKAGE + ".") and n.count(".") == 1 and not n.startswith(PACKAGE + "._"))
via_attribute = provider.lambda_function.LambdaFunction.__name__
try:
    provider.no_such_resource
    missing = "no error"
except AttributeError as error:
    missing = str(error)
import_lazily()  # a second call changes nothing
print(json.dumps({"loaded": loaded_before, "attribute": via_attribute, "missing": missing,
                  "listed": len(provider.__all__), "queue": SqsQueue.__name__}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "JSII_RUNTIME_PACKAGE_CACHE_ROOT": os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT",
                                                              str(REPO_ROOT / ".cache" / "jsii"))}


def test_submodules_load_on_first_use_only():
    # GIVEN a fresh interpreter (pytest's own may have imported the package eagerly)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=_env(), capture_output=True,
                            text=True, timeout=180, check=False)

    assert result.returncode == 0, result.stderr[-2000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    # THEN only what was imported by name is loaded, the rest is still reachable
    assert probe["loaded"] == ["cdktf_cdktf_provider_aws.sqs_queue"]
    assert probe["queue"] == "SqsQueue" and probe["attribute"] == "LambdaFunction"
    assert probe["listed"] > 2000 and "no_such_resource" in probe["missing"]


@pytest.mark.slow
def test_synthesis_is_byte_identical_to_the_eager_import(tmp_path: Path, synth_dir: Path):
    # GIVEN main.py run after an eager `import cdktf_cdktf_provider_aws` (import_lazily then does nothing)
    env = {**_env(), "REALTIME_SYNTH_OUT": str(tmp_path / "eager.out")}
    env.pop("CDKTF_OUTDIR", None)
    eager = ("import runpy, sys, cdktf_cdktf_provider_aws; sys.argv = ['main.py']; "
             "runpy.run_path('main.py', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", eager], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300, check=False)

    # THEN every stack is the one the (lazy) main.py wrote, assets included
    assert result.returncode == 0, result.stderr[-2000:]
    for name in sorted(STACKS):
        eager_dir, lazy_dir = tmp_path / "eager.out" / "stacks" / name, synth_dir / "stacks" / name
        assert normalised(eager_dir / "cdk.tf.json") == normalised(lazy_dir / "cdk.tf.json"), name
        assets = sorted(p.relative_to(eager_dir) for p in eager_dir.rglob("*.zip"))
        assert assets == sorted(p.relative_to(lazy_dir) for p in lazy_dir.rglob("*.zip")), name
        assert all((eager_dir / a).read_bytes() == (lazy_dir / a).read_bytes() for a in assets), name
