"""Aircall's callbacks while DynamoDB throttles the gateway, over HTTP through the whole local stack: the sandbox
posts them to the front, the InboundFunction answers 200 and puts them on the callbacks queue (moto's SQS, created
from template.yaml), the stack's queue poller hands them back to the InboundFunction as Lambda's SQS event source
mapping would, and once DynamoDB recovers each one is applied, once."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from aircall_sms.store.base import raw_client

FR_MOBILE = 100004


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def callbacks_throttled(stack) -> Iterator[threading.Event]:
    """While the event is set, every write to CallbacksTable (the callback's record) is answered DynamoDB's
    throttling answer, on the gateway's own client (the handlers run in this process)."""
    table = stack.tables["CallbacksTable"]
    throttling = threading.Event()
    throttling.set()

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if not throttling.is_set() or f'"TableName": "{table}"' not in request.body.decode():
            return None
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "injected"})
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-RequestId"] = uuid.uuid4().hex
        return AWSResponse(request.url, 400, headers, _Raw(body.encode()))

    client = raw_client()
    client.meta.events.register("before-send.dynamodb.PutItem", throttle)
    yield throttling
    client.meta.events.unregister("before-send.dynamodb.PutItem", throttle)


def test_callbacks_that_dynamodb_throttles_are_answered_200_queued_and_applied_once_it_recovers(
    stack, api, aircall, callbacks_throttled
):
    assert api.put(f"/numbers/{FR_MOBILE}", json={"mode": "proxy"}).status_code in (200, 201)
    answer = api.post(
        "/messages",
        json={"from": FR_MOBILE, "to": "+33612345679", "text": "q " + uuid.uuid4().hex, "human_author": "Camille"},
    )
    assert answer.status_code == 201, answer.text
    sent = answer.json()["message"]
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    deliveries = aircall.get("/_sandbox/callbacks", params={"message_id": sent["aircall_id"]}).json()["callbacks"]
    # Aircall got its 200 for each status callback, although none could be recorded
    assert [(d["payload"]["data"]["status"], d["status_code"]) for d in deliveries] == [
        ("sent", 200),
        ("delivered", 200),
    ]
    assert api.get(f"/messages/{sent['id']}").json()["message"]["status"] == "queued"
    # DynamoDB recovers: the queue's poller hands them over again and they are applied
    callbacks_throttled.clear()
    stack.drain_queues(timeout=20)
    message = api.get(f"/messages/{sent['id']}").json()["message"]
    assert message["status"] == "delivered"
    # A standard queue keeps no order: `sent` may come after `delivered`, and then does not move the message back.
    history = [step["status"] for step in message["status_history"]]
    assert history in (["unknown", "queued", "sent", "delivered"], ["unknown", "queued", "delivered"]), history
    dead = stack.client("sqs").get_queue_url(QueueName="CallbacksDeadLetterQueue")["QueueUrl"]
    assert stack.client("sqs").receive_message(QueueUrl=dead).get("Messages", []) == []
