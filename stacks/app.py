"""Builds the one cdktf App holding every stack: ``realtime-<env>`` for dev, staging, prod and local,
and ``realtime-vercel-<env>`` for every environment with a Vercel project."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cdktf import App

from stacks.aws_stack import RealtimeAwsStack
from stacks.config import EnvConfig, load_all
from stacks.packaging import LambdaArtifacts, build_artifacts
from stacks.vercel_stack import RealtimeVercelStack

# cdktf's own variable (set by `cdktf synth`), then ours, then cdktf's default.
OUTDIR_VARIABLES = ("CDKTF_OUTDIR", "REALTIME_SYNTH_OUT")
DEFAULT_OUTDIR = "cdktf.out"


def resolve_outdir(environ: Mapping[str, str] = os.environ) -> Path:
    for variable in OUTDIR_VARIABLES:
        if environ.get(variable):
            return Path(environ[variable]).resolve()
    return Path(DEFAULT_OUTDIR).resolve()


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
