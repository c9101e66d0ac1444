"""Builds the one cdktf App holding every stack: ``realtime-<env>`` for dev, staging, prod and local,
and ``realtime-vercel-<env>`` for every environment with a Vercel project."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from stacks.provider_bindings import import_lazily

# Before the first provider import below: whoever builds the app (main.py, the tests) skips loading
# all 2,135 provider submodules (stacks/provider_bindings.py).
import_lazily()

from cdktf import App  # noqa: E402

from stacks.aws_stack import RealtimeAwsStack  # noqa: E402
from stacks.config import EnvConfig, load_all  # noqa: E402
from stacks.outdir import resolve_outdir  # noqa: E402
from stacks.packaging import LambdaArtifacts, build_artifacts  # noqa: E402
from stacks.vercel_stack import RealtimeVercelStack  # noqa: E402


def build_app(outdir: Path | None = None, configs: Mapping[str, EnvConfig] | None = None,
              artifacts: LambdaArtifacts | None = None) -> App:
    outdir = outdir or resolve_outdir()
    configs = configs if configs is not None else load_all()
    artifacts = artifacts or build_artifacts()
    app = App(outdir=str(outdir))
    for cfg in configs.values():
        stack = RealtimeAwsStack(app, cfg, artifacts, stack_dir=outdir / "stacks" / cfg.stack_name)
        if cfg.vercel is not None:
            RealtimeVercelStack(app, cfg, stack)
    return app
