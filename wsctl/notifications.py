"""`wsctl notifications …`: what the notification log (ADR 0016, ADR 0018) holds for a user — each entry's
offset in the user's stream, the stream's epoch and whether the user has read it (ADR 0020: the read
position per stream and the per-notification marks) — and a user's deletion request, which deletes the
stream's history and starts a new epoch (so every tab's position is known to be lost). Both go through the runtime's own adapter (`realtime.adapters.notification_log`), so the CLI
reads exactly the items the broadcast function writes.

Only the user's own partition is listed and purged: global announcements (the `#global` partition) are
not personal data and expire with the retention window.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from wsctl import ops_core  # noqa: F401 - puts lambda_src (the runtime) on sys.path
from wsctl.ops import _env, _when, aws_errors
from wsctl.targets import Target, resolve


def register(subparsers: argparse._SubParsersAction) -> None:
    notifications = subparsers.add_parser("notifications", help="a user's stored notifications (resume log)")
    verbs = notifications.add_subparsers(dest="verb", required=True, metavar="VERB")

    listing = verbs.add_parser("list", help="the notifications stored for a user, oldest first")
    _env(listing)
    listing.add_argument("--user", required=True, metavar="ID", help="userId (Cognito sub)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)

    purge = verbs.add_parser("purge", help="delete every notification stored for a user (a deletion request)")
    _env(purge)
    purge.add_argument("--user", required=True, metavar="ID", help="userId (Cognito sub)")
    purge.set_defaults(func=cmd_purge)


def _log(target: Target):
    from realtime.adapters.notification_log import DynamoNotificationLog

    return DynamoNotificationLog(target.client("dynamodb"), target.output("notifications_table_name"))


def _read_state(target: Target):
    from realtime.adapters.notification_log import DynamoReadStateStore

    return DynamoReadStateStore(target.client("dynamodb"), target.output("notifications_table_name"))


def cmd_list(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    with aws_errors(target):
        log = _log(target)
        entries = log.entries(args.user)
        head = log.head(args.user)
        read_state = _read_state(target)
        positions = read_state.positions(args.user)
        marked = read_state.marks(args.user, "user", positions.user, max(head.offset, positions.user), time.time())
    rows = []
    for entry in entries:
        frame = json.loads(entry.frame)
        rows.append({"offset": entry.offset, "epoch": entry.epoch, "id": entry.request_id,
                     "read": entry.offset <= positions.user or entry.offset in marked,
                     "storedAt": _when(entry.stored_at), "expiresAt": _when(entry.expires_at),
                     "kind": frame.get("data", {}).get("kind"), "title": frame.get("data", {}).get("title")})
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"{'OFFSET':>8} {'READ':<4} {'STORED AT':<21} {'EXPIRES AT':<21} {'KIND':<22} {'ID':<40} TITLE")
        for row in rows:
            print(f"{row['offset']:>8} {'yes' if row['read'] else 'no':<4} {row['storedAt']:<21} "
                  f"{row['expiresAt']:<21} {row['kind'] or '-':<22} {row['id']:<40} {row['title']}")
    unread = sum(1 for row in rows if not row["read"])
    print(f"{len(rows)} notification(s) stored for user {args.user}; stream head {head.offset}, "
          f"epoch {head.epoch or '-'}; read up to user {positions.user}, global {positions.global_}; "
          f"{unread} unread in the user stream", file=sys.stderr)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    target = resolve(args.env)
    with aws_errors(target):
        deleted, epoch = _log(target).purge(args.user)
    print(f"deleted {deleted} notification(s) stored for user {args.user} in {target.env}"
          + (f"; new epoch {epoch}" if epoch else ""))
    return 0
