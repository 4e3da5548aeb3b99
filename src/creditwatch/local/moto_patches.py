"""moto, made fit for the local stack: safe partitions, cheap transactions and Queries, a fast dispatch.

moto's TransactWriteItems deep-copies the whole table once per action to be able to roll back: with
the 100,000 records of a simulated month, one outcome (two actions) took seconds. Here the items a
transaction names are copied instead, and put back as they were if it is cancelled: the same
all-or-nothing result for the items it names (as moto's own, under concurrent calls on the same
items it is no stricter than moto: a local stack, not a test of DynamoDB's isolation).
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
from typing import Any

_local = threading.local()


class _TableCopySkipped:
    """Stands in for the `copy` module inside moto's dynamodb models: no whole-table copy in a transaction."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_local, "in_transaction", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


@functools.cache  # once per process: a second patch would wrap the first
def fast_transactions() -> None:
    """Patch moto's DynamoDB backend (once per process)."""
    from moto.dynamodb import models

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            name = op.get("TableName")
            if name not in self.tables:
                continue
            table = self.tables[name]
            if "Key" in op:
                key = op["Key"]
            else:
                attrs = op.get("Item", {})
                key = {a: attrs[a] for a in (table.hash_key_attr, table.range_key_attr) if a and a in attrs}
            try:
                hash_key, range_key = self.get_keys_value(table, key)
            except Exception:  # noqa: BLE001 - moto raises its own validation error below
                continue
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        _local.in_transaction = True
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            _local.in_transaction = False

    models.copy = _TableCopySkipped()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if item is None:
        if range_key is not None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items.pop(hash_key, None)
    elif range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item


# moto's own Table methods that fast_queries replaced (its test compares the two).
MOTO: dict[str, Any] = {}


@functools.cache  # once per process: a second patch would wrap the first
def fast_queries() -> None:
    """Patch moto's Query on a table's key: read the partition's items, not every item of the table (once per process).

    moto answers a Query by sorting and testing every item of the table (`Table.all_items`): one Query of
    a day and shard cost the whole table, so reading 75 days of a simulated history (1,200 Queries of
    16 shards) ran at about 20 rows a second. During a Query on the table's own key (no index) the
    items are the partition's only; moto's own matching, sorting, paging and filters then run as before.
    """
    import inspect

    from moto.dynamodb.models.table import Table

    every_item = MOTO["all_items"] = Table.all_items
    query = MOTO["query"] = Table.query
    signature = inspect.signature(query)

    def all_items(self: Any) -> list[Any]:
        scope = getattr(_local, "query_scope", None)
        if scope is None or scope[0] is not self:
            return every_item(self)
        bucket = self.items.get(scope[1])  # .get: the defaultdict must not gain a key
        if bucket is None:
            return []
        return sorted(bucket.values(), key=lambda item: item.range_key) if self.range_key_attr else [bucket]

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes index_name by position: a Query on an index must not be scoped to the table's key.
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name is not None or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        _local.query_scope = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _local.query_scope = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]


_partition_lock = threading.Lock()


class Partitions(dict):  # type: ignore[type-arg]
    """A table's items by hash key whose missing partition is created once, whichever threads ask for it at once.

    moto keeps them in a `defaultdict(dict)`. Its keys hash in Python (`DynamoType.__hash__`), so two threads
    writing the first items of one partition can both miss it and both insert a new dict: the one inserted
    first is replaced and its items are lost. The predict function writes a batch's chunks from 8 threads,
    and a loaded host lost 1 or 2 of 800 seeded records that way (moto says it is not thread-safe).
    """

    def __missing__(self, key: Any) -> dict[Any, Any]:
        with _partition_lock:
            return self.setdefault(key, {})


@functools.cache  # once per process: a second patch would wrap the first
def safe_partitions() -> None:
    """Patch moto's DynamoDB tables to keep their items in `Partitions` (once per process)."""
    from moto.dynamodb.models.table import Table

    init = Table.__init__

    def table_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.items = Partitions(self.items)

    Table.__init__ = table_init  # type: ignore[method-assign]


@functools.cache  # once per process: a second patch would wrap the first
def fast_dispatch() -> None:
    """Patch moto's server to find the backend of a request's host once per host (once per process).

    moto's server answers `which backend serves this host` by listing its own package folder (~190
    `isdir` calls) and then trying every backend's URL patterns, under a lock every request takes: a fifth
    of the moto server's samples in `creditwatch demo` (py-spy; an S3 PUT 4.4 ms against 6.2 ms without it).
    The answer depends on the host only.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    find = MOTO["get_backend_for_host"] = DomainDispatcherApplication.get_backend_for_host

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # Called under the dispatcher's own lock: the cache needs none of its own.
        found: dict[str | None, Any] = self.__dict__.setdefault("_backend_of_host", {})
        if host not in found:
            found[host] = find(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


# The read operations whose answer holds only items (strings, numbers, lists and maps of them once in JSON).
ITEM_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


@functools.cache  # once per process: a second patch would wrap the first
def fast_item_reads() -> None:
    """Patch moto's DynamoDB reads: project top-level attributes by picking them, answer items with `json.dumps`.

    moto 5.2 projects an item by converting it to plain JSON once per projected attribute and back, and writes
    every answer by walking botocore's model of the response, value by value: in `creditwatch demo` these two
    were half of the moto server's samples (py-spy), most of them the exports' Queries of the log table.
    An answer that `json.dumps` cannot write as it is (binary values, dates) goes through moto's own serializer.
    """
    import json

    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoResult

    project = MOTO["project"] = Item.project
    execute_result = MOTO["execute_result"] = DynamoResult.execute_result

    def project_top_level(self: Any, projection_expressions: list[list[str]]) -> Any:
        names = [expr[0] for expr in projection_expressions if len(expr) == 1]
        if len(names) != len(projection_expressions) or any("[" in name for name in names):
            return project(self, projection_expressions)  # a nested path or a list element: moto's own
        # Item() wraps each value in a DynamoType of its own (lists and maps rebuilt): the stored item is not shared.
        attrs = {name: self.attrs[name] for name in names if name in self.attrs}
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=attrs)

    def answer_items(self: Any, context: Any) -> Any:
        if context.operation_model.name not in ITEM_READS:
            return execute_result(self, context)
        try:
            body = json.dumps(self.result, separators=(",", ":"))
        except TypeError:
            return execute_result(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    Item.project = project_top_level  # type: ignore[method-assign]
    DynamoResult.execute_result = answer_items  # type: ignore[method-assign]


def apply() -> None:
    """Every patch of this module: what the local stack's server and the tests' in-process moto run with."""
    safe_partitions()
    fast_dispatch()
    fast_transactions()
    fast_queries()
    fast_item_reads()


def main() -> None:
    """`python -m creditwatch.local.moto_patches ARGS`: moto's server with the patches (ARGS as moto.server's)."""
    apply()
    import logging

    # A line per request (the demo makes ~40,000) is noise in moto.log; warnings and errors stay.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import main as moto_main

    sys.argv[0] = "moto.server"
    moto_main()


if __name__ == "__main__":
    main()
