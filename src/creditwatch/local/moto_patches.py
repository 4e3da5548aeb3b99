"""moto, made fit for the local stack's volumes: transactions that roll back only the items they touch.

moto's TransactWriteItems deep-copies the whole table once per action to be able to roll back: with
the 100,000 records of a simulated month, one outcome (two actions) took seconds. Here the items a
transaction names are copied instead, and put back as they were if it is cancelled: the same
all-or-nothing result for the items it names (as moto's own, under concurrent calls on the same
items it is no stricter than moto: a local stack, not a test of DynamoDB's isolation).
"""

from __future__ import annotations

import copy
import sys
import threading
from typing import Any

_applied = False
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


def fast_transactions() -> None:
    """Patch moto's DynamoDB backend (once per process)."""
    global _applied
    if _applied:
        return
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
    _applied = True


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


def main() -> None:
    """`python -m creditwatch.local.moto_patches ARGS`: moto's server with the patches (ARGS as moto.server's)."""
    fast_transactions()
    from moto.server import main as moto_main

    sys.argv[0] = "moto.server"
    moto_main()


if __name__ == "__main__":
    main()
