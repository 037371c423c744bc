"""The template's EventBridge buses on the emulator, and a record of what was published on them.

Every `AWS::Events::EventBus` of the template is created on moto under its resolved `Name` (the name the
functions get from `!Ref`). Each bus gets one catch-all rule (`{"account": [<the emulator's account>]}` matches
every event put on it) whose target is one SQS queue; `PublishedEvents.read()` moves what arrived there into
an in-memory list, in the order EventBridge received it, so what the handlers published can be read by tests,
the demo and `GET /_local/events`.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

CAPTURE_QUEUE = "local-stack-published-events"
CAPTURE_RULE = "local-stack-capture"


class PublishedEvents:
    """The buses, the capture rule and queue on the emulator (`create()`), and the events read so far."""

    def __init__(self, client: Callable[[str], Any], bus_names: Mapping[str, str]) -> None:
        """`client(service)`: a boto3 client on the emulator; `bus_names`: logical id -> bus name."""
        self.bus_names = dict(bus_names)
        self._client = client
        self._sqs: Any = None
        self._queue_url: str | None = None
        self._read: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def create(self) -> PublishedEvents:
        if not self.bus_names:
            return self
        events, self._sqs = self._client("events"), self._client("sqs")
        queue_url: str = self._sqs.create_queue(QueueName=CAPTURE_QUEUE)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        account = self._client("sts").get_caller_identity()["Account"]
        for name in self.bus_names.values():
            try:
                events.create_event_bus(Name=name)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
            events.put_rule(
                Name=CAPTURE_RULE,
                EventBusName=name,
                EventPattern=json.dumps({"account": [account]}),
                Description="local stack: every event on the bus, into the capture queue",
            )
            targets = [{"Id": "capture", "Arn": attributes["QueueArn"]}]
            events.put_targets(Rule=CAPTURE_RULE, EventBusName=name, Targets=targets)
        self._queue_url = queue_url
        return self

    def read(self) -> list[dict[str, Any]]:
        """Every event published so far, oldest first: `{"detail_type", "source", "detail"}`."""
        with self._lock:
            while self._queue_url is not None:
                answer = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
                )
                messages = answer.get("Messages") or []
                if not messages:
                    break
                for message in messages:
                    event = json.loads(message["Body"])
                    detail_type, source = event.get("detail-type"), event.get("source")
                    self._read.append({"detail_type": detail_type, "source": source, "detail": event.get("detail")})
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                    ],
                )
            return copy.deepcopy(self._read)
