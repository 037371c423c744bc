"""Idempotent replays: a request whose Idempotency-Key was used before gets the first request's answer again (and
never a second send); with a different body it is a 409 `idempotency_conflict`. While the first request is still
in flight, the replay waits for its answer, at most as long as the first request's Aircall call can take."""

from __future__ import annotations

import time
from typing import Any

from aircall_sms.clients.aircall import AircallOutcomeUnknown, gateway_error
from aircall_sms.domain.status import WAITING
from aircall_sms.errors import IdempotencyConflict
from aircall_sms.observability import metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import idempotency, messages
from aircall_sms.store.transactions import Guard
from aircall_sms.use_cases.send.outcome import SendOutcome
from aircall_sms.use_cases.send.prepare import PreparedSend, StartOver

IDEMPOTENCY = Guard("idempotency")
REPLAYED = {"Idempotent-Replayed": "true"}


def replay_if_used(prepared: PreparedSend) -> SendOutcome | None:
    """Before refusing on the request alone: a key used by an earlier (accepted) request replays its answer."""
    if prepared.key_digest is None:
        return None
    item = idempotency.read(prepared.key_digest)
    return replay(prepared, item) if item else None


def replay(prepared: PreparedSend, item: dict[str, Any] | None) -> SendOutcome:
    """The first answer given to this Idempotency-Key; waits while the first request is still in flight."""
    assert prepared.key_digest is not None
    settings = get_settings()
    deadline = time.monotonic() + min(12.0, settings.aircall_connect_timeout + settings.aircall_read_timeout + 1)
    while True:
        if item is None:  # the first request gave up (nothing was sent): this one may go ahead as new
            raise StartOver
        if item.get("fingerprint", {}).get("S") != prepared.fingerprint:
            raise IdempotencyConflict(
                "This Idempotency-Key was used with a different request body.",
                details={"message_id": item.get("message_id", {}).get("S")},
            )
        answer = idempotency.stored_answer(item)
        if answer is not None:
            metrics.add_metric(name="IdempotentReplays", unit="Count", value=1)
            return SendOutcome(int(answer["status"]), answer["body"], dict(REPLAYED))
        if time.monotonic() >= deadline:
            return _in_flight_answer(item["message_id"]["S"])
        time.sleep(0.1)
        item = idempotency.read(prepared.key_digest)


def _in_flight_answer(message_id: str) -> SendOutcome:
    """The first request with this key never recorded an answer (it may have been killed): say what is known."""
    record = messages.get(message_id)
    if record is None or record.status == "unknown":
        error = gateway_error(AircallOutcomeUnknown("the first request with this key has no recorded outcome"))
        error.details["message_id"] = message_id
        return SendOutcome(error.status, error.to_body(), dict(REPLAYED))
    code = 202 if record.status in WAITING else 201
    return SendOutcome(code, {"message": record.to_api()}, dict(REPLAYED))
