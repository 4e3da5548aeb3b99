"""Records to DynamoDB items and back.

`features` is stored as one compact JSON string rather than a DynamoDB map, and `contributions` (19
floats) and a rejected request's `rejected_fields` as JSON array strings rather than lists: nothing
queries inside them, they are as small, and serialising a 1,000-application batch costs a fraction (bench/).
Records written as maps by earlier versions still read back the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

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
    # A batch builds a thousand items per request, hence the inlined scalar cases and the time
    # attributes built once per millisecond (a batch's ids share one). Attribute values are shared
    # between items: nothing mutates an item once built.
    ttl_s = ttl_days * 86400
    rejected_ttl_s = (ttl_days if rejected_ttl_days is None else rejected_ttl_days) * 86400
    common_status = int(common["status"]["N"]) if common and "status" in common else 0
    stamps: dict[str, tuple[str, dict[str, str], dict[str, str], list[dict[str, str] | None], dict[str, str]]] = {}
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
            elif k == "features" or k == "contributions":
                item[k] = {"S": _compact_json(v)}
            elif k == "rejected_fields":
                item[k] = {"S": _compact_json([r.model_dump() if isinstance(r, RejectedField) else r for r in v])}
            else:
                item[k] = serialize(v)
        prediction_id = fields["prediction_id"]
        # A UUIDv7's first 12 hex digits are its millisecond: ids that share them share the time
        # attributes (and the first of them was checked to be a UUIDv7).
        stamp = stamps.get(prediction_id[:13])
        if stamp is None:
            ms = uuid7_millis(prediction_id)
            ts = iso_millis(ms)
            stamp = stamps[prediction_id[:13]] = (
                ts,
                {"S": ts},
                {"N": str(ms // 1000 + ttl_s)},
                [None] * shards,
                {"N": str(ms // 1000 + rejected_ttl_s)},
            )
        ts = stamp[0]
        shard = shard_of(prediction_id, shards)
        pk = stamp[3][shard]
        if pk is None:
            pk = stamp[3][shard] = {"S": partition_key(ts[:10], shard)}
        item["pk"] = pk
        item["sk"] = {"S": sort_key(ts, prediction_id)}
        item["ts"] = stamp[1]
        status = fields.get("status")
        rejected = (status if type(status) is int else common_status) >= 400
        item["expires_at"] = stamp[4] if rejected else stamp[2]
        items.append(item)
    return items


def to_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute-value form of plain fields (None dropped), for the fields a batch's records share."""
    return {k: serialize(v) for k, v in fields.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values from a DynamoDB item, in today's shape (features decoded, old names renamed)."""
    return normalise({k: deserialize(v) for k, v in item.items()})
