"""The local stack's moto patches: partitions made once under threads; a Query reads its partition only, as moto."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from creditwatch.local.moto_patches import MOTO, Partitions, fast_queries


def _keyed_table(ddb: Any, name: str) -> None:
    """A table keyed by string pk (hash) and sk (range)."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _table(ddb: Any) -> str:
    _keyed_table(ddb, "t")
    for pk, n in (("a", 30), ("b", 5)):
        for i in range(n):
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": f"{i:03d}"}, "n": {"N": str(i)}})
    return "t"


def _query(ddb: Any, pk: str) -> list[str]:
    kwargs: dict[str, Any] = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "FilterExpression": "n <> :skip",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": "003"}, ":hi": {"S": "025"}, ":skip": {"N": "7"}},
        "Limit": 6,
    }
    out = []
    while True:
        page = ddb.query(**kwargs)
        out += [i["sk"]["S"] for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_query_on_the_tables_key_reads_only_its_partition_and_answers_page_by_page_as_moto_does(ddb, monkeypatch):
    from moto.dynamodb.models.table import Table

    fast_queries()  # tests/conftest.py applies it to every test: moto's own answers come from its saved methods
    _table(ddb)
    with monkeypatch.context() as moto:
        moto.setattr(Table, "all_items", MOTO["all_items"])
        moto.setattr(Table, "query", MOTO["query"])
        unpatched = {pk: _query(ddb, pk) for pk in ("a", "b", "c")}
    whole_table: list[int] = []
    every_item = Table.all_items

    def counted(self: Any) -> list[Any]:
        items = every_item(self)
        whole_table.append(len(items))
        return items

    monkeypatch.setattr(Table, "all_items", counted)
    assert {pk: _query(ddb, pk) for pk in ("a", "b", "c")} == unpatched
    assert unpatched["a"] == [f"{i:03d}" for i in range(3, 26) if i != 7] and unpatched["c"] == []
    assert max(whole_table) <= 30  # partition a's items at most, never the table's 35


def test_a_query_on_an_index_reads_the_index_not_a_partition_of_the_table(ddb):
    # moto's backend passes the index name by position: the review queue (index by-status) read nothing.
    fast_queries()
    ddb.create_table(
        TableName="cases",
        KeySchema=[{"AttributeName": "case_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "case_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for i, status in enumerate(("pending", "decided", "pending")):
        item = {"case_id": {"S": f"c{i}"}, "status": {"S": status}, "created_at": {"S": f"2026-01-0{i + 1}"}}
        ddb.put_item(TableName="cases", Item=item)
    page = ddb.query(
        TableName="cases",
        IndexName="by-status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "pending"}},
    )
    assert [i["case_id"]["S"] for i in page["Items"]] == ["c0", "c2"]


class _SlowKey(str):
    """A key whose hash lets other threads run, as moto's DynamoType.__hash__ (Python code) may."""

    def __hash__(self) -> int:
        time.sleep(0.002)
        return str.__hash__(self)


@pytest.mark.parametrize(("items", "kept"), [(defaultdict(dict), False), (Partitions(), True)], ids=["moto", "patched"])
def test_threads_writing_the_first_items_of_one_partition_at_once_keep_them_all_only_when_patched(items, kept):
    start = threading.Barrier(4)

    def write(sort_key: str) -> None:
        start.wait()
        items[_SlowKey("day#shard")][sort_key] = 1

    threads = [threading.Thread(target=write, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(items["day#shard"]) == 4) is kept


def test_the_patched_moto_table_keeps_its_items_in_partitions(ddb):
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    from creditwatch.local.moto_patches import safe_partitions

    safe_partitions()
    _table(ddb)
    table = dynamodb_backends["123456789012"]["us-east-1"].get_table("t")
    assert isinstance(table.items, Partitions) and len(table.items[DynamoType({"S": "a"})]) == 30


def test_the_server_finds_each_hosts_backend_as_moto_does_listing_its_modules_once_per_host(monkeypatch):
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    listings = []
    listing = backends.list_of_moto_modules
    monkeypatch.setattr(backends, "list_of_moto_modules", lambda: listings.append(1) or listing())
    dispatcher = DomainDispatcherApplication(create_app=lambda _backend: None)
    hosts = ["s3.us-east-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com", "sqs.us-east-1.amazonaws.com", "s3"]
    expected = [MOTO["get_backend_for_host"](dispatcher, host) for host in hosts]
    assert expected == ["s3", "dynamodb", "sqs", "s3"]
    before = len(listings)
    assert [dispatcher.get_backend_for_host(host) for host in hosts * 3] == expected * 3
    assert len(listings) - before == len(hosts)


def _reads(ddb: Any) -> dict[str, Any]:
    """One answer of each item read, with the projections the log's readers use and the ones they do not."""
    key = {":p": {"S": "a"}}
    reads = {
        "query": ddb.query(TableName="r", KeyConditionExpression="pk = :p", ExpressionAttributeValues=key),
        "query projected, with its consumed capacity": ddb.query(
            TableName="r",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=key,
            ProjectionExpression="sk, #n, m, l, ss, absent",
            ExpressionAttributeNames={"#n": "n"},
            ReturnConsumedCapacity="TOTAL",
        ),
        "query of nested paths": ddb.query(
            TableName="r",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=key,
            ProjectionExpression="m.x, l[0]",
        ),
        "scan": ddb.scan(TableName="r"),
        "get": ddb.get_item(TableName="r", Key={"pk": {"S": "a"}, "sk": {"S": "001"}}),
        "get of binary": ddb.get_item(TableName="r", Key={"pk": {"S": "b"}, "sk": {"S": "000"}}),
        "get of nothing": ddb.get_item(TableName="r", Key={"pk": {"S": "a"}, "sk": {"S": "999"}}),
        "batch get": ddb.batch_get_item(
            RequestItems={"r": {"Keys": [{"pk": {"S": "a"}, "sk": {"S": f"00{i}"}} for i in (1, 2)]}}
        ),
    }
    for answer in reads.values():
        answer.pop("ResponseMetadata")
    # DynamoDB's sets have no order, and moto's own projection reorders them.
    text = json.dumps(reads, default=lambda v: v.hex() if isinstance(v, bytes) else sorted(v), sort_keys=True)
    return json.loads(text.replace('"SS": ["b", "a"]', '"SS": ["a", "b"]'))


def test_item_reads_answer_as_moto_does_picking_top_level_attributes_and_writing_json_directly(ddb, monkeypatch):
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoResult

    from creditwatch.local.moto_patches import fast_item_reads

    fast_item_reads()
    _table(ddb)  # a table beside it: reads name their own
    _keyed_table(ddb, "r")
    for i in range(5):
        nested = {"x": {"S": "é"}, "y": {"L": [{"N": "1.5"}, {"NULL": True}]}}
        item = {
            "n": {"N": str(i)},
            "m": {"M": nested},
            "l": {"L": [{"S": "a"}, {"BOOL": False}]},
            "ss": {"SS": ["a", "b"]},
        }
        ddb.put_item(TableName="r", Item={"pk": {"S": "a"}, "sk": {"S": f"{i:03d}"}, **item})
    ddb.put_item(TableName="r", Item={"pk": {"S": "b"}, "sk": {"S": "000"}, "bin": {"B": b"\x00\xff"}})
    patched = _reads(ddb)
    with monkeypatch.context() as moto:
        moto.setattr(Item, "project", MOTO["project"])
        moto.setattr(DynamoResult, "execute_result", MOTO["execute_result"])
        assert _reads(ddb) == patched
    assert patched["get of binary"]["Item"]["bin"] == {"B": "00ff"}  # the bytes put (moto's own serializer)
    assert patched["query projected, with its consumed capacity"]["Items"][0] == {
        "sk": {"S": "000"},
        "n": {"N": "0"},
        "m": {"M": {"x": {"S": "é"}, "y": {"L": [{"N": "1.5"}, {"NULL": True}]}}},
        "l": {"L": [{"S": "a"}, {"BOOL": False}]},
        "ss": {"SS": ["a", "b"]},
    }
