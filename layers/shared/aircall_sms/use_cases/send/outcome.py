"""What becomes of a send once the rules and the reservation have spoken: the refusal archived as `rejected`,
or Aircall called once and its answer recorded — `queued` with Aircall's id; a definite refusal gives the
segments back (`failed`, or back to the queue when it may wait); an unknown outcome (a timeout after the request
left) keeps them and stays `unknown` for the callbacks to settle. Never a second send."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aircall_sms.clients.aircall import (
    AircallFailure,
    AircallNotStarted,
    AircallOutcomeUnknown,
    AircallRateLimited,
    AircallUnreachable,
    SentMessage,
    count_failure,
    gateway_error,
)
from aircall_sms.domain import quota
from aircall_sms.domain.status import from_aircall
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.errors import AircallCredentialsMissing, GatewayError
from aircall_sms.observability import logger, metrics
from aircall_sms.store import idempotency, ledger, messages
from aircall_sms.store.transactions import Guard, Plan, transact
from aircall_sms.use_cases import budget, services
from aircall_sms.use_cases.send.prepare import PreparedSend

UNREACHABLE_PAUSE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def archive_rejected(prepared: PreparedSend, error: GatewayError, now: datetime) -> None:
    """Keep the refused request in the archive (`rejected`, with the reason): nothing was reserved or sent."""
    record = prepared.new_record(now, status="rejected", note=error.code)
    record.error = error.to_body()["error"]
    try:
        record.save()
    except Exception:  # the refusal stands even when the archive cannot take it
        logger.exception("archiving a rejected request failed", extra={"code": error.code})
    metrics.add_metric(name="MessagesRejected", unit="Count", value=1)
    logger.info("send refused", extra={"code": error.code, "number_id": prepared.number.number_id})


def call_aircall(
    prepared: PreparedSend, record: messages.MessageRecord, window_list: list[quota.Window]
) -> SendOutcome:
    """The one Aircall call of a reserved send, and its outcome recorded."""
    try:
        client = services.aircall()
    except AircallCredentialsMissing as missing:  # unusable since the send began: nothing left, nothing sent
        return _failed(prepared, record, window_list, AircallUnreachable(missing.message), error=missing)
    try:
        sent = client.send_message(
            prepared.number.number_id,
            to=prepared.recipient.e164,
            body=prepared.text,
            media_urls=prepared.request.media_urls,
            native=prepared.number.mode == "agent",
        )
    except AircallFailure as failure:
        return _failed(prepared, record, window_list, failure)
    budget.learn(sent.rate, utcnow())
    return _sent(prepared, record, sent)


def _with_status(
    record: messages.MessageRecord,
    status: str,
    at: datetime,
    source: str,
    *,
    aircall_id: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    """`record` as the archive has it after its move to `status` (for the answer)."""
    record.status = status
    record.updated_at = iso(at)
    record.status_history = [*record.status_history, messages.change(status, at, source)]
    if aircall_id:
        record.aircall_id = aircall_id
    if sent_at:
        record.sent_at = iso(sent_at)


def _sent(prepared: PreparedSend, record: messages.MessageRecord, sent: SentMessage) -> SendOutcome:
    status = from_aircall(sent.status) or "queued"
    if status in ("received", "unknown"):
        status = "queued"
    at = utcnow()
    _with_status(record, status, at, "aircall_send", aircall_id=sent.aircall_id, sent_at=at)
    body = {"message": record.to_api()}
    # Two single writes, not a transaction (which bills each write twice): the message first, then the answer to
    # replay. Between them a replay finds no answer yet and answers what the archive says (`replay`), as it does
    # when the answer could not be recorded at all.
    try:
        if not messages.advance(
            record.id, status, at=at, source="aircall_send", aircall_id=sent.aircall_id, sent_at=at
        ):
            # A callback moved the message on first (Aircall can be that fast): keep its status, add our facts.
            messages.record_late_aircall_id(record.id, sent.aircall_id, at)
        if prepared.key_digest is not None:
            idempotency.record_answer(prepared.key_digest, 201, body)
    except Exception:
        # Aircall has the message: an error now would invite a second send. The archive keeps the `unknown` record
        # of the reservation, which the callbacks that follow settle (as after a timeout).
        logger.exception(
            "Aircall took the message but its answer could not be recorded", extra={"message_id": record.id}
        )
        metrics.add_metric(name="OutcomesNotRecorded", unit="Count", value=1)
    metrics.add_metric(name="MessagesSent", unit="Count", value=1)
    metrics.add_metric(name="SegmentsSent", unit="Count", value=prepared.segments)
    logger.info("message sent", extra={"message_id": record.id, "number_id": prepared.number.number_id})
    return SendOutcome(201, body)


def _failed(
    prepared: PreparedSend,
    record: messages.MessageRecord,
    window_list: list[quota.Window],
    failure: AircallFailure,
    *,
    error: GatewayError | None = None,
) -> SendOutcome:
    """Aircall did not take the message. Definite refusals give the segments back; an unknown outcome keeps
    them (the message may be on its way) and stays `unknown` for the callbacks to settle. `error`: the answer,
    when it is not the contract's error for `failure`."""
    now = utcnow()
    error = error or gateway_error(failure)
    error.details["message_id"] = record.id  # the archived message, to follow (an unknown outcome) or explain
    count_failure(failure)
    budget.learn(failure.rate, now, limited=isinstance(failure, AircallRateLimited))
    plan = Plan()
    if not isinstance(failure, AircallOutcomeUnknown):
        for window in window_list:
            plan.add(ledger.window_release(prepared.number.number_id, window, prepared.segments), Guard("release"))
    retryable = isinstance(failure, AircallRateLimited | AircallUnreachable)
    # Nothing was sent: a message that may wait goes back to the queue (the dispatcher's too when Aircall is
    # unreachable, since nobody else would retry it).
    not_before, why = _requeue_at(prepared, failure, now)
    deferred = not_before is not None and prepared.request.on_limit == "defer" and not_before <= prepared.not_after
    error_body = error.to_body()["error"]
    answer: tuple[int, dict[str, Any]] | None
    if deferred:
        assert not_before is not None
        plan.add(messages.back_to_deferred_update(record, not_before, now, why), Guard("message"))
        record.status, record.not_before, record.updated_at = "deferred", iso(not_before), iso(now)
        record.status_history = [*record.status_history, messages.change("deferred", now, "gateway", why)]
        answer = (202, {"message": record.to_api()})
    elif isinstance(failure, AircallOutcomeUnknown):
        plan.add(messages.error_update(record.id, error_body), Guard("message"))
        answer = (error.status, error.to_body())
    else:
        # Not sent for want of time or of Aircall's budget: the gateway's refusal, not Aircall's.
        final = "rejected" if isinstance(failure, AircallRateLimited | AircallNotStarted) else "failed"
        plan.add(
            messages.advance_update(
                record.id, final, at=now, source="aircall_send", detail=error.code, error=error_body
            ),
            Guard("message"),
        )
        answer = None if retryable else (error.status, error.to_body())
    if prepared.key_digest is not None:
        if answer is None:  # nothing was sent and a retry is safe: the key may be used again
            plan.add(idempotency.release_item(prepared.key_digest, record.id), Guard("idempotency"))
        else:
            plan.add(idempotency.answer_update(prepared.key_digest, *answer), Guard("idempotency"))
    try:
        if transact(plan):
            logger.error("could not record Aircall's refusal", extra={"message_id": record.id})
    except Exception:
        # The caller still gets Aircall's answer; the archive keeps the `unknown` record (segments charged until
        # their windows end), which explains itself.
        logger.exception("could not record Aircall's refusal", extra={"message_id": record.id})
        metrics.add_metric(name="OutcomesNotRecorded", unit="Count", value=1)
    logger.info(
        "Aircall did not take the message",
        extra={"message_id": record.id, "code": error.code, "aircall_status": failure.status, "key": failure.key},
    )
    if deferred:
        assert answer is not None
        return SendOutcome(*answer)
    raise error


def _requeue_at(prepared: PreparedSend, failure: AircallFailure, now: datetime) -> tuple[datetime | None, str]:
    """When a message Aircall did not take may be tried again, and why it waits (None: it may not)."""
    if isinstance(failure, AircallRateLimited):
        return max(failure.reset_at, now), "Aircall's request budget is spent"
    if isinstance(failure, AircallNotStarted) and prepared.from_queue:
        return now, "the dispatch run's time was up"
    if isinstance(failure, AircallUnreachable) and prepared.from_queue:
        return now + UNREACHABLE_PAUSE, "Aircall is unreachable"
    return None, ""
