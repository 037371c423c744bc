"""POST /messages: validate, check the rules, reserve, call Aircall once, record the outcome.

Flow (docs/design.md, "Flow of one send"), one module per step:
1. `prepare`: resolve the sender number (cached per instance), normalise the recipient, count segments; the
   rules that need only the request (domestic, registration, French mobile purpose) refuse here.
2. `reserve`: one TransactWriteItems with the stored-fact rules of `rules` as condition checks, the
   Idempotency-Key, the archive record, every quota window and the company budget; its refusals replay
   (`replay`), refuse (403), answer 429 or defer.
3. `outcome`: call Aircall once; record its id and status, and the idempotency answer, in one more round trip.
   A definite refusal releases the segments; a timeout leaves the status `unknown` (never re-sent).
`dry_run` runs every check on one consistent read and reserves nothing. A `send_at` archives the send as
`scheduled` instead of reserving (`schedule`); the dispatcher sends it then. `"from": "pool:<id>"` chooses the
sender among a pool's numbers inside the reservation (`pool`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aircall_sms.domain.access import Principal
from aircall_sms.domain.pools import pool_id_of
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.errors import ServiceBusy
from aircall_sms.store import numbers
from aircall_sms.use_cases import services
from aircall_sms.use_cases.send import quiet
from aircall_sms.use_cases.send.dry_run import dry_run_verdict
from aircall_sms.use_cases.send.outcome import SendOutcome
from aircall_sms.use_cases.send.pool import send_from_pool
from aircall_sms.use_cases.send.prepare import StartOver, prepare
from aircall_sms.use_cases.send.reserve import send
from aircall_sms.use_cases.send.schedule import schedule

if TYPE_CHECKING:  # an annotation only: pydantic is loaded by the routes that validate
    from aircall_sms.domain.requests import SendRequest

NUMBER_ATTEMPTS = 3


def send_message(
    request: SendRequest,
    *,
    principal: Principal,
    idempotency_key: str | None = None,
    confirms_opt_out: bool = False,
    campaign_id: str | None = None,
) -> SendOutcome:
    """Send for `principal` (its numbers only; the message records its client id, and its Idempotency-Key is
    scoped to it). `confirms_opt_out`: the gateway's own answer to a keyword (the confirmation of a STOP goes to
    a contact who has just opted out, as carriers expect); never set from the API. `campaign_id`: the campaign
    whose message this is (`use_cases.campaigns`): archived with it, and charged at the campaign's share of the
    number's windows (`CAMPAIGN_SHARE_PERCENT`) whenever it is reserved; never set from the API."""
    now = utcnow()
    if pool_id_of(request.sender) is not None:
        return send_from_pool(
            request, principal=principal, now=now, idempotency_key=idempotency_key, campaign_id=campaign_id
        )
    prepared = prepare(
        request,
        principal=principal,
        now=now,
        idempotency_key=idempotency_key,
        confirms_opt_out=confirms_opt_out,
        campaign_id=campaign_id,
    )
    if request.dry_run:
        body = dry_run_verdict(prepared, now)
        quiet.annotate_dry_run(body, prepared, quiet.holds(prepared, now))
        return SendOutcome(200, body)
    # Unusable Aircall credentials refuse the send (503 aircall_credentials_missing) before anything is reserved.
    services.aircall()
    for _ in range(NUMBER_ATTEMPTS):
        try:
            if prepared.send_at is not None:  # quiet hours are checked when it goes out
                return schedule(prepared, now)
            # The request's own rules refuse first (`send`); a gateway's keyword answer is never held.
            held = None if confirms_opt_out or prepared.static_refusal() else quiet.holds(prepared, now)
            return quiet.defer_or_refuse(prepared, held, now) if held is not None else send(prepared, now)
        except StartOver:
            numbers.forget(prepared.number.number_id)
            prepared = prepare(
                request,
                principal=principal,
                now=now,
                idempotency_key=idempotency_key,
                confirms_opt_out=confirms_opt_out,
                campaign_id=campaign_id,
            )
    raise ServiceBusy("The sender number keeps changing; retry shortly.", headers={"Retry-After": "1"})
