"""The DynamoDB emulator: moto's server as a subprocess, the template's tables in it, conditional writes that are
atomic under concurrency, nothing left behind."""

from __future__ import annotations

import copy
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import moto
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.exceptions import TransactionCanceledException, TransactWriteSingleOpException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

from local_stack import emulator_server
from local_stack.dynamodb import DynamoDBEmulator, EmulatorError, client, create_tables
from local_stack.template import table_definitions, table_specs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator():
    with DynamoDBEmulator(port=0) as running:
        yield running


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_emulator_answers_http_and_stops_leaving_no_process():
    emulator = DynamoDBEmulator(port=0).start()
    pid, port = emulator.pid, emulator.port
    assert pid is not None
    assert httpx.get(f"{emulator.url}/moto-api/").status_code == 200

    emulator.stop()

    assert _gone(pid)
    assert _refuses_connections(port)
    assert emulator.pid is None
    emulator.stop()  # stopping twice is harmless


def test_the_emulator_stops_when_the_block_raises():
    pids = []

    def use_and_fail() -> None:
        with DynamoDBEmulator(port=0) as emulator:
            pids.append(emulator.pid)
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        use_and_fail()

    assert pids[0] is not None
    assert _gone(pids[0])


def test_a_port_that_is_taken_is_a_clear_error_and_leaves_no_process():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError, match="exited"):
            DynamoDBEmulator(port=port, startup_timeout=20).start()


def test_create_tables_creates_the_template_tables_with_keys_indexes_and_ttl(emulator, tiny_template):
    specs = table_specs(tiny_template, {"ItemsTableName": "items-create-test"})

    created = create_tables(emulator.url, specs)

    dynamodb = client("dynamodb", emulator.url)
    assert "items-create-test" in created
    table = dynamodb.describe_table(TableName="items-create-test")["Table"]
    assert table["KeySchema"] == specs["ItemsTable"].create_kwargs["KeySchema"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by_owner"]
    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by_owner_local"]
    ttl = dynamodb.describe_time_to_live(TableName="items-create-test")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_create_tables_is_idempotent(emulator, tiny_template):
    specs = table_specs(tiny_template, {"ItemsTableName": "items-idempotent-test"})
    create_tables(emulator.url, specs)

    assert "items-idempotent-test" not in create_tables(emulator.url, specs)


def test_create_tables_takes_plain_create_table_kwargs(emulator, tiny_template):
    definitions = table_definitions(tiny_template, {"ItemsTableName": "items-plain-test"})

    created = create_tables(emulator.url, {"ItemsTable": definitions["ItemsTable"]})

    assert created == ["items-plain-test"]


# ----------------------------------------------------------------------------------------------- atomicity

_THREADS = 16
_CALLS = 400


def _counter_table(emulator: DynamoDBEmulator, name: str) -> None:
    dynamodb = client("dynamodb", emulator.url)
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})


def _hammer(emulator: DynamoDBEmulator, call: Callable[[Any], None], refusal: str) -> tuple[int, int]:
    """`_CALLS` calls of `call(client)` spread over `_THREADS` threads, each with its own client, all released
    at once; returns (admitted, refused), where refused means a ClientError with code `refusal`."""
    clients = [client("dynamodb", emulator.url) for _ in range(_THREADS)]
    start = threading.Barrier(_THREADS)
    lock = threading.Lock()
    outcomes = {"admitted": 0, "refused": 0}

    def worker(dynamodb: Any) -> None:
        start.wait()
        for _ in range(_CALLS // _THREADS):
            try:
                call(dynamodb)
            except ClientError as error:
                if error.response["Error"]["Code"] != refusal:
                    raise
                outcome = "refused"
            else:
                outcome = "admitted"
            with lock:
                outcomes[outcome] += 1

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        for future in [pool.submit(worker, dynamodb) for dynamodb in clients]:
            future.result()
    assert outcomes["admitted"] + outcomes["refused"] == _CALLS
    return outcomes["admitted"], outcomes["refused"]


def _used(emulator: DynamoDBEmulator, table: str, pk: str) -> int:
    item = client("dynamodb", emulator.url).get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    return int(item["Item"]["used"]["N"])


def _conditional_add(table: str, pk: str, maximum: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": pk}},
        "UpdateExpression": "ADD used :one",
        "ConditionExpression": "attribute_not_exists(used) OR used <= :max",
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": str(maximum - 1)}},
    }


def test_concurrent_conditional_updates_over_http_admit_exactly_the_limit(emulator):
    _counter_table(emulator, "atomic-update-test")

    admitted, refused = _hammer(
        emulator,
        lambda dynamodb: dynamodb.update_item(**_conditional_add("atomic-update-test", "quota", 50)),
        "ConditionalCheckFailedException",
    )

    assert (admitted, refused) == (50, _CALLS - 50)
    assert _used(emulator, "atomic-update-test", "quota") == 50


def test_concurrent_transactions_over_http_admit_exactly_the_tightest_limit(emulator):
    _counter_table(emulator, "atomic-transaction-test")
    items = [
        {"Update": _conditional_add("atomic-transaction-test", "company", 30)},
        {"Update": _conditional_add("atomic-transaction-test", "number", 40)},
    ]

    admitted, refused = _hammer(
        emulator, lambda dynamodb: dynamodb.transact_write_items(TransactItems=items), "TransactionCanceledException"
    )

    assert (admitted, refused) == (30, _CALLS - 30)
    assert _used(emulator, "atomic-transaction-test", "company") == 30
    assert _used(emulator, "atomic-transaction-test", "number") == 30


# ------------------------------------------------------------------------------------------- transactions
# The emulator replaces moto's DynamoDBBackend.transact_write_items (local_stack/emulator_server.py): the same
# method, rolling back the items it wrote rather than deep copies of whole tables.


def _key(pk: str, sk: str | None) -> dict[str, Any]:
    return {"pk": {"S": pk}} | ({"sk": {"S": sk}} if sk is not None else {})


def _grouped_table(emulator: DynamoDBEmulator, name: str, *, ranged: bool) -> None:
    """A table keyed by pk (and sk when `ranged`), with a GSI `by_group` on `grp`."""
    dynamodb = client("dynamodb", emulator.url)
    key_names = ["pk", "sk"] if ranged else ["pk"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"} for attribute in [*key_names, "grp"]],
        KeySchema=[
            {"AttributeName": key, "KeyType": kind} for key, kind in zip(key_names, ["HASH", "RANGE"], strict=False)
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_group",
                "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})


def _contents(emulator: DynamoDBEmulator, table: str) -> dict[str, Any]:
    """Everything a client can see of `table`: its items, and what its GSI answers for each group."""
    dynamodb = client("dynamodb", emulator.url)
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    groups = {
        group: dynamodb.query(
            TableName=table,
            IndexName="by_group",
            KeyConditionExpression="grp = :g",
            ExpressionAttributeValues={":g": {"S": group}},
        )["Items"]
        for group in ("g", "h")
    }
    return {"items": sorted(items, key=repr), "by_group": groups}


_EXISTS = {"ConditionExpression": "attribute_exists(pk)"}


def _cancellation(error: pytest.ExceptionInfo[ClientError]) -> list[dict[str, Any]]:
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [dict(reason) for reason in error.value.response["CancellationReasons"]]


@pytest.mark.parametrize("ranged", [False, True], ids=["hash-key", "hash-and-range-key"])
def test_a_cancelled_transaction_leaves_every_item_and_the_gsi_as_they_were(emulator, ranged):
    table = f"tx-rollback-{'ranged' if ranged else 'flat'}"
    _grouped_table(emulator, table, ranged=ranged)
    sk = "1" if ranged else None
    dynamodb = client("dynamodb", emulator.url)
    dynamodb.put_item(TableName=table, Item=_key("counter", sk) | {"grp": {"S": "g"}, "used": {"N": "5"}})
    dynamodb.put_item(TableName=table, Item=_key("doomed", sk) | {"grp": {"S": "g"}, "note": {"S": "keep me"}})
    dynamodb.put_item(TableName=table, Item=_key("guard", sk) | {"state": {"S": "closed"}})
    before = _contents(emulator, table)

    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _key("new", sk) | {"grp": {"S": "g"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("counter", sk),
                        "UpdateExpression": "SET grp = :h ADD used :one",
                        "ExpressionAttributeValues": {":h": {"S": "h"}, ":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": _key("doomed", sk)}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key("guard", sk),
                        "ConditionExpression": "#s = :open",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":open": {"S": "open"}},
                    }
                },
            ]
        )

    assert [reason["Code"] for reason in _cancellation(error)] == ["None", "None", "None", "ConditionalCheckFailed"]
    after = _contents(emulator, table)
    assert after == before
    assert len(after["by_group"]["g"]) == 2
    assert after["by_group"]["h"] == []


def test_refused_items_come_back_whole_in_the_cancellation_reasons_with_all_old(emulator):
    table = "tx-all-old-test"
    _grouped_table(emulator, table, ranged=False)
    dynamodb = client("dynamodb", emulator.url)
    counter = _key("counter", None) | {"grp": {"S": "g"}, "used": {"N": "9"}, "limit": {"N": "9"}}
    guard = _key("guard", None) | {"state": {"S": "closed"}}
    dynamodb.put_item(TableName=table, Item=counter)
    dynamodb.put_item(TableName=table, Item=guard)
    before = _contents(emulator, table)

    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _key("new", None) | {"grp": {"S": "g"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("counter", None),
                        "UpdateExpression": "ADD used :one",
                        "ConditionExpression": "used < #limit",
                        "ExpressionAttributeNames": {"#limit": "limit"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key("guard", None),
                        "ConditionExpression": "#s = :open",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":open": {"S": "open"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key("absent", None),
                        "ConditionExpression": "attribute_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )

    reasons = _cancellation(error)
    assert [reason["Code"] for reason in reasons] == ["None", *["ConditionalCheckFailed"] * 3]
    assert reasons[1]["Item"] == counter
    assert reasons[2]["Item"] == guard
    assert "Item" not in reasons[3]  # nothing to return: the item does not exist
    assert _contents(emulator, table) == before


def test_two_operations_on_one_item_are_a_validation_error_and_change_nothing(emulator):
    table = "tx-unicity-test"
    _grouped_table(emulator, table, ranged=True)
    dynamodb = client("dynamodb", emulator.url)
    dynamodb.put_item(TableName=table, Item=_key("counter", "1") | {"grp": {"S": "g"}, "used": {"N": "1"}})
    before = _contents(emulator, table)
    bump = {
        "TableName": table,
        "Key": _key("counter", "1"),
        "UpdateExpression": "ADD used :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }

    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _key("new", "1") | {"grp": {"S": "g"}}}},
                {"Update": bump},
                {"Update": bump},
            ]
        )

    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "multiple operations on one item" in error.value.response["Error"]["Message"]
    assert _contents(emulator, table) == before


def test_a_cancelled_transaction_leaves_no_stream_records_and_the_stream_readable(emulator):
    """moto's own rollback put a copy of the table, with a copy of its stream, in place of the table: a reader's
    shard iterator kept the old stream, and read the cancelled transaction's records and none written after."""
    table = "tx-stream-test"
    dynamodb = client("dynamodb", emulator.url)
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.put_item(TableName=table, Item=_key("counter", None) | {"used": {"N": "1"}})
    streams = client("dynamodbstreams", emulator.url)
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard_id = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="LATEST")

    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _key("new", None)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("counter", None),
                        "UpdateExpression": "ADD used :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"ConditionCheck": {"TableName": table, "Key": _key("absent", None), **_EXISTS}},
            ]
        )
    _cancellation(error)
    dynamodb.put_item(TableName=table, Item=_key("after", None))

    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(record["eventName"], record["dynamodb"]["Keys"]) for record in records] == [
        ("INSERT", _key("after", None))
    ]


def test_more_than_100_items_are_a_validation_error(emulator):
    table = "tx-too-many-test"
    _counter_table(emulator, table)
    check = {"TableName": table, "Key": {"pk": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(pk)"}

    with pytest.raises(ClientError) as error:
        client("dynamodb", emulator.url).transact_write_items(TransactItems=[{"ConditionCheck": check}] * 101)

    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 100" in error.value.response["Error"]["Message"]


_TIMING_ROUNDS = 50
_FULL_TABLE_ITEMS = 3_000


def test_a_transaction_costs_about_the_same_next_to_3000_items_as_next_to_none(emulator):
    """Not a proof of the complexity, a tripwire with a wide margin: moto's own method deep-copies the table, which
    made a Put next to 3,000 items ~8 times slower than next to none; item by item it is about as fast. The
    rounds alternate between the tables and medians are compared, so a busy machine slows both alike."""
    dynamodb = client("dynamodb", emulator.url)
    for name in ("tx-timing-empty", "tx-timing-full"):
        _counter_table(emulator, name)
    for start in range(0, _FULL_TABLE_ITEMS, 25):
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": f"old-{index}"}, "body": {"S": "x" * 200}, "used": {"N": "1"}}}}
            for index in range(start, min(start + 25, _FULL_TABLE_ITEMS))
        ]
        dynamodb.batch_write_item(RequestItems={"tx-timing-full": batch})
    assert dynamodb.describe_table(TableName="tx-timing-full")["Table"]["ItemCount"] == _FULL_TABLE_ITEMS

    def put_one(table: str, index: int) -> float:
        item = {"pk": {"S": f"new-{index}"}, "body": {"S": "y" * 200}}
        started = time.perf_counter()
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            ]
        )
        return time.perf_counter() - started

    empty, full = [], []
    for index in range(_TIMING_ROUNDS):
        empty.append(put_one("tx-timing-empty", index))
        full.append(put_one("tx-timing-full", index))

    empty_median, full_median = statistics.median(empty), statistics.median(full)
    assert full_median < 3 * empty_median, f"median {full_median * 1000:.1f} ms vs {empty_median * 1000:.1f} ms"


# -------------------------------------------------------------------- the same method as moto's, in process


def _backend() -> DynamoDBBackend:
    """A DynamoDB backend of our own (no server): a table keyed by pk with a GSI and a stream, and one keyed by
    pk and sk, with a few items."""
    backend = DynamoDBBackend("eu-west-1", "123456789012")
    common: dict[str, Any] = {
        "throughput": None,
        "indexes": None,
        "billing_mode": "PAY_PER_REQUEST",
        "sse_specification": None,
        "tags": [],
        "deletion_protection_enabled": False,
        "warm_throughput": None,
    }
    backend.create_table(
        "flat",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "grp", "AttributeType": "S"}],
        global_indexes=[
            {
                "IndexName": "by_group",
                "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        **common,
    )
    backend.create_table(
        "ranged",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        global_indexes=None,
        streams=None,
        **common,
    )
    backend.put_item("flat", _key("counter", None) | {"grp": {"S": "g"}, "used": {"N": "5"}})
    backend.put_item("flat", _key("doomed", None) | {"grp": {"S": "g"}, "m": {"M": {"b": {"B": "AAE="}}}})
    backend.put_item("flat", _key("guard", None) | {"state": {"S": "closed"}})
    backend.put_item("ranged", _key("a", "1") | {"used": {"N": "1"}, "l": {"L": [{"S": "x"}, {"N": "2"}]}})
    backend.put_item("ranged", _key("a", "2") | {"used": {"N": "2"}})
    return backend


def _raw(value: Any) -> Any:
    """A stored value exactly as moto holds it (its JSON forms turn binary strings into bytes and back)."""
    if isinstance(value, DynamoType):
        return (value.type, _raw(value.value))
    if isinstance(value, dict):
        return {key: _raw(nested) for key, nested in value.items()}
    if isinstance(value, list):
        return [_raw(nested) for nested in value]
    return value


def _state(backend: DynamoDBBackend) -> dict[str, Any]:
    """Each table's items, and its stream records (without their random ids and clocks)."""
    state = {}
    for name, table in backend.tables.items():
        records = table.stream_shard.items if table.stream_shard is not None else []
        state[name] = (
            [(_raw(item.hash_key), _raw(item.range_key), _raw(dict(item.attrs))) for item in table.all_items()],
            [
                (r.record["eventName"], r.record["dynamodb"]["SequenceNumber"], r.record["dynamodb"]["Keys"])
                for r in records
            ],
            len(table),  # moto's ItemCount
        )
    return state


def _run(transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None], items: list[dict[str, Any]]) -> Any:
    backend = _backend()
    try:
        transact(backend, copy.deepcopy(items))
    except Exception as error:
        outcome: Any = (type(error).__name__, getattr(error, "description", str(error)))
    else:
        outcome = None
    return outcome, _state(backend)


def _put(table: str, pk: str, sk: str | None = None, **more: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": _key(pk, sk) | {"grp": {"S": "g"}}, **more}}


def _update(table: str, pk: str, sk: str | None = None, **more: Any) -> dict[str, Any]:
    update = {
        "TableName": table,
        "Key": _key(pk, sk),
        "UpdateExpression": "SET grp = :h ADD used :one",
        "ExpressionAttributeValues": {":h": {"S": "h"}, ":one": {"N": "1"}},
    }
    return {"Update": update | more}


def _check(table: str, pk: str, sk: str | None = None, condition: str = "attribute_exists(pk)", **more: Any):
    return {"ConditionCheck": {"TableName": table, "Key": _key(pk, sk), "ConditionExpression": condition, **more}}


_WRITES = [
    _put("flat", "new"),
    _update("flat", "counter"),
    {"Delete": {"TableName": "flat", "Key": _key("doomed", None)}},
    _put("ranged", "a", "3"),
    _update("ranged", "a", "1"),
    {"Delete": {"TableName": "ranged", "Key": _key("a", "2")}},
    _update("ranged", "b", "1"),  # creates its item
]
_ALL_OLD = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
_HUGE = {":huge": {"S": "x" * 410_000}}

TRANSACTIONS = {
    "commits": [*_WRITES, _check("flat", "guard")],
    "the last check fails": [*_WRITES, _check("flat", "guard", condition="attribute_not_exists(pk)", **_ALL_OLD)],
    "a check fails without all_old": [
        *_WRITES,
        _check("ranged", "a", "1", condition="used > :one", ExpressionAttributeValues={":one": {"N": "1"}}),
    ],
    "a conditional update fails with all_old": [
        _put("flat", "new"),
        _update("flat", "counter", ConditionExpression="used < :one", **_ALL_OLD),
        *_WRITES[2:],
    ],
    "a conditional put and delete fail": [
        _put("flat", "counter", ConditionExpression="attribute_not_exists(pk)", **_ALL_OLD),
        {
            "Delete": {
                "TableName": "ranged",
                "Key": _key("a", "2"),
                "ConditionExpression": "used = :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                **_ALL_OLD,
            }
        },
        *_WRITES[3:],
    ],
    "two operations on one item": [*_WRITES, _check("ranged", "a", "1")],
    "a key of the wrong type": [*_WRITES, {"Put": {"TableName": "flat", "Item": {"pk": {"N": "1"}}}}],
    "an update that creates its item, then is too large": [
        *_WRITES,
        {
            "Update": {
                "TableName": "ranged",
                "Key": _key("c", "1"),
                "UpdateExpression": "SET big = :huge",
                "ExpressionAttributeValues": _HUGE,
            }
        },
    ],
    "an update of an existing item that gets too large": [
        *_WRITES,
        {
            "Update": {
                "TableName": "flat",
                "Key": _key("guard", None),
                "UpdateExpression": "SET big = :huge",
                "ExpressionAttributeValues": _HUGE,
            }
        },
    ],
    "a missing table": [*_WRITES, _check("nowhere", "x")],
    "a put without its range key": [*_WRITES, {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "z"}}}}],
    "a key without its range key": [*_WRITES, _check("ranged", "a")],
    "an unknown operation": [*_WRITES, {"Get": {"TableName": "flat", "Key": _key("guard", None)}}],
    "more than 100 items": [_check("flat", "guard")] * 101,
    "exactly 100 items": [
        *_WRITES,
        *[_check("flat", f"guard-{index}", condition="attribute_not_exists(pk)") for index in range(93)],
    ],
}


@pytest.fixture(scope="module")
def moto_transact_write_items() -> Callable[[DynamoDBBackend, list[dict[str, Any]]], None]:
    """moto's own method: this process never patches it (only the emulator's `main()` does)."""
    method = DynamoDBBackend.transact_write_items
    assert method is not emulator_server.transact_write_items
    return method


@pytest.mark.parametrize("items", TRANSACTIONS.values(), ids=TRANSACTIONS.keys())
def test_the_emulators_transactions_end_exactly_as_motos(moto_transact_write_items, items):
    ours = _run(emulator_server.transact_write_items, items)
    theirs = _run(moto_transact_write_items, items)

    assert ours == theirs


def test_the_transactions_above_cover_commits_cancellations_and_validation_errors(moto_transact_write_items):
    outcomes = {name: _run(moto_transact_write_items, items)[0] for name, items in TRANSACTIONS.items()}

    assert outcomes["commits"] is None
    assert outcomes["exactly 100 items"] is None
    kinds = {name: outcome[0] for name, outcome in outcomes.items() if outcome is not None}
    assert kinds["the last check fails"] == "TransactionCanceledException"
    assert kinds["a missing table"] == "TransactionCanceledException"
    assert kinds["two operations on one item"] == "MultipleTransactionsException"
    assert kinds["more than 100 items"] == "TooManyTransactionsException"
    assert kinds["a key of the wrong type"] == "InvalidAttributeTypeError"
    assert kinds["an update that creates its item, then is too large"] == "ItemSizeToUpdateTooLarge"
    assert '"Item"' in outcomes["a conditional update fails with all_old"][1]
    # The starting state differs from every state a cancelled transaction could leave behind.
    assert _run(moto_transact_write_items, TRANSACTIONS["commits"])[1] != _state(_backend())


def test_an_entry_with_two_operations_is_refused_and_undoes_the_entries_before_it():
    """moto raises without undoing the entries already applied; DynamoDB validates the request first."""
    backend = _backend()
    before = _state(backend)
    both = _put("flat", "other") | _update("flat", "guard")

    with pytest.raises(TransactWriteSingleOpException):
        emulator_server.transact_write_items(backend, [*_WRITES, both])

    assert _state(backend) == before


def test_a_table_named_by_its_arn_is_rolled_back_too():
    backend = _backend()
    before = _state(backend)
    arn = backend.get_table("flat").table_arn

    with pytest.raises(TransactionCanceledException):
        emulator_server.transact_write_items(
            backend, [_put(arn, "new"), _update(arn, "counter"), _check("nowhere", "x")]
        )

    assert _state(backend) == before


def test_the_patch_refuses_another_moto(monkeypatch):
    emulator_server.check_moto()  # the installed one

    monkeypatch.setattr(moto, "__version__", "5.2.6")
    with pytest.raises(RuntimeError, match=r"moto 5\.2\.6 is installed"):
        emulator_server.patch_transactions()
    assert DynamoDBBackend.transact_write_items is not emulator_server.transact_write_items


def test_the_patch_refuses_a_backend_method_it_does_not_know(monkeypatch):
    def put_item(self, table_name, item, condition_expression=None):  # no expression_attribute_*
        raise AssertionError("never called")

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)
    with pytest.raises(RuntimeError, match=r"DynamoDBBackend\.put_item"):
        emulator_server.check_moto()
