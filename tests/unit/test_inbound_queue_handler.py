"""The InboundFunction's answer to an SQS batch (unit: the intake is replaced): a partial batch response naming
exactly the callbacks to deliver again."""

from __future__ import annotations

import pytest

from aircall_sms.errors import InvalidCallback, ServiceBusy, Unauthorized
from aircall_sms.use_cases import callbacks
from aircall_sms.use_cases.callbacks import CallbackOutcome
from tests.support import FakeContext, load_handler


def test_a_batch_reports_only_the_callbacks_dynamodb_could_not_take(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: dict[str, CallbackOutcome | Exception] = {
        "applied": CallbackOutcome(event="message.status_updated", result="updated"),
        "throttled": ServiceBusy("busy"),
        "crashed": TimeoutError("read timeout"),
        "forged": Unauthorized("bad token"),
        "malformed": InvalidCallback("no data"),
    }
    waits: list[bool] = []

    def intake(body: str, *, wait: bool = True) -> CallbackOutcome:
        waits.append(wait)
        outcome = outcomes[body]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(callbacks, "handle_callback", intake)
    event = {"Records": [{"messageId": f"id-{body}", "body": body, "eventSource": "aws:sqs"} for body in outcomes]}
    answer = load_handler("inbound").lambda_handler(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "id-throttled"}, {"itemIdentifier": "id-crashed"}]}
    assert waits == [False] * len(outcomes)  # a queued status never waits for its send: the sweep applies it
