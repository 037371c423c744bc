"""The emulator's Query (local_stack/emulator_server.py `patch_queries`) reads only the queried partition: these
check it answers exactly as moto's own Query (items, order, counts, LastEvaluatedKey), on tables and indexes, for
random items and random queries, including the shapes that fall back to moto's full read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from local_stack import emulator_server

GROUPS = ["a", "b", "c"]


def _table(backend: DynamoDBBackend, name: str, *, ranged: bool) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if ranged:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
    index = [
        {
            "IndexName": "by_group",
            "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": "by_number",
            "KeySchema": [{"AttributeName": "num", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ]
    attributes = [{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "grp", "rank")]
    attributes.append({"AttributeName": "num", "AttributeType": "N"})
    if ranged:
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    backend.create_table(
        name,
        schema=schema,
        throughput=None,
        attr=attributes,
        global_indexes=index,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )


ITEMS = st.lists(
    st.fixed_dictionaries(
        {
            "pk": st.sampled_from(["p1", "p2", "p3", "p4"]),
            "sk": st.text("xyz", min_size=1, max_size=3),
            "grp": st.one_of(st.none(), st.sampled_from(GROUPS)),  # None: not in the sparse index
            "rank": st.text("012", min_size=1, max_size=3),
            "num": st.one_of(st.none(), st.sampled_from(["1", "1.0", "2"])),
        }
    ),
    max_size=40,
)
QUERIES = st.fixed_dictionaries(
    {
        "index": st.sampled_from([None, "by_group", "by_number"]),
        "partition": st.sampled_from(["p1", "p2", "a", "b", "nowhere", "1", "1.0"]),
        "range": st.sampled_from([None, ("BEGINS_WITH", ["0"]), ("BETWEEN", ["0", "1z"]), ("GT", ["1"])]),
        "limit": st.sampled_from([None, 1, 2, 5]),
        "forward": st.booleans(),
        "filter": st.booleans(),
    }
)


@pytest.fixture
def patched() -> Iterator[None]:
    saved = (Table.query, Table.all_items, Table.sorted_items)
    emulator_server.patch_queries()
    yield
    Table.query, Table.all_items, Table.sorted_items = saved  # type: ignore[method-assign]


def _backend(items: list[dict[str, Any]], *, ranged: bool) -> DynamoDBBackend:
    backend = DynamoDBBackend("us-east-1", "123456789012")
    _table(backend, "t", ranged=ranged)
    for item in items:
        attrs = {"pk": {"S": item["pk"]}, "rank": {"S": item["rank"]}, "body": {"S": "x"}}
        if ranged:
            attrs["sk"] = {"S": item["sk"]}
        if item["grp"] is not None:
            attrs["grp"] = {"S": item["grp"]}
        if item["num"] is not None:
            attrs["num"] = {"N": item["num"]}
        backend.put_item("t", attrs)
    return backend


def _query(backend: DynamoDBBackend, query: dict[str, Any], *, ranged: bool, start: Any = None) -> Any:
    index = query["index"]
    hash_name = {"by_group": "grp", "by_number": "num"}.get(index, "pk")
    hash_value = {"N": query["partition"]} if index == "by_number" else {"S": query["partition"]}
    if index == "by_number" and not query["partition"].replace(".", "").isdigit():
        hash_value = {"N": "3"}
    range_name = {"by_group": "rank", None: "sk" if ranged else None}.get(index)
    comparison, values = query["range"] or (None, [])
    if range_name is None:
        comparison, values = None, []
    items, scanned, last = backend.query(
        "t",
        hash_value,
        comparison,
        [{"S": value} for value in values],
        query["limit"],
        start,
        query["forward"],
        None,
        index_name=index,
        expr_names={"#b": "body"} if query["filter"] else None,
        expr_values={":b": {"S": "x"}} if query["filter"] else None,
        filter_expression="#b = :b" if query["filter"] else None,
        hash_key_conditions=[(hash_name, hash_value)],
        range_key_conditions=[(str(range_name), comparison, [{"S": v} for v in values])] if comparison else None,
    )
    return [item.to_json() for item in items], scanned, last


def _pages(backend: DynamoDBBackend, query: dict[str, Any], *, ranged: bool) -> list[Any]:
    """Every page of the query, following LastEvaluatedKey."""
    pages, start = [], None
    for _ in range(50):
        page = _query(backend, query, ranged=ranged, start=start)
        pages.append(page)
        start = page[2]
        if start is None:
            break
    return pages


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=ITEMS, queries=st.lists(QUERIES, min_size=1, max_size=5), ranged=st.booleans())
def test_the_emulators_query_answers_exactly_as_motos(patched, items, queries, ranged):
    backend = _backend(items, ranged=ranged)
    for query in queries:
        ours = _pages(backend, query, ranged=ranged)
        Table.query, Table.all_items, Table.sorted_items = (  # type: ignore[method-assign]
            emulator_server._moto_query,
            emulator_server._moto_all_items,
            emulator_server._moto_sorted_items,
        )
        try:
            theirs = _pages(backend, query, ranged=ranged)
        finally:
            emulator_server.patch_queries()
        assert ours == theirs, query


def test_a_query_reads_only_its_partition(patched, monkeypatch):
    backend = _backend(
        [{"pk": f"p{i}", "sk": "x", "grp": GROUPS[i % 3], "rank": str(i % 7), "num": None} for i in range(300)],
        ranged=False,
    )
    read: list[int] = []
    original = emulator_server.all_items

    def counting(self: Table) -> list[Any]:
        found = original(self)
        read.append(len(found))
        return found

    monkeypatch.setattr(Table, "all_items", counting)
    query = {"index": "by_group", "partition": "a", "range": None, "limit": None, "forward": True, "filter": False}
    items, _, _ = _query(backend, query, ranged=False)
    assert len(items) == 100 and read == [100]


# ------------------------------------------------------------------------------------------------ answers
def _server_answers(fast: bool) -> list[tuple[int, dict[str, Any]]]:
    """Reads through moto's whole server stack (in-process), with or without the emulator's direct JSON answers."""
    import json

    from moto.dynamodb.responses import DynamoResult
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import Client

    saved = DynamoResult.execute_result
    if not fast:
        DynamoResult.execute_result = emulator_server._moto_execute_result  # type: ignore[method-assign]
    try:
        client = Client(DomainDispatcherApplication(create_backend_app))
        region = "eu-west-3" if fast else "eu-west-2"  # one fresh backend each

        def call(target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            answer = client.post(
                "/",
                data=json.dumps(body),
                headers={
                    "X-Amz-Target": f"DynamoDB_20120810.{target}",
                    "Content-Type": "application/x-amz-json-1.0",
                    "Authorization": f"AWS4-HMAC-SHA256 Credential=x/20261127/{region}/dynamodb/aws4_request, "
                    "SignedHeaders=host, Signature=x",
                    "Host": f"dynamodb.{region}.amazonaws.com",
                },
            )
            return answer.status_code, json.loads(answer.data)

        schema = {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}
        call(
            "CreateTable",
            {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                **schema,
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
        plain = {
            "id": {"S": "a"},
            "n": {"N": "1.50"},
            "l": {"L": [{"NULL": True}, {"BOOL": False}]},
            "ss": {"SS": ["x", "y"]},
            "ns": {"NS": ["1", "2"]},
            "m": {"M": {"k": {"S": "é😀"}}},
        }
        call("PutItem", {"TableName": "t", "Item": plain})
        call("PutItem", {"TableName": "t", "Item": {"id": {"S": "b"}, "bin": {"B": "aGVsbG8="}}})
        key = {":i": {"S": "a"}}
        return [
            call(
                "Query",
                {
                    "TableName": "t",
                    "KeyConditionExpression": "id = :i",
                    "ExpressionAttributeValues": key,
                    "ReturnConsumedCapacity": "TOTAL",
                },
            ),
            call(
                "Query",
                {
                    "TableName": "t",
                    "KeyConditionExpression": "id = :i",
                    "ExpressionAttributeValues": {":i": {"S": "b"}},
                },
            ),
            call("Scan", {"TableName": "t", "Limit": 1}),
            call("GetItem", {"TableName": "t", "Key": {"id": {"S": "a"}}}),
            call("GetItem", {"TableName": "t", "Key": {"id": {"S": "nowhere"}}}),
            call("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}]}}}),
            call(
                "Query", {"TableName": "nowhere", "KeyConditionExpression": "id = :i", "ExpressionAttributeValues": key}
            ),
        ]
    finally:
        DynamoResult.execute_result = saved  # type: ignore[method-assign]


def test_reads_answered_directly_are_the_answers_motos_serializer_gives(patched):
    assert _server_answers(fast=True) == _server_answers(fast=False)
