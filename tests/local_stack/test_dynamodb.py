"""The DynamoDB emulator: moto's server as a subprocess, the template's tables in it, conditional writes that are
atomic under concurrency, nothing left behind."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

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
