"""Operations commands for on-call: `wsctl connections …`, `wsctl dlq redrive`, `wsctl status`.

Each resolves `--env` to the deployed stack's outputs (`wsctl.targets`), does its work through
`wsctl.ops_core` and prints results on stdout, progress on stderr. AWS failures become one
`wsctl: …` line and exit status 1. The runbooks under runbooks/ call exactly these forms
(tests/runbooks/test_runbook_lint.py parses every one of them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from wsctl import ops_core
from wsctl.errors import WsctlError
from wsctl.ops_core import DeliveryFailed, DomainError, StoreUnavailable, Throttled
from wsctl.targets import Target, resolve

NOT_DEPLOYED_CODES = frozenset({"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
                                "QueueDoesNotExist", "NotFoundException"})
BAD_CREDENTIALS_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException",
                                   "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


def register(subparsers: argparse._SubParsersAction) -> None:
    connections = subparsers.add_parser("connections", help="inspect and repair open WebSocket connections")
    verbs = connections.add_subparsers(dest="verb", required=True, metavar="VERB")

    count = verbs.add_parser("count", help="number of open connections (connection rows)")
    _env(count)
    count.add_argument("--user", metavar="ID", help="only this user's connections (Cognito sub)")
    count.set_defaults(func=cmd_count)

    listing = verbs.add_parser("list", help="open connections with user, connect time and token expiry")
    _env(listing)
    listing.add_argument("--user", metavar="ID", help="only this user's connections (Cognito sub)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)

    kick = verbs.add_parser("kick", help="notify, close and forget connections (the client must sign in again)")
    _env(kick)
    who = kick.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="every connection of this user")
    who.add_argument("--connection", metavar="ID", help="one connection id")
    kick.add_argument("--message", default=ops_core.KICK_MESSAGE, help="text of the error frame sent first")
    kick.set_defaults(func=cmd_kick)

    purge = verbs.add_parser("purge-stale", help="probe every row with GetConnection; remove rows of gone connections")
    _env(purge)
    purge.add_argument("--dry-run", action="store_true", help="report gone connections, change nothing")
    purge.add_argument("--concurrency", type=_positive_int, default=8, metavar="N",
                       help="parallel GetConnection probes (default 8)")
    purge.set_defaults(func=cmd_purge_stale)

    dlq = subparsers.add_parser("dlq", help="the broadcast dead-letter queue")
    dlq_verbs = dlq.add_subparsers(dest="verb", required=True, metavar="VERB")
    redrive = dlq_verbs.add_parser("redrive", help="move every DLQ message back to the broadcast queue")
    _env(redrive)
    redrive.add_argument("--method", choices=("auto", "move-task", "manual"), default="auto",
                         help="move-task: SQS StartMessageMoveTask; manual: receive/send/delete; "
                              "auto (default): move-task, manual where SQS lacks it")
    redrive.add_argument("--max-per-second", type=_positive_int, metavar="N",
                         help="rate limit of the move task (default: SQS's own)")
    redrive.set_defaults(func=cmd_dlq_redrive)

    status = subparsers.add_parser("status", help="alarm states, active connections and queue depths")
    _env(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)


def _env(parser: argparse.ArgumentParser) -> None:
    # Not `choices=`: an unknown env must be one `wsctl:` line, which resolve() gives.
    parser.add_argument("--env", required=True, metavar="ENV", help="dev, staging, prod or local")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


# --------------------------------------------------------------------------------------------
# commands


def cmd_count(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    with aws_errors(target):
        table = _table(target)
        rows = table.count(args.user)
        print(rows)
        if args.user is None:
            counter = table.counter()
            if counter != rows:
                print(f"note: the #counter item says {counter}; the sweeper reconciles it within a minute",
                      file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    with aws_errors(target):
        rows = sorted(_table(target).rows(args.user), key=lambda row: (row.user_id, row.connected_at or 0))
    if args.json:
        for row in rows:
            print(json.dumps({"connectionId": row.connection_id, "userId": row.user_id,
                              "connectedAt": row.connected_at, "tokenExpiresAt": row.token_expires_at}))
        return 0
    print(f"{'CONNECTION ID':<20} {'USER ID':<38} {'CONNECTED AT':<20} TOKEN EXPIRES AT")
    for row in rows:
        print(f"{row.connection_id:<20} {row.user_id:<38} {_when(row.connected_at):<20} {_when(row.token_expires_at)}")
    print(f"{len(rows)} connection(s)", file=sys.stderr)
    return 0


def cmd_kick(args: argparse.Namespace) -> int:
    if args.connection and args.connection.startswith(ops_core.META_PREFIX):
        raise WsctlError(f"{args.connection!r} is a meta item of the connection table, not a connection id")
    target = resolve(args.env)
    with aws_errors(target):
        table = _table(target)
        ids = table.connection_ids(args.user) if args.user else [args.connection]
        if not ids:
            print(f"user {args.user} has no open connections")
            return 0
        progress = ops_core.Progress("kicked", total=len(ids))
        report = ops_core.kick(table, _connections_api(target), ids, message=args.message, progress=progress)
    # API Gateway runs $disconnect on close, which usually deletes the row before we get to it.
    print(f"kicked {report.connections} connection(s): {report.closed} closed, {report.already_gone} already gone; "
          f"rows: {report.rows_removed} deleted by wsctl, {report.connections - report.rows_removed} already deleted")
    return 0


def cmd_purge_stale(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    with aws_errors(target):
        progress = ops_core.Progress("probed")
        report = ops_core.purge_stale(_table(target), _connections_api(target), dry_run=args.dry_run,
                                      concurrency=args.concurrency, progress=progress)
    if args.dry_run:
        for connection_id in report.gone_ids:
            print(connection_id)
        print(f"dry run: {report.gone} of {report.probed} connection(s) are gone; nothing removed", file=sys.stderr)
    else:
        print(f"probed {report.probed} connection(s): {report.gone} gone, {report.rows_removed} row(s) removed")
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    dlq_url, queue_url = target.output("broadcast_dlq_url"), target.output("broadcast_queue_url")
    with aws_errors(target):
        sqs = target.client("sqs")
        # One attempt only for the StartMessageMoveTask probe: an emulator without it answers 500,
        # which the default retry policy would repeat for seconds before the fallback.
        probe = target.session.client("sqs", endpoint_url=target.aws_endpoint,
                                      config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        progress = ops_core.Progress("moved")
        try:
            report = ops_core.redrive(sqs, dlq_url, queue_url, method=args.method, progress=progress,
                                      probe_sqs=probe, max_rate=args.max_per_second)
        except RuntimeError as error:
            raise WsctlError(f"redrive stopped: {error}") from None
    print(f"moved {report.moved} message(s) from {_queue_name(dlq_url)} to {_queue_name(queue_url)} ({report.method})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    with aws_errors(target):
        report = ops_core.status(target.env, _table(target), target.client("sqs"), target.client("cloudwatch"),
                                 {"broadcast": target.output("broadcast_queue_url"),
                                  "broadcast-dlq": target.output("broadcast_dlq_url")})
    if args.json:
        print(json.dumps({"env": report.env, "alarms": [vars(alarm) for alarm in report.alarms],
                          "connections": {"counter": report.counter, "rows": report.connection_rows},
                          "queues": report.queues}, indent=2))
        return 0
    firing = report.firing
    print(f"realtime-{report.env}: {len(firing)} of {len(report.alarms)} alarm(s) firing")
    for alarm in report.alarms:
        runbook = f"  -> {alarm.runbook}" if alarm.runbook and alarm.state == "ALARM" else ""
        print(f"  {alarm.state:<17} {alarm.name}{runbook}")
    print(f"active connections: {report.connection_rows} rows, #counter {report.counter}")
    for name, depth in report.queues.items():
        print(f"queue {name}: {depth['visible']} visible, {depth['in_flight']} in flight, {depth['delayed']} delayed")
    return 0


# --------------------------------------------------------------------------------------------
# helpers


def _table(target: Target) -> ops_core.ConnectionTable:
    return ops_core.ConnectionTable(target.client("dynamodb"), target.output("connections_table_name"))


def _connections_api(target: Target) -> ops_core.ConnectionsApi:
    return ops_core.ConnectionsApi(target.client("apigatewaymanagementapi"))


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch is not None else "-"


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


@contextmanager
def aws_errors(target: Target) -> Iterator[None]:
    """Turn botocore failures (and the runtime adapters' domain errors, which carry only the AWS
    error code or botocore exception name) into one operator-facing line."""
    try:
        yield
    except NoCredentialsError:
        raise WsctlError(_no_credentials(target)) from None
    except EndpointConnectionError as error:
        raise WsctlError(_unreachable(target, str(error))) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message") or code
        raise WsctlError(_client_error(target, code, f"{error.operation_name}: {message}")) from None
    except BotoCoreError as error:
        raise WsctlError(f"AWS call failed in {target.env}: {error}") from None
    except (StoreUnavailable, Throttled, DeliveryFailed) as error:
        what = "the @connections API" if isinstance(error, DeliveryFailed) else f"table {_table_name(target)}"
        code = str(error).split(" ")[0]
        if code == "NoCredentialsError":
            raise WsctlError(_no_credentials(target)) from None
        if code in ("EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError"):
            raise WsctlError(_unreachable(target, f"{what}: {code}")) from None
        if isinstance(error, Throttled):
            raise WsctlError(f"{what} throttled the operation in {target.env} ({error}); retry in a minute") from None
        raise WsctlError(_client_error(target, code, f"{what}: {error}")) from None
    except DomainError as error:
        raise WsctlError(f"{type(error).__name__} in {target.env}: {error}") from None


def _no_credentials(target: Target) -> str:
    return f"no AWS credentials for {target.env}: configure a profile or AWS_* variables"


def _unreachable(target: Target, detail: str) -> str:
    if target.is_local:
        return f"the local stack does not answer ({detail}): start it with `make local`"
    return f"cannot reach AWS: {detail}"


def _client_error(target: Target, code: str, detail: str) -> str:
    if code in NOT_DEPLOYED_CODES:
        return f"stack realtime-{target.env} looks undeployed or out of date: {detail}"
    if code in BAD_CREDENTIALS_CODES:
        return f"AWS credentials for {target.env} are invalid or expired: {detail}"
    if code in DENIED_CODES:
        return f"access denied in {target.env}: {detail}"
    return f"AWS call failed in {target.env}: {code}: {detail}"


def _table_name(target: Target) -> str:
    return target.outputs.get("connections_table_name", "?")
