"""A scheduled send (`send_at`): checked as a send now is (the request's rules, then the stored-fact rules as
condition checks), then archived as `scheduled` in its number's scheduled queue, with its Idempotency-Key, in one
transaction. Nothing is charged until it goes out: the dispatcher sends it at its minute, or as soon after as the
windows and the budget allow, checking every rule again then (an opt-out since refuses it, `rejected`).
"""

from __future__ import annotations

from datetime import datetime

from aircall_sms.errors import ServiceBusy
from aircall_sms.observability import logger, metrics
from aircall_sms.store import messages
from aircall_sms.use_cases.send.outcome import SendOutcome, archive_rejected
from aircall_sms.use_cases.send.prepare import PreparedSend
from aircall_sms.use_cases.send.replay import replay_if_used
from aircall_sms.use_cases.send.reserve import replay_or_refuse, store_waiting


def schedule(prepared: PreparedSend, now: datetime, *, status: str = "scheduled", note: str = "send_at") -> SendOutcome:
    """Archive the send as `scheduled` for `prepared.send_at` (or `deferred` until then: quiet hours); 202 with
    the message. A rule that refuses it now refuses it as a send now would (403, archived `rejected`)."""
    assert prepared.send_at is not None
    static = prepared.static_refusal()
    if static is not None:
        replayed = replay_if_used(prepared)
        if replayed is not None:
            return replayed
        archive_rejected(prepared, static, now)
        raise static
    record = prepared.new_record(now, status=status, note=note)
    record.on_limit = prepared.request.on_limit
    messages.mark_scheduled(record, prepared.send_at)
    body, refusals = store_waiting(prepared, record, now)
    if refusals:
        replayed = replay_or_refuse(prepared, {refusal.guard.kind: refusal for refusal in refusals}, now)
        if replayed is not None:
            return replayed
        raise ServiceBusy("The scheduling was refused unexpectedly; retry shortly.", headers={"Retry-After": "1"})
    metrics.add_metric(name="MessagesScheduled", unit="Count", value=1)
    logger.info("message scheduled", extra={"message_id": record.id, "send_at": record.not_before})
    return SendOutcome(202, body)
