"""Session fixtures shared by every test package. Add fixtures; never remove another part's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _has_stacks(outdir: Path) -> bool:
    return (outdir / "stacks").is_dir() and any((outdir / "stacks").glob("*/cdk.tf.json"))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cdktf.out directory holding every stack, synthesized once per session.

    ``REALTIME_SYNTH_DIR`` (set by ``make test`` after its own ``make synth``) is reused when it holds
    stacks; otherwise ``python main.py`` runs once into a temporary outdir (~10 s).
    """
    given = os.environ.get("REALTIME_SYNTH_DIR")
    if given and _has_stacks(Path(given)):
        return Path(given)
    outdir = tmp_path_factory.mktemp("cdktf") / "cdktf.out"
    env = {**os.environ, "REALTIME_SYNTH_OUT": str(outdir),
           "JSII_RUNTIME_PACKAGE_CACHE_ROOT": os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT",
                                                             str(REPO_ROOT / ".cache" / "jsii")),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("CDKTF_OUTDIR", None)
    result = subprocess.run([sys.executable, "main.py"], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, f"synthesis failed:\n{result.stderr[-4000:]}"
    return outdir


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto server on 127.0.0.1 for one test module (``http://127.0.0.1:<port>``): for code that
    talks to an AWS endpoint URL, as the local stack's clients do, rather than to in-process moto."""
    from moto.server import ThreadedMotoServer

    from wsctl.local.up import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def fresh_aws_session():
    """A new botocore session for each test's clients. ``realtime.adapters.aws.session`` lives as long as
    the process (an execution environment); moto resets boto3's default session per mock for the same
    reason: a client must not carry an earlier test's credentials, or miss the mock a later one starts."""
    from realtime.adapters.aws import session

    session.cache_clear()
    yield
    session.cache_clear()
