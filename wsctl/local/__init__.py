"""`wsctl local …`: the whole backend on an embedded AWS (moto) behind a local WebSocket gateway."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    local = subparsers.add_parser("local", help="run the stack on an embedded AWS with a real ws:// endpoint")
    commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="emulator + terraform apply + gateway; prints READY {json}")
    up.add_argument("--port", type=int, help="gateway port (default: the local env's, else a free one)")
    up.add_argument("--aws-port", type=int, help="emulator port (default: the local env's, else a free one)")
    up.add_argument("--dashboard-port", type=int,
                    help="demo dashboard port (default 5173, an allowed origin; else 3000, else a free one)")
    up.add_argument("--fresh", action="store_true", help="start empty: ignore the saved emulator (cold start, full terraform apply)")
    up.set_defaults(func=_run_up)

    down = commands.add_parser("down", help="stop a running `wsctl local up` (drained and saved for the next start)")
    # the stop drains the broadcast queue (up to 15 s) and snapshots the emulator before it exits
    down.add_argument("--timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    down.set_defaults(func=_run_down)

    token = commands.add_parser("token", help="create a local user if needed and print its token (last line)")
    token.add_argument("--user", required=True, help="user name in the local pool")
    token.set_defaults(func=_run_token)


def _run_up(args: argparse.Namespace) -> int:
    from wsctl.local.up import up

    return up(args)


def _run_down(args: argparse.Namespace) -> int:
    from wsctl.local.up import down

    return down(args)


def _run_token(args: argparse.Namespace) -> int:
    from wsctl.local.token import print_token

    return print_token(args.user)
