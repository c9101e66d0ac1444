"""Focused patches of moto, applied by the emulator process when it starts (wsctl/local/emulator.py).

Transactions without table copies
---------------------------------
moto 5.2.5's ``DynamoDBBackend.transact_write_items`` (moto/dynamodb/models/__init__.py) backs up
every table a transaction names with ``copy.deepcopy(self.tables[name])`` — once per item, before
it applies anything — and puts the copies back when an item fails. Every ``$connect`` and
``$disconnect`` is such a transaction on the connection table, so each handshake deep-copies the
whole table, twice: cost and garbage grow with the number of open connections (2,000 connections:
handshakes 8× slower, 4.6 GiB of emulator memory, bench/RESULTS.md). A rollback that puts a whole
old table back also loses any write another request made to that table in between.

The patch keeps moto's own transaction code (validation, condition checks, the error list, the
exceptions it raises) and changes only what is saved and restored: before the transaction, a copy
of each *item* it names (or the fact that there is none) and the length of the table's stream;
when it fails, exactly those items come back and the stream records it emitted are dropped. The
table copy moto still asks for is handed back as the table itself — that copy only ever served
the rollback — and transactions run one at a time, as DynamoDB serialises conflicting ones.
Any number of items, every operation type (Put, Update, Delete, ConditionCheck), all-or-nothing.
"""

from __future__ import annotations

import copy
import threading
import types
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

#: The moto release whose transact_write_items this patch was written against.
PATCHED_MOTO_VERSION = "5.2.5"

_transaction_lock = threading.Lock()
_inside = threading.local()


class _TableSnapshotsAreTheTable(types.ModuleType):
    """``copy`` as moto.dynamodb.models sees it: a table deep copy requested inside a patched
    transaction returns the table itself; everything else is the real ``copy``."""

    def __init__(self, table_type: type):
        super().__init__("copy")
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict | None = None) -> Any:
        if getattr(_inside, "transaction", False) and isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_key(backend: Any, table: Any, operation: str, request: dict[str, Any]) -> tuple[Any, Any] | None:
    """(hash, range) of the item one transaction operation names; None if the request names none
    (moto then fails the transaction before writing anything for it)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        if operation == "Put":
            attributes = request["Item"]
            return (DynamoType(attributes[table.hash_key_attr]),
                    DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None)
        return backend.get_keys_value(table, request["Key"])
    except Exception:  # noqa: BLE001 - a malformed request is moto's to reject, not ours
        return None


def _table(backend: Any, request: dict[str, Any]) -> Any:
    try:
        return backend.get_table(request["TableName"])
    except Exception:  # noqa: BLE001 - an unknown table fails the transaction inside moto
        return None


def _journal(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash, range, copy of the item or None) for every item the transaction names."""
    entries = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        operation, request = next(iter(entry.items()))
        table = _table(backend, request)
        key = _item_key(backend, table, operation, request) if table is not None else None
        if key is not None:
            hash_key, range_key = key
            entries.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return entries


def _restore(entries: list[tuple[Any, Any, Any, Any]], stream_lengths: dict[int, int], tables: list[Any]) -> None:
    for table, hash_key, range_key, saved in reversed(entries):
        if range_key is None:
            if saved is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = saved
        else:
            rows = table.items[hash_key]
            if saved is None:
                rows.pop(range_key, None)
                if not rows:
                    table.items.pop(hash_key, None)
            else:
                rows[range_key] = saved
    for table in tables:
        if table.stream_shard is not None:
            del table.stream_shard.items[stream_lengths[id(table)]:]


def _with_item_backups(original: Callable[..., None]) -> Callable[..., None]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _transaction_lock:
            entries = _journal(self, transact_items)
            tables = list({id(table): table for table, *_ in entries}.values())
            stream_lengths = {id(t): len(t.stream_shard.items) for t in tables if t.stream_shard is not None}
            _inside.transaction = True
            try:
                original(self, transact_items)
            except BaseException:
                _restore(entries, stream_lengths, tables)
                raise
            finally:
                _inside.transaction = False

    transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]
    transact_write_items.__doc__ = original.__doc__
    return transact_write_items


def patch_transactions() -> Callable[[], None]:
    """Apply the patch; returns the function that removes it. Refuses another moto version: the
    patch relies on how 5.2.5 backs up tables."""
    installed = version("moto")
    if installed != PATCHED_MOTO_VERSION:
        raise RuntimeError(f"wsctl.local.moto_patches was written for moto {PATCHED_MOTO_VERSION}, found "
                           f"{installed}: check moto/dynamodb/models/__init__.py transact_write_items again")
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    backend_class = models.DynamoDBBackend
    original = backend_class.transact_write_items
    if hasattr(original, "__wrapped__"):
        raise RuntimeError("moto's transact_write_items is already patched")
    original_copy = models.copy
    models.copy = _TableSnapshotsAreTheTable(Table)
    backend_class.transact_write_items = _with_item_backups(original)

    def undo() -> None:
        backend_class.transact_write_items = original
        models.copy = original_copy

    return undo
