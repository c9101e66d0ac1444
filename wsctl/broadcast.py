"""`wsctl broadcast`: enqueue a broadcast request exactly as the web app's server (Vercel) does.

The request is built and validated by the runtime's own models (``realtime.messages``), so the
kinds accepted here are the kinds the broadcast function accepts.
"""

from __future__ import annotations

import argparse
import json
import typing
import uuid

import wsctl.ops_core  # noqa: F401 - puts lambda_src (the runtime's message models) on sys.path
from wsctl.errors import WsctlError
from wsctl.targets import KNOWN_ENVS, Target, resolve


def allowed_kinds() -> tuple[str, ...]:
    from realtime import messages

    return typing.get_args(messages.NotificationKind)


def check_kind(kind: str) -> None:
    if kind not in allowed_kinds():
        raise WsctlError(f"unknown kind {kind!r} (expected one of {', '.join(allowed_kinds())})")


def build_request(users: list[str] | None, everyone: bool, kind: str, title: str, body: str | None) -> dict:
    from pydantic import ValidationError
    from realtime import messages

    check_kind(kind)
    notification = {"kind": kind, "title": title, **({"body": body} if body is not None else {})}
    document = {"id": f"wsctl-{uuid.uuid4()}", "target": {"all": True} if everyone else {"userIds": users},
                "notification": notification}
    try:
        messages.BroadcastRequest.model_validate_json(json.dumps(document))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise WsctlError(f"invalid broadcast request: {where}: {first['msg']}") from None
    return document


def run(args: argparse.Namespace) -> int:
    import botocore.exceptions

    check_kind(args.kind)  # bad input fails before any AWS call
    target = resolve(args.env)
    users = args.user
    if users and target.is_local:
        from wsctl.local.token import local_user_ids

        users = local_user_ids(users, target)
    document = build_request(users, args.all, args.kind, args.title, args.body)
    queue_url = target.output("broadcast_queue_url")
    try:
        sent = target.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(document))
    except botocore.exceptions.EndpointConnectionError:
        raise WsctlError(f"cannot reach the {args.env} queue (is the stack running?)") from None
    except botocore.exceptions.ClientError as error:
        raise WsctlError(f"cannot enqueue on {queue_url}: {error.response['Error'].get('Message')}") from None
    audience = "all connections" if args.all else f"{len(users)} user(s)"
    print(f"enqueued broadcast {document['id']} ({args.kind}) for {audience}: message {sent['MessageId']}")
    print(open_connections(target, None if args.all else users))
    return 0


def open_connections(target: Target, users: list[str] | None) -> str:
    """How many open connections the broadcast can reach right now (all of them for ``None``), from
    the connection table; a caller who cannot read it is told so, and the command still succeeds."""
    from botocore.exceptions import BotoCoreError, ClientError

    from wsctl.ops_core import ConnectionTable, DomainError

    try:
        table = ConnectionTable(target.client("dynamodb"), target.output("connections_table_name"))
        count = table.count() if users is None else sum(table.count(user_id) for user_id in users)
    except ClientError as error:
        return f"open connections: not counted (cannot read the connection table: {error.response['Error'].get('Code')})"
    except (BotoCoreError, DomainError, WsctlError) as error:
        return f"open connections: not counted (cannot read the connection table: {type(error).__name__}: {error})"
    if count:
        return f"open connections {'in total' if users is None else 'of the target'}: {count}"
    who = "nobody is connected" if users is None else f"{'this user has' if len(users) == 1 else 'these users have'} none"
    return (f"open connections: 0 ({who}); nobody receives it live now — it is kept in the notification log "
            "for tabs that resume within the retention window (ADR 0016)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("broadcast", help="enqueue a notification for users or everyone")
    parser.add_argument("--env", required=True, choices=KNOWN_ENVS)
    audience = parser.add_mutually_exclusive_group(required=True)
    audience.add_argument("--user", action="extend", nargs="+", metavar="ID",
                          help="userId (Cognito sub); with --env local also a local user name; repeatable")
    audience.add_argument("--all", action="store_true", help="every open connection")
    parser.add_argument("--kind", required=True, help="notification kind (the runtime's NotificationKind)")
    parser.add_argument("--title", required=True)
    parser.add_argument("--body")
    parser.set_defaults(func=run)
