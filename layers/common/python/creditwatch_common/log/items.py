"""Records to DynamoDB items and back.

`features` is stored as one compact JSON string rather than a DynamoDB map, and `contributions` (19
floats) and a rejected request's `rejected_fields` as JSON array strings rather than lists: nothing
queries inside them, they are as small, and serialising a 1,000-application batch costs a fraction (bench/).
Records written as maps by earlier versions still read back the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from creditwatch_common.dynamo_json import deserialize, serialize
from creditwatch_common.ids import iso_millis, uuid7_millis
from creditwatch_common.log.keys import partition_key, shard_of, sort_key
from creditwatch_common.records import LogRecord, RejectedField, normalise

_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def to_item(
    record: LogRecord | Mapping[str, Any],
    shards: int,
    ttl_days: int,
    common: Mapping[str, Any] | None = None,
    rejected_ttl_days: int | None = None,
) -> dict[str, Any]:
    """DynamoDB item (attribute-value form) for a record, or for a dict of LogRecord's fields."""
    return to_items([record], shards, ttl_days, common, rejected_ttl_days)[0]


def to_items(
    records: Iterable[LogRecord | Mapping[str, Any]],
    shards: int,
    ttl_days: int,
    common: Mapping[str, Any] | None = None,
    rejected_ttl_days: int | None = None,
) -> list[dict[str, Any]]:
    """DynamoDB items for records; `common` holds attribute values every record shares.

    A rejected request (status 4xx/5xx) expires after `rejected_ttl_days` (default: `ttl_days`), every
    other record after `ttl_days`: decisions are kept as long as the law asks, refusals of bad input only
    as long as operations need them.
    """
    # Attribute values are shared between items: nothing mutates an item once built.
    common_status = int(common["status"]["N"]) if common and "status" in common else 0
    keys = _Keys(shards, ttl_days, rejected_ttl_days)
    items = []
    for record in records:
        # The fields as they are (no model_dump copy): serialize() builds new containers anyway.
        fields = record.__dict__ if isinstance(record, LogRecord) else record
        # The record's own fields win over common ones, an explicit None included.
        item: dict[str, Any] = dict(common) if common else {}
        for k, v in fields.items():
            t = type(v)
            if t is str:
                item[k] = {"S": v}
            elif t is float:
                item[k] = {"N": repr(v)}
            elif t is int:
                item[k] = {"N": str(v)}
            elif v is None:
                if common:
                    item.pop(k, None)
            else:
                item[k] = _attribute(k, v)
        prediction_id = fields["prediction_id"]
        stamp = keys.stamp(prediction_id)
        item["pk"] = stamp.pks[shard_of(prediction_id, shards)]
        item["sk"] = {"S": sort_key(stamp.ts, prediction_id)}
        item["ts"] = stamp.ts_attribute
        status = fields.get("status")
        rejected = (status if type(status) is int else common_status) >= 400
        item["expires_at"] = stamp.rejected_expiry if rejected else stamp.expiry
        items.append(item)
    return items


def column_items(
    columns: Mapping[str, Sequence[Any]],
    shards: int,
    ttl_days: int,
    common: Mapping[str, Any] | None = None,
    rejected_ttl_days: int | None = None,
) -> list[dict[str, Any]]:
    """DynamoDB items for records given a field at a time: what to_items gives for the same records.

    Each column holds one value per record, `prediction_id` among them; a None is a field the record
    lacks (the common value, if any, stays). A batch's thousand application records cost under half of
    to_items' field-by-field loop this way (bench/predict_bench.py).
    """
    ids = columns["prediction_id"]
    # Every item starts as a copy of one dict that has every key already: a copy of its table and
    # assignments, where inserting each field into a copy of `common` would grow it twice.
    dense = [name for name, values in columns.items() if None not in values]
    template = {**(common or {}), **dict.fromkeys([*dense, *_KEY_FIELDS])}
    items = [template.copy() for _ in ids]
    # A column at a time: one loop of assignments per field, its values converted by their one type
    # when they share it.
    for name, values in columns.items():
        if len(values) != len(items):
            raise ValueError(f"column {name}: {len(values)} values for {len(items)} records")
        types = set(map(type, values))
        if (types == {str} or types == {int}) and len(set(values[:_SAMPLE])) <= _FEW:
            # Few distinct values (a decision, a risk level): one attribute value each, shared by the items.
            shared: dict[Any, dict[str, str]] = {}
            kind = "S" if types == {str} else "N"
            for item, v in zip(items, values, strict=True):
                attribute = shared.get(v)
                if attribute is None:
                    attribute = shared[v] = {kind: v if kind == "S" else str(v)}
                item[name] = attribute
        elif types == {str}:
            for item, v in zip(items, values, strict=True):
                item[name] = {"S": v}
        elif types == {float} or types == {int}:
            for item, v in zip(items, reprs(values) if types == {float} else map(repr, values), strict=True):
                item[name] = {"N": v}
        else:
            for item, v in zip(items, values, strict=True):
                if v is not None:
                    item[name] = _attribute(name, v)
    common_status = int(common["status"]["N"]) if common and "status" in common else 0
    statuses = [common_status if s is None else s for s in columns.get("status") or [None] * len(items)]
    keys = _Keys(shards, ttl_days, rejected_ttl_days)
    millisecond, stamp = "", None
    for item, prediction_id, status in zip(items, ids, statuses, strict=True):
        # A batch's ids share their millisecond: its stamp is looked up again only when that changes.
        if stamp is None or not prediction_id.startswith(millisecond):
            millisecond, stamp = prediction_id[:13], keys.stamp(prediction_id)
        item["pk"] = stamp.pks[int(prediction_id[-8:], 16) % shards]
        item["sk"] = {"S": f"{stamp.ts}#{prediction_id}"}
        item["ts"] = stamp.ts_attribute
        item["expires_at"] = stamp.rejected_expiry if status >= 400 else stamp.expiry
    return items


def reprs(values: Sequence[float]) -> list[str]:
    """repr() of each float, at a tenth of its cost.

    orjson's text of them is repr's wherever repr writes no exponent (0, and 1e-4 <= |x| < 1e16); elsewhere
    repr's own (orjson writes 0.00005 for 5e-05, and null for a NaN).
    """
    if not values:
        return []
    texts = orjson.dumps(values).decode()[1:-1].split(",")
    for i, v in enumerate(values):
        if not (1e-4 <= abs(v) < 1e16 or v == 0.0):
            texts[i] = repr(v)
    return texts


def _attribute(name: str, value: Any) -> dict[str, Any]:
    """One field's value in attribute-value form, as to_items writes it."""
    if name == "features" or name == "contributions":
        return {"S": value if type(value) is str else _compact_json(value)}
    if name == "rejected_fields":
        return {"S": _compact_json([r.model_dump() if isinstance(r, RejectedField) else r for r in value])}
    return serialize(value)


# A column whose first _SAMPLE values hold at most _FEW distinct ones shares its attribute values.
_SAMPLE = 64
_FEW = 8
_KEY_FIELDS = ("pk", "sk", "ts", "expires_at")


class _Stamp(NamedTuple):
    """What the records of one millisecond share: their time, its attribute, their expiries, their keys by shard."""

    ts: str
    ts_attribute: dict[str, str]
    expiry: dict[str, str]
    rejected_expiry: dict[str, str]
    pks: list[dict[str, str]]


class _Keys:
    """The time attributes and partition keys of records, built once per millisecond (a batch's ids share one)."""

    def __init__(self, shards: int, ttl_days: int, rejected_ttl_days: int | None) -> None:
        self.shards = shards
        self.ttl_s = ttl_days * 86400
        self.rejected_ttl_s = (ttl_days if rejected_ttl_days is None else rejected_ttl_days) * 86400
        self.stamps: dict[str, _Stamp] = {}

    def stamp(self, prediction_id: str) -> _Stamp:
        """The stamp of an id's millisecond: a UUIDv7's first 12 hex digits (the first of them checked to be one)."""
        stamp = self.stamps.get(prediction_id[:13])
        if stamp is None:
            ms = uuid7_millis(prediction_id)
            ts = iso_millis(ms)
            stamp = self.stamps[prediction_id[:13]] = _Stamp(
                ts,
                {"S": ts},
                {"N": str(ms // 1000 + self.ttl_s)},
                {"N": str(ms // 1000 + self.rejected_ttl_s)},
                [{"S": partition_key(ts[:10], shard)} for shard in range(self.shards)],
            )
        return stamp


def to_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute-value form of plain fields (None dropped), for the fields a batch's records share."""
    return {k: serialize(v) for k, v in fields.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values from a DynamoDB item, in today's shape (features decoded, old names renamed)."""
    return normalise({k: deserialize(v) for k, v in item.items()})
