"""cdktf app entry point (``cdktf.json``: ``"app": "python main.py"``).

One process synthesizes every stack into ``<outdir>/stacks/<name>/cdk.tf.json``; the outdir is
``$CDKTF_OUTDIR`` (set by ``cdktf synth``), else ``$REALTIME_SYNTH_OUT``, else ``cdktf.out``.
A bad environment file stops synthesis with the file, the key and what was expected.
"""

from __future__ import annotations

import sys

from stacks.config import ConfigError, load_all


def main() -> int:
    try:
        # Validated before the provider bindings are imported (seconds): a typo fails in milliseconds.
        configs = load_all()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from stacks.app import build_app  # imports the provider bindings lazily (stacks/provider_bindings.py)

    build_app(configs=configs).synth()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
