"""The embedded AWS: moto server in its own process, on 127.0.0.1 only.

Run as ``python -m wsctl.local.emulator --port N [--restore FILE]``. It prints one JSON line when
it listens, then obeys commands on stdin (``snapshot <path>``, ``refuse-broadcasts``) and exits when stdin closes, so it
never outlives the ``wsctl local up`` that started it.

moto is patched first where it would misbehave as the local stack uses it: no SQS→Lambda delivery
of its own (below), DynamoDB transactions that copy the items they touch instead of whole tables,
and index queries that do not re-cast every key on every comparison (wsctl/local/moto_patches.py).

Snapshots are moto's in-memory backends pickled as they are (locks, weak maps, lambdas factories
and private keys are reduced to things that pickle). They are taken right after ``terraform
apply`` and again when the stack stops cleanly (after the queue is drained and the gateway closed,
so local users, the notification log and what is still queued survive a restart), and restored
only when the synthesized stack, the Lambda zips, the terraform state and the moto version are
byte-for-byte the ones they were taken with (see wsctl/local/stack.py).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import logging
import os
import pickle
import re
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

from wsctl.local.moto_patches import patch_emulator

_LOCK_TYPES = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


def _load_private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, None)


class _BackendPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _LOCK_TYPES:
            return _LOCK_TYPES[kind], ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, threading.Event):
            return threading.Event, ()
        if isinstance(obj, weakref.WeakValueDictionary):
            # Every value is also held strongly elsewhere in the same backend, so identity survives.
            return weakref.WeakValueDictionary, (dict(obj),)
        if isinstance(obj, collections.defaultdict) and getattr(obj.default_factory, "__name__", "") == "<lambda>":
            sample = obj.default_factory()
            if type(sample) in (dict, list, set, int) and not sample:
                return collections.defaultdict, (type(sample), dict(obj))
        if hasattr(obj, "private_bytes") and hasattr(obj, "public_key") and hasattr(obj, "key_size"):
            from cryptography.hazmat.primitives import serialization as ser

            pem = obj.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
            return _load_private_key, (pem,)
        return NotImplemented


def snapshot_backends(path: Path) -> int:
    from moto.core.base_backend import BackendDict

    data: dict[str, dict[tuple[str, str], Any]] = {}
    for backend_dict in list(BackendDict._instances):
        services = data.setdefault(backend_dict.service_name, {})
        for account_id, per_account in list(backend_dict.items()):
            for region, backend in list(dict.items(per_account)):
                services[(account_id, region)] = backend
    buffer = io.BytesIO()
    _BackendPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(data)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, path)
    return len(buffer.getvalue())


def restore_backends(path: Path) -> None:
    from moto.backends import get_backend

    data = pickle.loads(path.read_bytes())  # noqa: S301 - our own file under .local/, hash-checked
    for service, backends in data.items():
        backend_dict = get_backend(service)
        for (account_id, region), backend in backends.items():
            dict.__setitem__(backend_dict[account_id], region, backend)


def disable_builtin_sqs_delivery() -> None:
    """moto delivers SQS messages to Lambda itself inside SendMessage (receive, invoke through
    Docker, which does not exist here, then reset the visibility), which would bump every
    message's receive count. The local gateway is the event source mapping, so that is switched off."""
    from moto.sqs.models import Queue

    original = Queue.add_message

    def add_message(self: Queue, message: Any) -> None:
        mappings = self.lambda_event_source_mappings
        self.lambda_event_source_mappings = {}
        try:
            original(self, message)
        finally:
            self.lambda_event_source_mappings = mappings

    Queue.add_message = add_message


#: Set by the ``refuse-broadcasts`` command when the local stack stops (wsctl/local/up.py).
BROADCASTS_REFUSED = threading.Event()


def is_new_broadcast(body: str) -> bool:
    """A message the web app (or ``wsctl broadcast``) enqueues, as opposed to the segment jobs the
    broadcast function enqueues to finish a broadcast already accepted (``segment`` is backend-only)."""
    try:
        document = json.loads(body)
    except ValueError:
        return True
    return not (isinstance(document, dict) and document.get("segment") is not None)


def refuse_new_broadcasts_when_stopping() -> None:
    """While the stack stops, SendMessage of a new broadcast fails with ``LocalStackStopping``
    (not retried by the SDKs: a 400) instead of landing in a queue nobody drains any more; the
    broadcast function's own segment jobs are still accepted, so what was accepted completes."""
    from moto.sqs.exceptions import SQSException
    from moto.sqs.models import SQSBackend

    class LocalStackStopping(SQSException):
        code = "LocalStackStopping"
        message = "the local stack is stopping: broadcasts are refused until `make local` runs again"

    send_message, send_message_batch = SQSBackend.send_message, SQSBackend.send_message_batch

    def refused(bodies: list[str]) -> bool:
        return BROADCASTS_REFUSED.is_set() and any(is_new_broadcast(body) for body in bodies)

    def guarded_send_message(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        if refused([message_body]):
            raise LocalStackStopping()
        return send_message(self, queue_name, message_body, *args, **kwargs)

    def guarded_send_message_batch(self: SQSBackend, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        if refused([entry.get("MessageBody", "") for entry in entries.values()]):
            raise LocalStackStopping()
        return send_message_batch(self, queue_name, entries)

    SQSBackend.send_message = guarded_send_message
    SQSBackend.send_message_batch = guarded_send_message_batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wsctl.local.emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--restore", type=Path)
    args = parser.parse_args(argv)
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    # Only failed requests reach .local/logs/moto.log: they are what explains a failed apply.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").addFilter(lambda record: not re.search(r'" [23]\d\d ', record.getMessage()))
    from moto.server import ThreadedMotoServer

    def reply(**payload: Any) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    try:
        disable_builtin_sqs_delivery()
        refuse_new_broadcasts_when_stopping()
        patch_emulator()
        if args.restore is not None:
            restore_backends(args.restore)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
        server.start()
    except Exception as error:  # noqa: BLE001 - reported to the parent as one line
        reply(error=f"{type(error).__name__}: {error}")
        return 1
    reply(ready=args.port)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        try:
            if command == "snapshot":
                reply(ok=True, bytes=snapshot_backends(Path(argument)))
            elif command == "refuse-broadcasts":
                BROADCASTS_REFUSED.set()
                reply(ok=True)
            else:
                reply(error=f"unknown command {command!r}")
        except Exception as error:  # noqa: BLE001 - reported to the parent as one line
            reply(error=f"{type(error).__name__}: {error}")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
