"""POST /messages from "pool:<id>": the sender chosen inside the reservation.

Round trips (bench/send_path.py counts them): the pool and its numbers come from the instance's cache (a read
each when cold); one BatchGetItem reads every window of every number of the pool, the company budget and the
contact's conversation with each number; the domain (`domain.pools.choose`) orders the candidates; then the
usual reservation (one TransactWriteItems) for the first, charged against the pool's share of each window (so
the share is enforced atomically, not only on the read) and checking that the pool is unchanged. A reservation
that loses a race for a window tries the next candidate (at most `ATTEMPTS` in all); the last one's refusal is
answered as a single number's would be (429 or deferral), naming the pool. A `send_at` and quiet hours are
a single number's too, on the number chosen first.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aircall_sms.domain import pools as choice
from aircall_sms.domain import quota, segments
from aircall_sms.domain.access import Principal
from aircall_sms.domain.timeutil import iso, parse_time
from aircall_sms.errors import GatewayError, PoolNotFound, QuotaExceeded, ServiceBusy
from aircall_sms.settings import get_settings
from aircall_sms.store import contacts, idempotency, ledger, messages, numbers, pools
from aircall_sms.store.transactions import Guard, Plan, transact, used_of
from aircall_sms.store.usage import batch_read
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.pools import parse_pool_id, require_pool
from aircall_sms.use_cases.send import quiet, reserve, rules
from aircall_sms.use_cases.send.dry_run import dry_run_verdict
from aircall_sms.use_cases.send.outcome import SendOutcome, archive_rejected, call_aircall
from aircall_sms.use_cases.send.prepare import PreparedSend, StartOver, parse_recipient, prepare, sender_of
from aircall_sms.use_cases.send.replay import IDEMPOTENCY, replay_if_used
from aircall_sms.use_cases.send.schedule import schedule

if TYPE_CHECKING:  # an annotation only: pydantic is loaded by the routes that validate
    from aircall_sms.domain.requests import SendRequest

ATTEMPTS = 3  # candidates tried when reservations lose races for their windows
POOL_CHANGED = Guard("pool_changed")


@dataclasses.dataclass(frozen=True, slots=True)
class PoolRead:
    pool: pools.PoolRecord
    members: dict[str, numbers.NumberRecord]
    windows: dict[str, list[quota.Window]]  # capped at the pool's share
    choice: choice.Choice


def send_from_pool(
    request: SendRequest,
    *,
    principal: Principal,
    now: datetime,
    idempotency_key: str | None,
    campaign_id: str | None = None,
) -> SendOutcome:
    """Send from the pool `request.sender` names (see the module docstring); starts over (at most twice) when
    the pool or one of its numbers changed under the reservation."""
    pool_id = parse_pool_id(choice.pool_id_of(request.sender) or "")
    for _ in range(3):
        try:
            return _send_once(
                request,
                pool_id,
                principal=principal,
                now=now,
                idempotency_key=idempotency_key,
                campaign_id=campaign_id,
            )
        except StartOver:
            pools.forget(pool_id)
            numbers.forget()
    raise ServiceBusy("The pool keeps changing; retry shortly.", headers={"Retry-After": "1"})


def _send_once(
    request: SendRequest,
    pool_id: str,
    *,
    principal: Principal,
    now: datetime,
    idempotency_key: str | None,
    campaign_id: str | None = None,
) -> SendOutcome:
    read = read_pool(request, pool_id, principal=principal, now=now, campaign=campaign_id is not None)

    def prepared_for(number_id: str, reason: str) -> PreparedSend:
        # The request as sent (its fingerprint names the pool) with the chosen number resolved.
        prepared = prepare(
            request.model_copy(update={"sender": number_id}),
            principal=principal,
            now=now,
            idempotency_key=idempotency_key,
            campaign_id=campaign_id,
        )
        return dataclasses.replace(prepared, request=request, sender_choice={"pool_id": pool_id, "reason": reason})

    picks = read.choice.order[:ATTEMPTS]
    if request.dry_run:
        return _dry_run(read, picks, prepared_for, now)
    if not picks:
        return _none_can_send(read, prepared_for, request, now)
    for index, pick in enumerate(picks):
        prepared = prepared_for(pick.number_id, pick.reason)
        if index == 0:
            # As a single number's send: a `send_at` is scheduled on the number chosen now (the dispatcher sends
            # it from that number), and quiet hours (the recipient's, whichever number sends) refuse or defer it.
            if prepared.send_at is not None:
                return schedule(prepared, now)
            held = None if prepared.static_refusal() else quiet.holds(prepared, now)
            if held is not None:
                return quiet.defer_or_refuse(prepared, held, now)
        window_list = read.windows[pick.number_id]
        record = prepared.new_record(now, status="unknown", note="accepted; calling Aircall")
        record.reservation = reserve.reservation_of(window_list, now)
        plan = Plan()
        rules.add_checks(plan, prepared, now)
        plan.add(pools.unchanged_check(read.pool), POOL_CHANGED)
        if prepared.key_digest is not None:
            plan.add(
                idempotency.claim_item(
                    prepared.key_digest, message_id=record.id, fingerprint=prepared.fingerprint, now=now
                ),
                IDEMPOTENCY,
            )
        plan.add(messages.put_new(record), reserve.MESSAGE_EXISTS)
        reserve.add_charges(plan, prepared, window_list, now)
        refusals = transact(plan)
        if not refusals:
            return call_aircall(prepared, record, window_list)
        kinds = {refusal.guard.kind for refusal in refusals}
        if POOL_CHANGED.kind in kinds and IDEMPOTENCY.kind not in kinds:
            raise StartOver
        if kinds == {"quota"} and index + 1 < len(picks):
            continue  # another send took this number's room first: the next candidate
        try:
            return reserve.answer_refusal(prepared, refusals, window_list, now)
        except GatewayError as error:
            error.details.setdefault("pool_id", pool_id)
            raise
    raise AssertionError("unreachable: the last candidate's refusal is answered")


def read_pool(
    request: SendRequest, pool_id: str, *, principal: Principal, now: datetime, campaign: bool = False
) -> PoolRead:
    """The pool, its numbers, and in one BatchGetItem their windows and the contact's conversations; ordered. A
    campaign's message (`campaign`) counts room against the smaller of the pool's and the campaigns' shares."""
    settings = get_settings()
    pool = pools.cached(pool_id, settings.number_cache_seconds)
    if pool is None:
        raise PoolNotFound("No such pool (PUT /pools/{id} first).", details={"pool_id": pool_id})
    require_pool(principal, pool)
    members: dict[str, numbers.NumberRecord] = {}
    for number_id in pool.number_ids:
        record = numbers.cached(number_id, settings.number_cache_seconds)
        if record is not None and not numbers.is_configuring_without_token(record):
            members[number_id] = record
    if not members:
        raise PoolNotFound("The pool has no configured number left.", details={"pool_id": pool_id})
    recipient = parse_recipient(request.to, next(iter(members.values())).region)
    share = settings.pool_share_percent / 100
    if campaign:
        share = min(share, settings.campaign_share_percent / 100)
    capped = {
        number_id: [dataclasses.replace(window, limit=choice.cap(window.limit, share)) for window in windows]
        for number_id, windows in ((n, number_windows(record, now)) for n, record in members.items())
    }
    found = batch_read(
        {
            settings.ledger_table: [
                ledger.window_key(number_id, window) for number_id, windows in capped.items() for window in windows
            ],
            settings.contacts_table: [
                {"contact": {"S": recipient.e164}, "sk": {"S": contacts.conversation_sk(number_id)}}
                for number_id in members
            ],
        }
    )

    def used(number_id: str, window: quota.Window) -> int:
        key = ledger.window_key(number_id, window)
        return used_of(found.get((settings.ledger_table, key["pk"]["S"], key["sk"]["S"])))

    def wrote_at(number_id: str) -> datetime | None:
        item = found.get((settings.contacts_table, recipient.e164, contacts.conversation_sk(number_id))) or {}
        return parse_time(item.get("last_inbound_at", {}).get("S"))

    candidates = [
        choice.Candidate(
            number_id=number_id,
            sender=sender_of(record),
            registration=record.registration or "none",
            # The full limits: the domain applies the share itself.
            windows=tuple(
                choice.WindowUse(window.name, window.limit, used(number_id, window), window.end)
                for window in number_windows(record, now)
            ),
            contact_wrote_at=wrote_at(number_id),
        )
        for number_id, record in members.items()
    ]
    ordered = choice.choose(
        candidates,
        recipient=recipient,
        purpose=request.purpose,
        human_author=request.human_author,
        segments=max(1, segments.count(request.text or "").segments),
        share=share,
        conversation_since=rules.conversation_since(now),
    )
    return PoolRead(pool=pool, members=members, windows=capped, choice=ordered)


def _dry_run(read: PoolRead, picks: list[choice.Pick], prepared_for: Any, now: datetime) -> SendOutcome:
    """The dry run of a pool send: the verdict for the number that would be chosen (or would wait), and why."""
    if picks:
        pick = picks[0]
        prepared = prepared_for(pick.number_id, pick.reason)
        verdict = dry_run_verdict(prepared, now)
        quiet.annotate_dry_run(verdict, prepared, quiet.holds(prepared, now))
        return SendOutcome(200, verdict | {"sender": _sender(read, pick.number_id, pick.reason)})
    if read.choice.reopens is not None:
        number_id, at = read.choice.reopens
        verdict = dry_run_verdict(prepared_for(number_id, "reopens_first"), now)
        verdict |= {"verdict": "rejected", "reason": QuotaExceeded.code, "not_before": iso(at)}
        return SendOutcome(200, verdict | {"sender": _sender(read, number_id, "reopens_first")})
    if not read.choice.refused:  # larger than every number's share of a window: it never fits
        verdict = dry_run_verdict(prepared_for(next(iter(read.members)), "refused"), now)
        return SendOutcome(200, verdict | {"verdict": "rejected", "reason": QuotaExceeded.code, "sender": None})
    number_id, refusal = _first_refusal(read)
    verdict = dry_run_verdict(prepared_for(number_id, "refused"), now)
    verdict |= {"verdict": "rejected", "reason": refusal.code}
    return SendOutcome(200, verdict | {"sender": None})


def _none_can_send(read: PoolRead, prepared_for: Any, request: SendRequest, now: datetime) -> SendOutcome:
    """No number of the pool may take the message now: a rule refuses every one (403), or every window that
    matters is full under the share (429, or deferred to the number that reopens first)."""
    pool_id = read.pool.pool_id
    if read.choice.reopens is None and read.choice.refused and len(read.choice.refused) == len(read.members):
        number_id, refusal = _first_refusal(read)
        prepared = prepared_for(number_id, "refused")
        replayed = replay_if_used(prepared)
        if replayed is not None:
            return replayed
        refusal.details.setdefault("pool_id", pool_id)
        archive_rejected(prepared, refusal, now)
        raise refusal
    number_id, reopens = read.choice.reopens or (next(iter(read.members)), None)
    prepared = prepared_for(number_id, "reopens_first")
    replayed = replay_if_used(prepared)
    if replayed is not None:
        return replayed
    waits = request.on_limit == "defer" or prepared.campaign_id is not None  # a campaign's message always waits
    if waits and reopens is not None and reopens <= prepared.not_after:
        return reserve.defer(prepared, reopens, now)
    retry_after = quota.seconds_until(reopens, now) if reopens else None
    error = QuotaExceeded(
        "Every number of the pool that may send this message is at its share of a window.",
        details={
            "pool_id": pool_id,
            "share_percent": get_settings().pool_share_percent,
            "segments": prepared.segments,
            "retry_after": retry_after,
            "number_id": int(number_id) if reopens else None,
            "resets_at": iso(reopens) if reopens else None,
        },
        headers={"Retry-After": str(retry_after)} if retry_after else {},
    )
    archive_rejected(prepared, error, now)
    raise error


def _first_refusal(read: PoolRead) -> tuple[str, GatewayError]:
    number_id = min(read.choice.refused, key=int)
    return number_id, read.choice.refused[number_id]


def _sender(read: PoolRead, number_id: str, reason: str) -> dict[str, Any]:
    return {"pool_id": read.pool.pool_id, "number_id": number_id, "reason": reason}
