"""Where synthesis writes (and ``stacks.validate`` reads): no cdktf import, so reading it costs nothing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# cdktf's own variable (set by `cdktf synth`), then ours, then cdktf's default.
OUTDIR_VARIABLES = ("CDKTF_OUTDIR", "REALTIME_SYNTH_OUT")
DEFAULT_OUTDIR = "cdktf.out"


def resolve_outdir(environ: Mapping[str, str] = os.environ) -> Path:
    for variable in OUTDIR_VARIABLES:
        if environ.get(variable):
            return Path(environ[variable]).resolve()
    return Path(DEFAULT_OUTDIR).resolve()
