"""Entry point of `wsctl`. Each command family lives in its own module with a `register(subparsers)`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wsctl.errors import WsctlError

# Modules that add sub-commands; each defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = ("wsctl.local", "wsctl.broadcast", "wsctl.ops", "wsctl.notifications")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="wsctl", description="Local stack and operations for the realtime WebSocket backend.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WsctlError as error:
        print(f"wsctl: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
