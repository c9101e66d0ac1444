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

Queries without per-comparison casts
------------------------------------
moto 5.2.5 answers every index query and every scan from ``Table.all_items()``
(moto/dynamodb/models/table.py), which sorts *all* items by their key on each call, comparing
``DynamoType`` objects whose ``cast_value`` property walks five type checks per comparison
(moto/dynamodb/models/dynamo_type.py). The ``byUser`` query of each ``$connect`` therefore cost
O(n log n) casts: 5 ms with 100 rows, 19 ms with 2,000, the emulator's CPU the whole time. The
patch skips that sort inside ``Table.query`` (which sorts what it keeps on the full key anyway)
and hands an index query only the items that pass its hash-key test (which moto applies next),
sorts scans on each key's cast value computed once per item, and lets a string, binary or boolean
be its own cast value (``cast_value``, ``==``, ``!=``) before the other checks. Same values, same
order, same results; a query still looks at every item (moto keeps no index), at a fraction of
the cost.
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


def _require_patched_version() -> None:
    installed = version("moto")
    if installed != PATCHED_MOTO_VERSION:
        raise RuntimeError(f"wsctl.local.moto_patches was written for moto {PATCHED_MOTO_VERSION}, found "
                           f"{installed}: check the moto code each patch names again")


def patch_transactions() -> Callable[[], None]:
    """Apply the patch; returns the function that removes it. Refuses another moto version: the
    patch relies on how 5.2.5 backs up tables."""
    _require_patched_version()
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


_SCALARS_CAST_TO_THEMSELVES = frozenset({"S", "B", "BOOL"})


def _scalar_first(original: property) -> property:
    def cast_value(self: Any) -> Any:
        if self.type in _SCALARS_CAST_TO_THEMSELVES:
            return self.value
        return original.fget(self)

    return property(cast_value, doc=original.__doc__)


def _dynamo_eq(self: Any, other: Any) -> bool:
    # DynamoType.__eq__: same type and same cast value (a scalar's cast value is its value)
    if self.type != other.type:
        return False
    return self.value == other.value if self.type in _SCALARS_CAST_TO_THEMSELVES else self.cast_value == other.cast_value


def _dynamo_ne(self: Any, other: Any) -> bool:
    return not _dynamo_eq(self, other)


_querying = threading.local()


def _items_sorted_on_cast_keys(self: Any) -> list[Any]:
    """``Table.all_items`` with the same order: hash key, then range key, compared by cast value
    (a table's key attributes have one type each, so DynamoType's == and < agree with the casts').
    Inside ``Table.query`` the items come unsorted: the query sorts what it keeps on the full key
    (``Table.sorted_items``: index keys, then the table's keys, unique per item)."""
    items: list[Any] = []
    for hash_set in self.items.values():
        if self.range_key_attr:
            items.extend(hash_set.values())
        else:
            items.append(hash_set)
    if getattr(_querying, "active", False):
        # moto applies exactly this test to every item next; skipping the misses here is cheaper.
        for name, expected in _querying.hash_conditions or ():
            items = [item for item in items if (value := item.attrs.get(name)) is not None and value == expected]
        return items
    return sorted(items, key=lambda x: (x.hash_key.cast_value, x.range_key.cast_value) if x.range_key
                  else x.hash_key.cast_value)


def _query_on_unsorted_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        _querying.active = True
        # Only an index query tests every item against its hash conditions (Table.query, "FIND POSSIBLE RESULTS").
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        _querying.hash_conditions = kwargs.get("hash_key_conditions") if index_name else None
        try:
            return original(self, *args, **kwargs)
        finally:
            _querying.active = False
            _querying.hash_conditions = None

    query.__wrapped__ = original  # type: ignore[attr-defined]
    return query


def patch_queries() -> Callable[[], None]:
    """Apply the query patch; returns the function that removes it (same version rule as above)."""
    _require_patched_version()
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    originals = {name: DynamoType.__dict__[name] for name in ("cast_value", "__eq__", "__ne__")}
    original_all_items, original_query = Table.all_items, Table.query
    if hasattr(original_query, "__wrapped__"):
        raise RuntimeError("moto's Table.query is already patched")
    DynamoType.cast_value = _scalar_first(originals["cast_value"])
    DynamoType.__eq__, DynamoType.__ne__ = _dynamo_eq, _dynamo_ne
    Table.all_items = _items_sorted_on_cast_keys
    Table.query = _query_on_unsorted_items(original_query)

    def undo() -> None:
        for name, original in originals.items():
            setattr(DynamoType, name, original)
        Table.all_items, Table.query = original_all_items, original_query

    return undo


def patch_emulator() -> Callable[[], None]:
    """Every patch the emulator runs with; returns the function that removes them all."""
    undo_transactions = patch_transactions()
    undo_queries = patch_queries()

    def undo() -> None:
        undo_queries()
        undo_transactions()

    return undo
