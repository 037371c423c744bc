"""Lambda's DynamoDB event source mappings, locally: one background thread per `Type: DynamoDB` event of the
template reads that table's stream in the emulator and calls the function's handler in-process with the event
Lambda would build.

Each poller, like Lambda:
- reads the table's stream (`LatestStreamArn` from DescribeTable, its shard, `StartingPosition`) with GetRecords,
  at most `BatchSize` records at a time: at once while records keep coming, every `poll_interval` seconds
  (0.1) in the `IDLE_AFTER` seconds after the last record or `wake()`, then every `IDLE_POLL_INTERVAL` seconds
  (moto keeps every shard iterator it hands out, ~1.6 KB per GetRecords: polling a quiet stream ten times a
  second would grow the emulator by ~55 MB an hour per stream);
- calls the handler with `{"Records": [...]}`: `eventID`, `eventName`, `eventVersion`, `eventSource`, `awsRegion`,
  `eventSourceARN` (the stream's ARN), `dynamodb` with `Keys`, `NewImage`, `OldImage` (DynamoDB JSON, binary
  values in base64), `SequenceNumber`, `SizeBytes`, `StreamViewType` and `ApproximateCreationDateTime` (epoch
  seconds);
- with `ReportBatchItemFailures`, retries the batch from the lowest sequence number the handler names in
  `batchItemFailures` (an identifier that is not in the batch fails the whole batch); a handler that raises
  fails the whole batch. After `max_retries` retries (the template's `MaximumRetryAttempts`, at most
  `LOCAL_MAX_RETRIES` here) the records are given up: written to stderr and kept in `failures`, where Lambda
  would send them to the `OnFailure` destination.

`FilterCriteria` is applied as Lambda applies it (`local_stack.event_filter`): records that match none of the
patterns are never handed to the function, and a batch with none left is no invocation. Not reproduced: batching
windows, `BisectBatchOnFunctionError`, parallelisation factor, record age limits. `StreamPollers.drain(timeout)`
waits until every poller has handed every record written before the call to its handler.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from local_stack.event_filter import matches_any
from local_stack.template import StreamSource

POLL_INTERVAL = 0.1
IDLE_POLL_INTERVAL = 1.0
IDLE_AFTER = 10.0
LOCAL_MAX_RETRIES = 3
_RETRY_DELAY = 0.1  # doubled after every failed attempt, at most _RETRY_DELAY_MAX
_RETRY_DELAY_MAX = 1.0
_ERROR_PAUSE = 0.5  # after a failed GetRecords (the emulator busy or gone)

Invoke = Callable[[str, dict[str, Any]], Any]
ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class UndeliveredBatch:
    """Records a poller gave up on (what Lambda would send to the `OnFailure` destination)."""

    function_id: str
    event_id: str
    sequence_numbers: tuple[str, ...]
    attempts: int
    error: str


class StreamPoller:
    """One `Type: DynamoDB` event: reads the table's stream and hands its records to the function."""

    def __init__(
        self,
        source: StreamSource,
        invoke: Invoke,
        *,
        dynamodb: Any,
        streams: Any,
        region: str,
        poll_interval: float = POLL_INTERVAL,
        max_retries: int = LOCAL_MAX_RETRIES,
        log: TextIO | None = None,
    ) -> None:
        """`invoke(function_id, event)` calls the function; `dynamodb`, `streams`: boto3 clients on the emulator
        (`dynamodb`, `dynamodbstreams`; clients are thread-safe, pollers may share them)."""
        self.source = source
        self._invoke = invoke
        self._dynamodb = dynamodb
        self._streams = streams
        self._region = region
        self._poll_interval = poll_interval
        retries = source.maximum_retry_attempts
        self._max_retries = min(retries, max_retries) if retries >= 0 else max_retries
        self._log = log
        self.failures: list[UndeliveredBatch] = []
        self.stream_arn: str | None = None
        self._shard_id: str | None = None
        self._iterator: str | None = None
        self._last_sequence_number: str | None = None
        self._condition = threading.Condition()
        self._stopping = False
        self._woken = False
        self._busy_until = time.monotonic() + IDLE_AFTER  # poll every `poll_interval` until then
        self._caught_up_at = float("-inf")  # when the last GetRecords that found nothing new started
        self._thread: threading.Thread | None = None
        self._finished = False

    @property
    def name(self) -> str:
        return f"{self.source.function_id}.{self.source.event_id}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._finished

    # -- lifecycle

    def start(self) -> StreamPoller:
        """Find the stream and take its first iterator now (records written from here on are not missed),
        then poll in a background thread."""
        if self._thread is not None:
            return self
        table = self._dynamodb.describe_table(TableName=self.source.table_name)["Table"]
        self.stream_arn = table.get("LatestStreamArn")
        if not self.stream_arn:
            raise RuntimeError(f"{self.name}: the table {self.source.table_name} has no stream in the emulator")
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        self._shard_id = shards[-1]["ShardId"]  # moto keeps one open shard per table
        self._iterator = self._shard_iterator(self.source.starting_position)
        self._thread = threading.Thread(target=self._run, name=f"local-stack-stream-{self.name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the thread to stop after the batch it is handling (not retried); `stop()` also waits for it."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and wait for the thread."""
        self.request_stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"the stream poller {self.name} did not stop within {timeout}s")

    def wake(self) -> None:
        """Poll now rather than at the end of the current interval."""
        with self._condition:
            self._woken = True
            self._busy_until = time.monotonic() + IDLE_AFTER
            self._condition.notify_all()

    def wait_caught_up(self, since: float, timeout: float) -> bool:
        """Wait until a GetRecords that started at or after `since` (a `time.monotonic()` value) found nothing
        new, every record before it handed to the function; False on timeout."""
        with self._condition:
            self._condition.wait_for(lambda: self._caught_up_at >= since or not self.running, timeout=max(0.0, timeout))
            if self._caught_up_at >= since:
                return True
        if not self.running:
            raise RuntimeError(f"the stream poller {self.name} is not running")
        return False

    # -- the polling thread

    def _run(self) -> None:
        try:
            self._poll()
        except BaseException:
            self._write(f"stopped by an unexpected error:\n{traceback.format_exc()}")
            raise
        finally:
            with self._condition:  # whoever waits for this poller learns it is gone
                self._finished = True
                self._condition.notify_all()

    def _poll(self) -> None:
        while not self._stop_requested():
            started = time.monotonic()
            try:
                records = self._read()
            except Exception as error:
                if self._stop_requested():
                    break
                self._write(f"GetRecords failed ({type(error).__name__}: {error}); reading again shortly")
                self._pause(_ERROR_PAUSE)
                self._renew_iterator()
                continue
            if records:
                self._deliver(records)
                self._last_sequence_number = str(records[-1]["dynamodb"]["SequenceNumber"])
                self._busy_until = time.monotonic() + IDLE_AFTER
                continue  # more may be waiting: read again at once
            with self._condition:
                self._caught_up_at = started
                self._condition.notify_all()
            quiet = time.monotonic() > self._busy_until
            self._pause(max(self._poll_interval, IDLE_POLL_INTERVAL) if quiet else self._poll_interval)

    def _read(self) -> list[dict[str, Any]]:
        """The next batch: at most `BatchSize` records, without moto's interim INSERTs.

        moto's UpdateItem on a missing item records two INSERTs, the key alone and then the item, where DynamoDB
        records one. The emulator answers one request at a time, so both are in the stream whenever the first one
        is: reading one record more than the batch sees every pair whole, and drops the first of it. Records past
        the batch are read again next time."""
        limit = self.source.batch_size
        answer = self._streams.get_records(ShardIterator=self._iterator, Limit=limit + 1)
        records = without_interim_inserts(answer.get("Records") or [])
        if len(records) > limit:
            self._iterator = self._shard_iterator(
                "AT_SEQUENCE_NUMBER", str(records[limit]["dynamodb"]["SequenceNumber"])
            )
            return records[:limit]
        self._iterator = answer.get("NextShardIterator") or self._iterator
        return records

    def _stop_requested(self) -> bool:
        return self._stopping

    def _pause(self, seconds: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._woken or self._stopping, timeout=seconds)
            self._woken = False

    def _shard_iterator(self, iterator_type: str, sequence_number: str | None = None) -> str:
        arguments: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "ShardId": self._shard_id,
            "ShardIteratorType": iterator_type,
        }
        if sequence_number is not None:
            arguments["SequenceNumber"] = sequence_number
        iterator: str = self._streams.get_shard_iterator(**arguments)["ShardIterator"]
        return iterator

    def _renew_iterator(self) -> None:
        try:
            if self._last_sequence_number is None:
                self._iterator = self._shard_iterator(self.source.starting_position)
            else:
                self._iterator = self._shard_iterator("AFTER_SEQUENCE_NUMBER", self._last_sequence_number)
        except Exception as error:
            if not self._stopping:
                self._write(f"GetShardIterator failed ({type(error).__name__}: {error})")

    def _deliver(self, records: Sequence[Mapping[str, Any]]) -> None:
        batch = [lambda_record(record, self.stream_arn or "", self._region) for record in records]
        batch = [record for record in batch if matches_any(record, self.source.filter_patterns)]
        if not batch:
            return
        attempts = 0
        while True:
            attempts += 1
            error = ""
            try:
                answer = self._invoke(self.source.function_id, {"Records": batch})
                failed_from = self._first_failure(answer, batch)
                if failed_from is not None:
                    error = f"batchItemFailures from {batch[failed_from]['dynamodb']['SequenceNumber']}"
            except Exception as raised:
                failed_from, error = 0, f"{type(raised).__name__}: {raised}"
                self._write(f"the handler raised on {len(batch)} records:\n{traceback.format_exc()}")
            if failed_from is None:
                return
            batch = batch[failed_from:]
            if attempts > self._max_retries or self._stopping:
                self._give_up(batch, attempts, error)
                return
            self._pause_for_retry(min(_RETRY_DELAY * 2 ** (attempts - 1), _RETRY_DELAY_MAX))

    def _pause_for_retry(self, seconds: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._stopping, timeout=seconds)

    def _first_failure(self, answer: Any, batch: Sequence[Mapping[str, Any]]) -> int | None:
        """The index of the first record to retry, as Lambda reads a `ReportBatchItemFailures` answer."""
        if not self.source.report_batch_item_failures or not isinstance(answer, Mapping):
            return None
        failures = answer.get("batchItemFailures")
        if not failures:
            return None
        positions = {str(record["dynamodb"]["SequenceNumber"]): index for index, record in enumerate(batch)}
        indexes = [
            positions.get(str(failure.get("itemIdentifier")), 0) if isinstance(failure, Mapping) else 0
            for failure in failures
        ]
        return min(indexes)

    def _give_up(self, batch: Sequence[Mapping[str, Any]], attempts: int, error: str) -> None:
        numbers = tuple(str(record["dynamodb"]["SequenceNumber"]) for record in batch)
        self.failures.append(UndeliveredBatch(self.source.function_id, self.source.event_id, numbers, attempts, error))
        self._write(
            f"gave up on {len(numbers)} stream records ({numbers[0]} .. {numbers[-1]}) after {attempts} attempts "
            f"({error}); on AWS they would go to the event source mapping's OnFailure destination"
        )

    def _write(self, message: str) -> None:
        print(f"local_stack: {self.name}: {message}", file=self._log or sys.stderr, flush=True)


class StreamPollers:
    """Every `Type: DynamoDB` event of a template, polled; `drain()` waits for them to catch up."""

    def __init__(
        self,
        sources: Iterable[StreamSource],
        invoke: Invoke,
        client: ClientFactory,
        *,
        region: str,
        poll_interval: float = POLL_INTERVAL,
        max_retries: int = LOCAL_MAX_RETRIES,
        log: TextIO | None = None,
    ) -> None:
        enabled = [source for source in sources if source.enabled]
        dynamodb, streams = (client("dynamodb"), client("dynamodbstreams")) if enabled else (None, None)
        self.pollers = [
            StreamPoller(
                source,
                invoke,
                dynamodb=dynamodb,
                streams=streams,
                region=region,
                poll_interval=poll_interval,
                max_retries=max_retries,
                log=log,
            )
            for source in enabled
        ]

    def start(self) -> StreamPollers:
        try:
            for poller in self.pollers:
                poller.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        errors: list[BaseException] = []
        for poller in self.pollers:
            poller.request_stop()
        for poller in self.pollers:
            try:
                poller.stop(timeout)
            except BaseException as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def drain(self, timeout: float = 10.0) -> None:
        """Return once every record written to the polled streams before this call has been handed to its
        function (retries included); TimeoutError if that takes longer than `timeout` seconds."""
        since = time.monotonic()
        deadline = since + timeout
        for poller in self.pollers:
            poller.wake()
        for poller in self.pollers:
            if not poller.wait_caught_up(since, deadline - time.monotonic()):
                raise TimeoutError(f"the stream poller {poller.name} did not catch up within {timeout}s")

    @property
    def failures(self) -> list[UndeliveredBatch]:
        return [failure for poller in self.pollers for failure in poller.failures]


# ----------------------------------------------------------------------------------------------- the event


def without_interim_inserts(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` without an INSERT that the next record, an INSERT of the same key, replaces (moto's UpdateItem
    creating an item; DynamoDB never records two INSERTs of a key without a REMOVE between them)."""
    kept: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        following = records[index + 1] if index + 1 < len(records) else None
        if (
            following is not None
            and record.get("eventName") == "INSERT"
            and following.get("eventName") == "INSERT"
            and (record.get("dynamodb") or {}).get("Keys") == (following.get("dynamodb") or {}).get("Keys")
        ):
            continue
        kept.append(record)
    return kept


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record (as boto3 returns it) as Lambda's DynamoDB event record."""
    change = record.get("dynamodb") or {}
    dynamodb: dict[str, Any] = {}
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    elif created is not None:
        dynamodb["ApproximateCreationDateTime"] = created
    for name in ("Keys", "NewImage", "OldImage"):
        if name in change:
            dynamodb[name] = {attribute: _lambda_value(value) for attribute, value in change[name].items()}
    for name in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in change:
            dynamodb[name] = change[name]
    event: dict[str, Any] = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # TTL deletions: {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        event["userIdentity"] = record["userIdentity"]
    return event


def _lambda_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute value in DynamoDB JSON as Lambda's event writes it: binary values in base64."""
    ((kind, content),) = value.items()
    if kind == "B":
        return {kind: _base64(content)}
    if kind == "BS":
        return {kind: [_base64(item) for item in content]}
    if kind == "M":
        return {kind: {name: _lambda_value(item) for name, item in content.items()}}
    if kind == "L":
        return {kind: [_lambda_value(item) for item in content]}
    return {kind: content}


def _base64(content: bytes | str) -> str:
    return base64.b64encode(content).decode() if isinstance(content, bytes) else content
