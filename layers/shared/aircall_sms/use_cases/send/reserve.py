"""The reservation of a send, in one TransactWriteItems: the stored-fact rules as condition checks, the number
unchanged since it was cached, the Idempotency-Key (new), the archive record (status `unknown`: a crash after
this leaves an explainable record), every quota window of the number and the company's Aircall request budget.
All or nothing.

A refused reservation says which items refused, read in this order: a used Idempotency-Key replays the first
answer, a changed number starts the send over, a rule archives the request as `rejected` (403), a full window or
a spent budget answers 429 or defers the message (`on_limit: "defer"`, and always a campaign's message, which is
charged against the campaign's share of each window only).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aircall_sms.domain import quota
from aircall_sms.domain.timeutil import iso
from aircall_sms.errors import GatewayError, QuotaExceeded, ServiceBusy
from aircall_sms.observability import logger, metrics
from aircall_sms.store import budget, idempotency, ledger, messages
from aircall_sms.store.transactions import Guard, Plan, Refusal, transact, used_of
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.send import rules
from aircall_sms.use_cases.send.outcome import SendOutcome, archive_rejected, call_aircall
from aircall_sms.use_cases.send.prepare import PreparedSend, StartOver
from aircall_sms.use_cases.send.replay import IDEMPOTENCY, replay, replay_if_used

MESSAGE_EXISTS = Guard("message_exists")


def send(prepared: PreparedSend, now: datetime) -> SendOutcome:
    """Refuse on the request alone, else reserve, else answer the refusal; then call Aircall."""
    static = prepared.static_refusal()
    if static is not None:
        replayed = replay_if_used(prepared)
        if replayed is not None:
            return replayed
        archive_rejected(prepared, static, now)
        raise static
    record = prepared.new_record(now, status="unknown", note="accepted; calling Aircall")
    # A campaign's message is charged against its share of each window (`CAMPAIGN_SHARE_PERCENT`): live sends keep
    # the rest.
    window_list = number_windows(prepared.number, now, campaign=prepared.campaign_id is not None)
    record.reservation = reservation_of(window_list, now)
    plan = Plan()
    rules.add_checks(plan, prepared, now)
    if prepared.key_digest is not None:
        plan.add(
            idempotency.claim_item(
                prepared.key_digest, message_id=record.id, fingerprint=prepared.fingerprint, now=now
            ),
            IDEMPOTENCY,
        )
    plan.add(messages.put_new(record), MESSAGE_EXISTS)
    add_charges(plan, prepared, window_list, now)
    refusals = transact(plan)
    if refusals:
        return answer_refusal(prepared, refusals, window_list, now)
    return call_aircall(prepared, record, window_list)


def reservation_of(window_list: list[quota.Window], now: datetime) -> dict[str, str]:
    """What the archive record says was charged: each window's key, and the budget's minute."""
    return {window.name: window.key for window in window_list} | {"minute": quota.minute_key(now)}


def add_charges(plan: Plan, prepared: PreparedSend, window_list: list[quota.Window], now: datetime) -> None:
    """The send's segments in every window of the number, and one request of the company's Aircall budget."""
    for window in window_list:
        plan.add(
            ledger.window_charge(prepared.number.number_id, window, prepared.segments),
            Guard("quota", {"window": window}),
        )
    budget.add_charge(plan, now)


def answer_refusal(
    prepared: PreparedSend, refusals: list[Refusal], window_list: list[quota.Window], now: datetime
) -> SendOutcome:
    """What a refused reservation answers: a replay, a start over, a rule's 403, or a full window's 429 or
    deferral (`on_limit: "defer"`)."""
    by_kind = {refusal.guard.kind: refusal for refusal in refusals}
    replayed = replay_or_refuse(prepared, by_kind, now)
    if replayed is not None:
        return replayed
    full = [refusal for refusal in refusals if refusal.guard.kind == "quota"]
    budget_reopens = budget.retry_at(refusals, now)
    if not full and budget_reopens is None:
        logger.error("reservation refused for no known reason", extra={"kinds": sorted(by_kind)})
        raise ServiceBusy("The reservation was refused unexpectedly; retry shortly.", headers={"Retry-After": "1"})
    error, reopens = limit_error(prepared, full, budget_reopens, window_list, now)
    # A campaign's message over its share waits (it is never refused for a window: the campaign's own messages wait).
    waits = prepared.request.on_limit == "defer" or prepared.campaign_id is not None
    if waits and reopens is not None and reopens <= prepared.not_after:
        return defer(prepared, reopens, now)
    archive_rejected(prepared, error, now)
    raise error


def replay_or_refuse(prepared: PreparedSend, by_kind: Mapping[str, Refusal], now: datetime) -> SendOutcome | None:
    """What any refused transaction of a send means first: a used key replays its answer, a changed number
    starts over, a rule refuses (archived). None: the refusal is about limits."""
    if "idempotency" in by_kind:
        return replay(prepared, by_kind["idempotency"].item)
    if rules.NUMBER_CHANGED.kind in by_kind:
        raise StartOver
    rule = rules.refusal(by_kind)
    if rule is not None:
        archive_rejected(prepared, rule, now)
        raise rule
    return None


def limit_error(
    prepared: PreparedSend,
    full: list[Refusal],
    budget_reopens: datetime | None,
    window_list: list[quota.Window],
    now: datetime,
) -> tuple[GatewayError, datetime | None]:
    """The 429 for full windows (or the spent request budget) and when the send would fit again (None: never)."""
    if full:
        refused = [(refusal.guard.data["window"], used_of(refusal.item)) for refusal in full]
        window, used = refused[0]  # longest first
        never = [window for window in window_list if prepared.segments > window.limit]
        reopens = None if never else max([window.end for window, _ in refused] + [budget_reopens or now])
        retry_after = quota.seconds_until(reopens, now) if reopens else None
        details = {
            "window": window.name,
            "limit": window.limit,
            "used": used,
            "segments": prepared.segments,
            "retry_after": retry_after,
            "resets_at": iso(window.end),
        }
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        message = (
            f"The number's {window.name} window is full ({used} of {window.limit} segments used)."
            if not never
            else f"The message has more segments than the number's {never[0].name} limit allows."
        )
        return QuotaExceeded(message, details=details, headers=headers), reopens
    assert budget_reopens is not None
    return quota.rate_limited(budget_reopens, now), budget_reopens


def store_waiting(
    prepared: PreparedSend, record: messages.MessageRecord, now: datetime
) -> tuple[dict[str, Any], list[Refusal]]:
    """Archive `record`, a message that waits (deferred or scheduled: nothing is charged until it goes out), in one
    transaction with the send's rule checks and its Idempotency-Key's claim (whose answer is this 202); the
    answer's body and the transaction's refusals (none: stored)."""
    body: dict[str, Any] = {"message": record.to_api()}
    plan = Plan()
    rules.add_checks(plan, prepared, now)
    if prepared.key_digest is not None:
        plan.add(
            idempotency.claim_item(
                prepared.key_digest,
                message_id=record.id,
                fingerprint=prepared.fingerprint,
                now=now,
                answer={"status": 202, "body": body},
            ),
            IDEMPOTENCY,
        )
    plan.add(messages.put_new(record), MESSAGE_EXISTS)
    return body, transact(plan)


def defer(prepared: PreparedSend, not_before: datetime, now: datetime) -> SendOutcome:
    """Store the message as `deferred` until `not_before`; the scheduled dispatcher sends it (`use_cases.dispatch`).
    Nothing is charged until then; the rules are checked again when it goes out."""
    record = prepared.new_record(now, status="deferred", note="a quota window is full")
    record.not_before = iso(not_before)
    messages.mark_deferred(record)
    body, refusals = store_waiting(prepared, record, now)
    if refusals:
        replayed = replay_or_refuse(prepared, {refusal.guard.kind: refusal for refusal in refusals}, now)
        if replayed is not None:
            return replayed
        raise ServiceBusy("The deferral was refused unexpectedly; retry shortly.", headers={"Retry-After": "1"})
    metrics.add_metric(name="MessagesDeferred", unit="Count", value=1)
    logger.info("message deferred", extra={"message_id": record.id, "not_before": record.not_before})
    return SendOutcome(202, body)
