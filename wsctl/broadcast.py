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
from wsctl.targets import KNOWN_ENVS, resolve


def allowed_kinds() -> tuple[str, ...]:
    from realtime import messages

    return typing.get_args(messages.NotificationKind)


def build_request(users: list[str] | None, everyone: bool, kind: str, title: str, body: str | None) -> dict:
    from pydantic import ValidationError
    from realtime import messages

    if kind not in allowed_kinds():
        raise WsctlError(f"unknown kind {kind!r} (expected one of {', '.join(allowed_kinds())})")
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

    document = build_request(args.user, args.all, args.kind, args.title, args.body)
    target = resolve(args.env)
    queue_url = target.output("broadcast_queue_url")
    try:
        sent = target.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(document))
    except botocore.exceptions.EndpointConnectionError:
        raise WsctlError(f"cannot reach the {args.env} queue (is the stack running?)") from None
    except botocore.exceptions.ClientError as error:
        raise WsctlError(f"cannot enqueue on {queue_url}: {error.response['Error'].get('Message')}") from None
    audience = "all connections" if args.all else f"{len(args.user)} user(s)"
    print(f"enqueued broadcast {document['id']} ({args.kind}) for {audience}: message {sent['MessageId']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("broadcast", help="enqueue a notification for users or everyone")
    parser.add_argument("--env", required=True, choices=KNOWN_ENVS)
    audience = parser.add_mutually_exclusive_group(required=True)
    audience.add_argument("--user", action="extend", nargs="+", metavar="ID",
                          help="userId (Cognito sub); repeatable")
    audience.add_argument("--all", action="store_true", help="every open connection")
    parser.add_argument("--kind", required=True, help="notification kind (the runtime's NotificationKind)")
    parser.add_argument("--title", required=True)
    parser.add_argument("--body")
    parser.set_defaults(func=run)
