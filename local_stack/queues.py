"""Lambda's SQS event source mappings, locally: the template's queues created in the emulator (moto's SQS, with
their redrive policies), and one background thread per `Type: SQS` event of the template that reads its queue
and calls the function's handler in-process with the event Lambda would build.

Each poller, like Lambda:
- receives at most `BatchSize` messages (at most 10, SQS's limit), again at once while messages keep coming,
  after `POLL_INTERVAL` (0.2 s) when the queue was empty. Short polls, not Lambda's long polls: the emulator
  answers one request at a time (`local_stack.emulator_server`), so a long poll would hold every other call;
- calls the handler with `{"Records": [...]}`: `messageId`, `receiptHandle`, `body`, `attributes`,
  `messageAttributes`, `md5OfBody`, `eventSource` (`aws:sqs`), `eventSourceARN`, `awsRegion`;
- deletes the messages the handler did not name in `batchItemFailures` (with `ReportBatchItemFailures`), none
  when it raised (or named an identifier not in the batch); the others are received again later, and the
  queue's redrive policy (moto applies it) moves a message that keeps failing to the dead-letter queue.

Not reproduced: a failed message becomes visible again after `LOCAL_RETRY_DELAY` seconds (1), not after the
queue's visibility timeout (90 s in the template), so a local retry does not wait minutes; batching windows,
`ScalingConfig`, filters. `QueuePollers.drain(timeout)` waits until every polled queue is empty.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from local_stack.template import QueueSource, QueueSpec

POLL_INTERVAL = 0.2  # seconds between two polls of an empty queue
LOCAL_RETRY_DELAY = 1  # seconds before a failed message is received again
_ERROR_PAUSE = 0.5

Invoke = Callable[[str, dict[str, Any]], Any]


def create_queues(sqs: Any, specs: Iterable[QueueSpec]) -> dict[str, str]:
    """Create every queue (dead-letter queues first, as `queue_specs` orders them): logical id -> its URL."""
    return {
        spec.logical_id: sqs.create_queue(QueueName=spec.name, Attributes=spec.attributes)["QueueUrl"] for spec in specs
    }


class QueuePoller:
    """One `Type: SQS` event: reads its queue and hands the messages to the function."""

    def __init__(
        self, source: QueueSource, invoke: Invoke, *, sqs: Any, region: str, log: TextIO | None = None
    ) -> None:
        self.source = source
        self._invoke = invoke
        self._sqs = sqs
        self._region = region
        self._log = log or sys.stderr
        self._url = sqs.get_queue_url(QueueName=source.queue_name)["QueueUrl"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.source.function_id}.{self.source.event_id}"

    def start(self) -> QueuePoller:
        self._thread = threading.Thread(target=self._run, name=f"local-stack-queue-{self.name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def empty(self) -> bool:
        """Nothing waits on the queue or is being handled (received and not deleted yet)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)["Attributes"]
        return all(int(attributes.get(name, "0")) == 0 for name in names)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once():
                    self._stop.wait(POLL_INTERVAL)
            except Exception:  # the emulator busy or gone: try again shortly, as Lambda's poller would
                if self._stop.is_set():
                    return
                time.sleep(_ERROR_PAUSE)

    def poll_once(self) -> int:
        """One ReceiveMessage and its batch handed over; the number of messages handed over."""
        answer = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=max(1, min(self.source.batch_size, 10)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        received = answer.get("Messages", [])
        if received:
            self._hand_over(received)
        return len(received)

    def _hand_over(self, received: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in received]}
        ids = {message["MessageId"] for message in received}
        try:
            answer = self._invoke(self.source.function_id, event)
            again = ids
            if self.source.report_batch_item_failures and isinstance(answer, dict):
                named = {str(item.get("itemIdentifier")) for item in answer.get("batchItemFailures") or []}
                again = named if named <= ids else ids  # an identifier not in the batch fails the whole batch
            elif not self.source.report_batch_item_failures:
                again = set()
        except Exception:
            print(f"local stack: {self.name} failed a batch of {len(ids)}:", file=self._log)
            traceback.print_exc(file=self._log)
            again = ids
        for message in received:
            if message["MessageId"] in again:
                self._sqs.change_message_visibility(
                    QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=LOCAL_RETRY_DELAY
                )
            else:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self._region,
        }


class QueuePollers:
    """Every enabled `Type: SQS` event of a template, polled; `drain()` waits for their queues to empty."""

    def __init__(
        self, sources: Iterable[QueueSource], invoke: Invoke, sqs: Any, *, region: str, log: TextIO | None = None
    ) -> None:
        self.pollers = [
            QueuePoller(source, invoke, sqs=sqs, region=region, log=log) for source in sources if source.enabled
        ]

    def start(self) -> QueuePollers:
        for poller in self.pollers:
            poller.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        for poller in self.pollers:
            poller.request_stop()
        for poller in self.pollers:
            poller.stop(timeout)

    def drain(self, timeout: float = 10.0) -> None:
        """Return once every polled queue is empty (its messages handled and deleted, or moved to a dead-letter
        queue); TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not all(poller.empty() for poller in self.pollers):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the polled queues did not empty within {timeout}s")
            time.sleep(0.1)
