"""The stream pollers: Lambda's DynamoDB event source mappings against the emulator's streams, with a recording
function in place of a handler."""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from local_stack.dynamodb import DynamoDBEmulator, client
from local_stack.streams import StreamPollers, lambda_record, without_interim_inserts
from local_stack.template import StreamSource

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
_tables = itertools.count(1)


@pytest.fixture(scope="module")
def emulator():
    with DynamoDBEmulator(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def clients(emulator) -> Callable[[str], Any]:
    """boto3 clients on the emulator, from one session (made in this thread: a session is not for threads)."""
    session = boto3.session.Session()
    return lambda service: client(service, emulator.url, region=REGION, session=session)


@pytest.fixture
def dynamodb(clients):
    return clients("dynamodb")


@pytest.fixture
def table(dynamodb) -> str:
    """A fresh table with a NEW_AND_OLD_IMAGES stream, keyed by `pk`."""
    name = f"streamed-{next(_tables)}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


class Recorder:
    """A function: records every event, answers what `answer(event, call)` says (or raises it)."""

    def __init__(self, answer: Callable[[dict[str, Any], int], Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._answer = answer
        self._lock = threading.Lock()

    def __call__(self, function_id: str, event: dict[str, Any]) -> Any:
        assert function_id == "Consumer"
        with self._lock:
            self.events.append(event)
            call = len(self.events)
        if self._answer is None:
            return None
        answer = self._answer(event, call)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def records(self) -> list[dict[str, Any]]:
        return [record for event in self.events for record in event["Records"]]


# This module's pollers only: a local stack of another test module may be running its own at the same time.
OUR_THREADS = "local-stack-stream-Consumer."


def source(table: str, **overrides: Any) -> StreamSource:
    settings: dict[str, Any] = {
        "function_id": "Consumer",
        "event_id": "Changes",
        "table_logical_id": "Table",
        "table_name": table,
        "starting_position": "TRIM_HORIZON",
        "batch_size": 100,
        "maximum_retry_attempts": -1,
        "report_batch_item_failures": True,
        "enabled": True,
    } | overrides
    return StreamSource(**settings)


@pytest.fixture
def polled(clients) -> Iterator[Callable[..., StreamPollers]]:
    """Starts pollers for the test and stops them after it."""
    started: list[StreamPollers] = []

    def start(recorder: Recorder, *sources: StreamSource, **settings: Any) -> StreamPollers:
        pollers = StreamPollers(
            sources,
            recorder,
            clients,
            region=REGION,
            poll_interval=0.02,
            **settings,
        ).start()
        started.append(pollers)
        return pollers

    yield start
    for pollers in started:
        pollers.stop()


def put(dynamodb, table: str, key: str, **attributes: Any) -> None:
    item = {"pk": {"S": key}} | {name: {"S": value} for name, value in attributes.items()}
    dynamodb.put_item(TableName=table, Item=item)


def test_records_reach_the_function_as_lambda_builds_its_dynamodb_event(dynamodb, table, polled):
    recorder = Recorder()
    pollers = polled(recorder, source(table))
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]

    put(dynamodb, table, "a", colour="red")
    put(dynamodb, table, "a", colour="blue")
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "a"}})
    pollers.drain(10)

    inserted, modified, removed = recorder.records
    assert [record["eventName"] for record in recorder.records] == ["INSERT", "MODIFY", "REMOVE"]
    assert inserted["eventSourceARN"] == stream_arn
    assert (inserted["eventSource"], inserted["eventVersion"], inserted["awsRegion"]) == (
        "aws:dynamodb",
        "1.1",
        REGION,
    )
    assert inserted["dynamodb"]["Keys"] == {"pk": {"S": "a"}}
    assert inserted["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "colour": {"S": "red"}}
    assert "OldImage" not in inserted["dynamodb"]
    assert isinstance(inserted["dynamodb"]["ApproximateCreationDateTime"], int)
    assert inserted["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert modified["dynamodb"]["OldImage"]["colour"] == {"S": "red"}
    assert modified["dynamodb"]["NewImage"]["colour"] == {"S": "blue"}
    assert "NewImage" not in removed["dynamodb"]
    numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in recorder.records]
    assert numbers == sorted(numbers)


def test_an_update_that_creates_an_item_is_one_insert_as_in_dynamodb(dynamodb, table, polled):
    # moto records the key alone, then the item; DynamoDB records one INSERT.
    recorder = Recorder()
    pollers = polled(recorder, source(table))

    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "b"}},
        UpdateExpression="SET colour = :colour",
        ExpressionAttributeValues={":colour": {"S": "green"}},
    )
    pollers.drain(10)

    assert [record["eventName"] for record in recorder.records] == ["INSERT"]
    assert recorder.records[0]["dynamodb"]["NewImage"] == {"pk": {"S": "b"}, "colour": {"S": "green"}}


def test_batches_hold_at_most_batch_size_records_and_keep_stream_order(dynamodb, table, polled):
    recorder = Recorder()
    keys = [f"k{index}" for index in range(8)]
    for key in keys[:4]:  # some written before the poller starts (TRIM_HORIZON), some after
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
        )
    pollers = polled(recorder, source(table, batch_size=3))
    for key in keys[4:]:
        put(dynamodb, table, key)
    pollers.drain(10)

    assert all(1 <= len(event["Records"]) <= 3 for event in recorder.events)
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in recorder.records] == keys


def test_latest_skips_what_was_written_before_the_poller_started(dynamodb, table, polled):
    put(dynamodb, table, "old")
    recorder = Recorder()
    pollers = polled(recorder, source(table, starting_position="LATEST"))

    put(dynamodb, table, "new")
    pollers.drain(10)

    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in recorder.records] == ["new"]


def test_reported_item_failures_are_retried_from_the_lowest_one(dynamodb, table, polled):
    # Given a function that fails the second record of its first batch once
    def answer(event, call):
        if call == 1:
            return {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    recorder = Recorder(answer)
    for key in ("x", "y", "z"):
        put(dynamodb, table, key)
    # When the poller hands it the stream
    pollers = polled(recorder, source(table))
    pollers.drain(10)

    # Then the retry starts at the failed record and includes everything after it
    first, retry = recorder.events
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in first["Records"]] == ["x", "y", "z"]
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in retry["Records"]] == ["y", "z"]
    assert pollers.failures == []


def test_records_still_failing_after_the_retries_are_given_up_and_reported(dynamodb, table, polled, capsys):
    recorder = Recorder(lambda event, call: {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]})
    put(dynamodb, table, "p")
    pollers = polled(recorder, source(table, maximum_retry_attempts=10), max_retries=2)

    pollers.drain(10)
    put(dynamodb, table, "q")  # the poller goes on with the next records
    pollers.drain(10)

    # An identifier that is not in the batch fails the whole batch, as in Lambda; 1 attempt + 2 retries each.
    assert len(recorder.events) == 6
    assert [failure.attempts for failure in pollers.failures] == [3, 3]
    assert "gave up on 1 stream records" in capsys.readouterr().err


def test_a_function_that_raises_fails_the_whole_batch(dynamodb, table, polled, capsys):
    recorder = Recorder(lambda event, call: RuntimeError("boom") if call == 1 else None)
    put(dynamodb, table, "r")
    put(dynamodb, table, "s")
    pollers = polled(recorder, source(table))

    pollers.drain(10)

    assert [len(event["Records"]) for event in recorder.events] == [2, 2]
    assert "RuntimeError: boom" in capsys.readouterr().err
    assert pollers.failures == []


def test_without_report_batch_item_failures_the_answer_is_ignored(dynamodb, table, polled):
    recorder = Recorder(lambda event, call: {"batchItemFailures": [{"itemIdentifier": "anything"}]})
    put(dynamodb, table, "t")
    pollers = polled(recorder, source(table, report_batch_item_failures=False))

    pollers.drain(10)

    assert len(recorder.events) == 1


def test_stopping_joins_every_poller_thread(dynamodb, table, clients):
    second = f"{table}-second"
    dynamodb.create_table(
        TableName=second,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    pollers = StreamPollers(
        [source(table), source(second, event_id="Second")],
        Recorder(),
        clients,
        region=REGION,
    ).start()
    assert sum(thread.name.startswith(OUR_THREADS) for thread in threading.enumerate()) == 2

    pollers.stop()

    assert not any(thread.name.startswith(OUR_THREADS) for thread in threading.enumerate())
    with pytest.raises(RuntimeError, match="not running"):
        pollers.drain(1)


def test_a_table_without_a_stream_is_refused_at_start(dynamodb, clients):
    dynamodb.create_table(
        TableName="unstreamed",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    pollers = StreamPollers([source("unstreamed")], Recorder(), clients, region=REGION)

    with pytest.raises(RuntimeError, match="has no stream"):
        pollers.start()
    assert not any(thread.name.startswith(OUR_THREADS) for thread in threading.enumerate())


def test_binary_values_are_base64_in_the_event_as_lambda_writes_them():
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {
                "pk": {"S": "a"},
                "blob": {"B": b"\x00\x01"},
                "nested": {"M": {"blobs": {"BS": [b"\xff"]}, "items": {"L": [{"B": b"\x02"}, {"N": "3"}]}}},
            },
            "SequenceNumber": "7",
        },
    }

    image = lambda_record(record, "arn:aws:dynamodb:eu-west-1:1:table/t/stream/l", REGION)["dynamodb"]["NewImage"]

    assert image["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert image["nested"]["M"]["blobs"] == {"BS": ["/w=="]}
    assert image["nested"]["M"]["items"] == {"L": [{"B": "Ag=="}, {"N": "3"}]}


def test_only_an_insert_replaced_by_the_next_insert_of_its_key_is_dropped():
    def record(name: str, key: str) -> dict[str, Any]:
        return {"eventName": name, "dynamodb": {"Keys": {"pk": {"S": key}}}}

    records = [record("INSERT", "a"), record("INSERT", "a"), record("INSERT", "b"), record("MODIFY", "b")]
    records += [record("REMOVE", "c"), record("INSERT", "c")]

    kept = without_interim_inserts(records)

    assert kept == records[1:]
