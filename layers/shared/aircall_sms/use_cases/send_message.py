"""POST /messages: validate, check the rules, reserve, call Aircall once, record the outcome.

Flow (docs/design.md, "Flow of one send"):
1. `prepare`: resolve the sender number (cached per instance), normalise the recipient, count segments; the
   rules that need only the request (domestic, registration, French mobile purpose) refuse here.
2. Reserve in one TransactWriteItems: the rules that need stored facts (no opt-out, an open conversation for a
   French mobile line, a consent for marketing) as condition checks, the number unchanged since it was cached,
   the idempotency record (new key), the archive record (status `unknown`: a crash after this leaves an
   explainable record), every quota window of the number, the company's Aircall request budget. All or nothing.
3. Call Aircall once. Record its id and status, and the idempotency answer, in one more round trip.
   A definite refusal releases the segments; a timeout leaves the status `unknown` (never re-sent).

A refused reservation says which item refused: a used idempotency key replays the first answer, a rule
archives the request as `rejected` and answers 403, a full window answers 429 or defers (`on_limit: "defer"`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .. import budget, compliance, phone, quota, segments, services
from ..aircall import (
    AircallFailure,
    AircallOutcomeUnknown,
    AircallRateLimited,
    AircallUnreachable,
    SentMessage,
    count_failure,
    gateway_error,
)
from ..api_models import SendRequest
from ..errors import (
    ComplianceRefusal,
    ConsentRequired,
    ConversationalOnly,
    EmptyMessage,
    GatewayError,
    IdempotencyConflict,
    InvalidMedia,
    InvalidPhone,
    InvalidRequest,
    MessageTooLong,
    NumberNotConfigured,
    OptedOut,
    QuotaExceeded,
    ServiceBusy,
)
from ..ids import new_id
from ..observability import logger, metrics
from ..reservation import (
    Guard,
    Plan,
    Refusal,
    condition_check,
    counter_update,
    put_new,
    release_update,
    text,
    transact,
    used_of,
)
from ..settings import get_settings
from ..status import from_aircall
from ..store import contacts, ledger, messages, numbers, usage
from ..store.base import raw_client
from ..timeutil import iso, parse_time, utcnow

MAX_TEXT_CHARACTERS = 1600
MAX_MEDIA = 10
MAX_METADATA_BYTES = 4096
MAX_NOT_AFTER = timedelta(days=31)
NUMBER_ATTEMPTS = 3
UNREACHABLE_PAUSE = timedelta(minutes=1)

IDEMPOTENCY = Guard("idempotency")
NUMBER_CHANGED = Guard("number_changed")
MESSAGE_EXISTS = Guard("message_exists")
OPTED_OUT_HERE = Guard("opted_out", {"scope": "number"})
OPTED_OUT_EVERYWHERE = Guard("opted_out", {"scope": "company"})
NO_CONVERSATION = Guard("conversational_only")
NO_CONSENT = Guard("consent_required")


@dataclass(frozen=True, slots=True)
class SendOutcome:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreparedSend:
    """A send request with its parts resolved: the number, the normalised recipient, the segmentation."""

    request: SendRequest
    number: numbers.NumberRecord
    sender: phone.PhoneNumber
    recipient: phone.PhoneNumber
    text: str | None
    segmentation: segments.Segmentation
    not_after: datetime
    idempotency_key: str | None = None
    confirms_opt_out: bool = False
    from_queue: bool = False  # a deferred message sent by the dispatcher (nobody waits for the answer)

    @property
    def segments(self) -> int:
        """Segments charged: the text's, and at least one (an MMS without text is one message)."""
        return max(1, self.segmentation.segments)

    @property
    def key_digest(self) -> str | None:
        if self.idempotency_key is None:
            return None
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()

    @property
    def fingerprint(self) -> str:
        """What makes two requests "the same request" for an Idempotency-Key."""
        body = self.request.model_dump(mode="json", by_alias=True, exclude={"dry_run"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class _StartOver(Exception):
    """Start the send over with a fresh read of the number: it changed or vanished since it was cached, or the
    earlier request with the same Idempotency-Key gave its key up (nothing was sent)."""


def send_message(
    request: SendRequest, *, idempotency_key: str | None = None, confirms_opt_out: bool = False
) -> SendOutcome:
    """`confirms_opt_out`: the gateway's own answer to a keyword (the confirmation of a STOP goes to a contact
    who has just opted out, as carriers expect); never set from the API."""
    now = utcnow()
    prepared = prepare(request, now=now, idempotency_key=idempotency_key, confirms_opt_out=confirms_opt_out)
    if request.dry_run:
        return SendOutcome(200, dry_run_verdict(prepared, now))
    for _ in range(NUMBER_ATTEMPTS):
        try:
            return _send(prepared, now)
        except _StartOver:
            numbers.forget(prepared.number.number_id)
            prepared = prepare(request, now=now, idempotency_key=idempotency_key, confirms_opt_out=confirms_opt_out)
    raise ServiceBusy("The sender number keeps changing; retry shortly.", headers={"Retry-After": "1"})


# ------------------------------------------------------------------------------------------------ preparing
def prepare(
    request: SendRequest, *, now: datetime, idempotency_key: str | None = None, confirms_opt_out: bool = False
) -> PreparedSend:
    """Everything that can be checked without side effects; raises the contract's 400 and 404 errors."""
    number = resolve_number(request.sender)
    recipient = parse_recipient(request.to, number.region)
    text_value = request.text if request.text else None
    if text_value is None and not request.media_urls:
        raise EmptyMessage("A message needs text, media_urls, or both.")
    if text_value is not None and len(text_value) > MAX_TEXT_CHARACTERS:
        raise MessageTooLong(
            f"The text has {len(text_value)} characters; Aircall accepts at most {MAX_TEXT_CHARACTERS}.",
            details={"characters": len(text_value), "limit": MAX_TEXT_CHARACTERS},
        )
    check_media(request.media_urls)
    if request.metadata is not None:
        size = len(json.dumps(request.metadata, ensure_ascii=False).encode())
        if size > MAX_METADATA_BYTES:
            raise InvalidRequest(
                f"metadata is {size} bytes; at most {MAX_METADATA_BYTES} are stored.",
                details={"field": "metadata", "bytes": size, "limit": MAX_METADATA_BYTES},
            )
    return PreparedSend(
        request=request,
        number=number,
        sender=phone.PhoneNumber(e164=number.e164, region=number.region, kind=number.kind, country_code=0),
        recipient=recipient,
        text=text_value,
        segmentation=segments.count(text_value or ""),
        not_after=_not_after(request, now),
        idempotency_key=idempotency_key,
        confirms_opt_out=confirms_opt_out,
    )


def _not_after(request: SendRequest, now: datetime) -> datetime:
    if request.not_after is None:
        return now + timedelta(hours=get_settings().default_not_after_hours)
    if request.not_after <= now:
        raise InvalidRequest("not_after is in the past.", details={"field": "not_after"})
    if request.not_after > now + MAX_NOT_AFTER:
        raise InvalidRequest(f"not_after is at most {MAX_NOT_AFTER.days} days ahead.", details={"field": "not_after"})
    return request.not_after


def resolve_number(sender: str | int) -> numbers.NumberRecord:
    """The configured number named by Aircall's number_id or by its E.164 digits."""
    raw = str(sender).strip()
    max_age = get_settings().number_cache_seconds
    record = None
    if raw.isdigit() and len(raw) <= 18:
        record = numbers.cached(str(int(raw)), max_age)
    if record is None:
        try:
            record = numbers.cached_by_e164(phone.parse(raw).e164, max_age)
        except phone.InvalidPhoneNumber:
            record = None
    if record is None:
        raise NumberNotConfigured(
            "The sender is not a number configured in this gateway (PUT /numbers/{number_id} first).",
            details={"from": raw if raw.isdigit() else None},
        )
    return record


def parse_recipient(raw: str, sender_region: str) -> phone.PhoneNumber:
    try:
        return phone.parse(raw, default_region=sender_region)
    except phone.InvalidPhoneNumber:
        raise InvalidPhone("The recipient is not a valid phone number.", details={"field": "to"}) from None


def check_media(media_urls: list[str]) -> None:
    if len(media_urls) > MAX_MEDIA:
        raise InvalidMedia(f"At most {MAX_MEDIA} media URLs per message.", details={"count": len(media_urls)})
    for index, url in enumerate(media_urls):
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or len(url) > 2048:
            raise InvalidMedia("Media URLs must be public https URLs.", details={"index": index})


def _static_refusal(prepared: PreparedSend) -> ComplianceRefusal | None:
    return compliance.static_refusal(
        sender=prepared.sender,
        registration=prepared.number.registration or "none",
        recipient=prepared.recipient,
        purpose=prepared.request.purpose,
    )


def _windows(prepared: PreparedSend, now: datetime) -> list[quota.Window]:
    return usage.number_windows(prepared.number, now)


# ------------------------------------------------------------------------------------------------ dry run
def dry_run_verdict(prepared: PreparedSend, now: datetime) -> dict[str, Any]:
    """`dry_run: true`: every check runs on one consistent read of the facts; nothing is reserved or sent."""
    settings = get_settings()
    number_id = prepared.number.number_id
    contact_keys = {
        "opted_out_here": contacts.optout_sk(number_id),
        "opted_out_everywhere": contacts.optout_sk(contacts.EVERY_NUMBER),
        "conversation": contacts.conversation_sk(number_id),
        "consent": contacts.consent_sk("marketing"),
    }
    found = usage.read_usage(prepared.number, now, contact=prepared.recipient.e164, contact_keys=contact_keys)
    contact_items, window_list, used = found.contact_items, found.windows, found.used
    company_used, blocked_until = found.company_used, found.blocked_until
    reason = _dry_run_reason(prepared, now, contact_items, window_list, used, company_used, blocked_until)
    after = dict(used)
    if reason is None:
        after = {name: value + prepared.segments for name, value in used.items()}
        company_used += 1
    segmentation = prepared.segmentation
    return {
        "verdict": "allowed" if reason is None else "rejected",
        "reason": reason,
        "segments": segmentation.segments,
        "encoding": segmentation.encoding,
        "non_gsm_characters": list(segmentation.non_gsm_characters),
        "quota": quota.view(
            number_id,
            window_list,
            after,
            company_limit=settings.aircall_requests_per_minute,
            company_used=company_used,
            now=now,
            blocked_until=blocked_until,
        ),
    }


def _dry_run_reason(
    prepared: PreparedSend,
    now: datetime,
    contact_items: dict[str, dict[str, Any] | None],
    window_list: list[quota.Window],
    used: dict[str, int],
    company_used: int,
    blocked_until: datetime | None,
) -> str | None:
    static = _static_refusal(prepared)
    if static is not None:
        return static.code
    if (contact_items["opted_out_here"] or contact_items["opted_out_everywhere"]) and not prepared.confirms_opt_out:
        return OptedOut.code
    if compliance.needs_open_conversation(prepared.sender, human_author=prepared.request.human_author):
        last = (contact_items["conversation"] or {}).get("last_inbound_at", {}).get("S")
        if not last or last < iso(_conversation_since(now)):
            return ConversationalOnly.code
    if compliance.needs_consent(prepared.request.purpose):
        scopes = (contact_items["consent"] or {}).get("scopes", {}).get("M", {})
        if prepared.number.number_id not in scopes and contacts.EVERY_NUMBER not in scopes:
            return ConsentRequired.code
    if any(used[window.name] + prepared.segments > window.limit for window in window_list):
        return QuotaExceeded.code
    if company_used + 1 > get_settings().aircall_requests_per_minute or (blocked_until and blocked_until > now):
        return "rate_limited"
    return None


def _conversation_since(now: datetime) -> datetime:
    return now - timedelta(hours=get_settings().conversation_window_hours)


# ------------------------------------------------------------------------------------------------ sending
def _send(prepared: PreparedSend, now: datetime) -> SendOutcome:
    static = _static_refusal(prepared)
    if static is not None:
        replayed = _replay_if_used(prepared)
        if replayed is not None:
            return replayed
        _archive_rejected(prepared, static, now)
        raise static
    record = _new_record(prepared, now, status="unknown", note="accepted; calling Aircall")
    window_list = _windows(prepared, now)
    record.reservation = _reservation(window_list, now)
    plan = Plan()
    _add_checks(plan, prepared, now)
    if prepared.key_digest is not None:
        plan.add(_idempotency_put(prepared, record.id, now, answer=None), IDEMPOTENCY)
    plan.add(put_new(get_settings().messages_table, record.serialize(), "id"), MESSAGE_EXISTS)
    _add_charges(plan, prepared, window_list, now)
    refusals = transact(plan)
    if refusals:
        return _refused(prepared, refusals, window_list, now)
    return _call_aircall(prepared, record, window_list)


def _reservation(window_list: list[quota.Window], now: datetime) -> dict[str, str]:
    return {window.name: window.key for window in window_list} | {"minute": quota.minute_key(now)}


def _add_charges(plan: Plan, prepared: PreparedSend, window_list: list[quota.Window], now: datetime) -> None:
    """The send's segments in every window of the number, and one request of the company's Aircall budget."""
    for window in window_list:
        plan.add(
            counter_update(
                get_settings().ledger_table,
                _window_key(prepared.number.number_id, window),
                amount=prepared.segments,
                limit=window.limit,
                expires_at=window.end + quota.COUNTER_RETENTION,
            ),
            Guard("quota", {"window": window}),
        )
    budget.add_charge(plan, now)


def _add_checks(plan: Plan, prepared: PreparedSend, now: datetime) -> None:
    """The stored-fact rules and the cached number's freshness, as condition checks (shared by send and defer)."""
    settings = get_settings()
    contact, number_id = prepared.recipient.e164, prepared.number.number_id
    plan.add(
        condition_check(
            settings.numbers_table,
            {"number_id": text(number_id)},
            "updated_at = :seen",
            values={":seen": text(prepared.number.updated_at)},
        ),
        NUMBER_CHANGED,
    )
    for scope, guard in ((number_id, OPTED_OUT_HERE), (contacts.EVERY_NUMBER, OPTED_OUT_EVERYWHERE)):
        if prepared.confirms_opt_out:
            break
        plan.add(
            condition_check(
                settings.contacts_table,
                {"contact": text(contact), "sk": text(contacts.optout_sk(scope))},
                "attribute_not_exists(sk)",
            ),
            guard,
        )
    if compliance.needs_open_conversation(prepared.sender, human_author=prepared.request.human_author):
        plan.add(
            condition_check(
                settings.contacts_table,
                {"contact": text(contact), "sk": text(contacts.conversation_sk(number_id))},
                "last_inbound_at >= :since",
                values={":since": text(iso(_conversation_since(now)))},
            ),
            NO_CONVERSATION,
        )
    if compliance.needs_consent(prepared.request.purpose):
        plan.add(
            condition_check(
                settings.contacts_table,
                {"contact": text(contact), "sk": text(contacts.consent_sk("marketing"))},
                "attribute_exists(scopes.#number) OR attribute_exists(scopes.#every)",
                names={"#number": number_id, "#every": contacts.EVERY_NUMBER},
            ),
            NO_CONSENT,
        )


def _refused(
    prepared: PreparedSend, refusals: list[Refusal], window_list: list[quota.Window], now: datetime
) -> SendOutcome:
    by_kind = {refusal.guard.kind: refusal for refusal in refusals}
    replayed = _replay_or_refuse(prepared, by_kind, now)
    if replayed is not None:
        return replayed
    full = [refusal for refusal in refusals if refusal.guard.kind == "quota"]
    budget_reopens = budget.retry_at(refusals, now)
    if not full and budget_reopens is None:
        logger.error("reservation refused for no known reason", extra={"kinds": sorted(by_kind)})
        raise ServiceBusy("The reservation was refused unexpectedly; retry shortly.", headers={"Retry-After": "1"})
    error, reopens = _limit_error(prepared, full, budget_reopens, window_list, now)
    if prepared.request.on_limit == "defer" and reopens is not None and reopens <= prepared.not_after:
        return _defer(prepared, reopens, now)
    _archive_rejected(prepared, error, now)
    raise error


def _replay_or_refuse(prepared: PreparedSend, by_kind: dict[str, Refusal], now: datetime) -> SendOutcome | None:
    """What any refused transaction of a send means first: a used key replays its answer, a changed number
    starts over, a rule refuses (archived). None: the refusal is about limits."""
    if "idempotency" in by_kind:
        return _replay(prepared, by_kind["idempotency"].item)
    if "number_changed" in by_kind:
        raise _StartOver
    rule = _rule_refusal(by_kind)
    if rule is not None:
        _archive_rejected(prepared, rule, now)
        raise rule
    return None


def _rule_refusal(by_kind: dict[str, Refusal]) -> ComplianceRefusal | None:
    if "opted_out" in by_kind:
        return OptedOut(
            "The contact opted out of messages from this number (or from every number of the company).",
            details={"scope": by_kind["opted_out"].guard.data.get("scope")},
        )
    if "conversational_only" in by_kind:
        return ConversationalOnly(
            "French mobile lines may only answer a contact who wrote within the conversation window, unless a "
            "person wrote the message (human_author).",
            details={"window_hours": get_settings().conversation_window_hours},
        )
    if "consent_required" in by_kind:
        return ConsentRequired(
            "Marketing messages need the contact's stored consent (PUT /consents/{phone}).",
            details={"purpose": "marketing"},
        )
    return None


def _limit_error(
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
    return budget.rate_limited(budget_reopens, now), budget_reopens


def _defer(prepared: PreparedSend, not_before: datetime, now: datetime) -> SendOutcome:
    """Store the message as `deferred` until `not_before`; the scheduled dispatcher sends it (docs/api.md, "Deferred
    messages and the dispatcher")."""
    record = _new_record(prepared, now, status="deferred", note="a quota window is full")
    record.not_before = iso(not_before)
    messages.mark_deferred(record)
    body = {"message": record.to_api()}
    plan = Plan()
    _add_checks(plan, prepared, now)
    if prepared.key_digest is not None:
        plan.add(_idempotency_put(prepared, record.id, now, answer={"status": 202, "body": body}), IDEMPOTENCY)
    plan.add(put_new(get_settings().messages_table, record.serialize(), "id"), MESSAGE_EXISTS)
    refusals = transact(plan)
    if refusals:
        replayed = _replay_or_refuse(prepared, {refusal.guard.kind: refusal for refusal in refusals}, now)
        if replayed is not None:
            return replayed
        raise ServiceBusy("The deferral was refused unexpectedly; retry shortly.", headers={"Retry-After": "1"})
    metrics.add_metric(name="MessagesDeferred", unit="Count", value=1)
    logger.info("message deferred", extra={"message_id": record.id, "not_before": record.not_before})
    return SendOutcome(202, body)


# ------------------------------------------------------------------------------------------------ Aircall
def _call_aircall(
    prepared: PreparedSend, record: messages.MessageRecord, window_list: list[quota.Window]
) -> SendOutcome:
    client = services.aircall()
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


def _sent(prepared: PreparedSend, record: messages.MessageRecord, sent: SentMessage) -> SendOutcome:
    status = from_aircall(sent.status) or "queued"
    if status in ("received", "unknown"):
        status = "queued"
    at = utcnow()
    _apply(record, status, at, "aircall_send", aircall_id=sent.aircall_id, sent_at=at)
    body = {"message": record.to_api()}
    items = [
        messages.advance_update(record.id, status, at=at, source="aircall_send", aircall_id=sent.aircall_id, sent_at=at)
    ]
    if prepared.key_digest is not None:
        items.append(_answer_update(prepared.key_digest, 201, body))
    plan = Plan()
    for item in items:
        plan.add(item, Guard("recorded"))
    try:
        if transact(plan):
            # A callback moved the message on first (Aircall can be that fast): keep its status, add our facts.
            _record_late(record.id, sent.aircall_id, at)
            if prepared.key_digest is not None:
                raw_client().update_item(**_answer_update(prepared.key_digest, 201, body)["Update"])
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
) -> SendOutcome:
    """Aircall did not take the message. Definite refusals give the segments back; an unknown outcome keeps
    them (the message may be on its way) and stays `unknown` for the callbacks to settle."""
    now = utcnow()
    error = gateway_error(failure)
    error.details["message_id"] = record.id  # the archived message, to follow (an unknown outcome) or explain
    count_failure(failure)
    budget.learn(failure.rate, now, limited=isinstance(failure, AircallRateLimited))
    settings = get_settings()
    plan = Plan()
    if not isinstance(failure, AircallOutcomeUnknown):
        for window in window_list:
            plan.add(
                release_update(
                    settings.ledger_table,
                    _window_key(prepared.number.number_id, window),
                    amount=prepared.segments,
                ),
                Guard("release"),
            )
    retryable = isinstance(failure, AircallRateLimited | AircallUnreachable)
    # Nothing was sent: a message that may wait goes back to the queue (the dispatcher's too when Aircall is
    # unreachable, since nobody else would retry it).
    not_before, why = _requeue_at(prepared, failure, now)
    deferred = not_before is not None and prepared.request.on_limit == "defer" and not_before <= prepared.not_after
    error_body = error.to_body()["error"]
    if deferred:
        assert not_before is not None
        plan.add(_back_to_deferred(record, not_before, now, why), Guard("message"))
        record.status, record.not_before, record.updated_at = "deferred", iso(not_before), iso(now)
        record.status_history = [*record.status_history, messages.change("deferred", now, "gateway", why)]
        answer: tuple[int, dict[str, Any]] | None = (202, {"message": record.to_api()})
    elif isinstance(failure, AircallOutcomeUnknown):
        plan.add(_set_error(record.id, error_body), Guard("message"))
        answer = (error.status, error.to_body())
    else:
        final = "rejected" if isinstance(failure, AircallRateLimited) else "failed"
        plan.add(
            messages.advance_update(
                record.id, final, at=now, source="aircall_send", detail=error.code, error=error_body
            ),
            Guard("message"),
        )
        answer = None if retryable else (error.status, error.to_body())
    if prepared.key_digest is not None:
        if answer is None:  # nothing was sent and a retry is safe: the key may be used again
            plan.add(_idempotency_forget(prepared.key_digest, record.id), Guard("idempotency"))
        else:
            plan.add(_answer_update(prepared.key_digest, *answer), Guard("idempotency"))
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
    if isinstance(failure, AircallUnreachable) and prepared.from_queue:
        return now + UNREACHABLE_PAUSE, "Aircall is unreachable"
    return None, ""


# ------------------------------------------------------------------------------------------------ idempotency
def _idempotency_put(
    prepared: PreparedSend, message_id: str, now: datetime, *, answer: dict[str, Any] | None
) -> dict[str, Any]:
    assert prepared.key_digest is not None
    ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
    item = {
        "pk": text(ledger.idempotency_pk(prepared.key_digest)),
        "sk": text(ledger.IDEMPOTENCY_SK),
        "message_id": text(message_id),
        "fingerprint": text(prepared.fingerprint),
        "created_at": text(iso(now)),
        "expires_at": {"N": str(int((now + ttl).timestamp()))},
    }
    if answer is not None:
        item["answer"] = text(json.dumps(answer, ensure_ascii=False))
    return put_new(get_settings().ledger_table, item, "pk", return_old=True)


def _idempotency_key(key_digest: str) -> dict[str, Any]:
    return {"pk": text(ledger.idempotency_pk(key_digest)), "sk": text(ledger.IDEMPOTENCY_SK)}


def _answer_update(key_digest: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": get_settings().ledger_table,
            "Key": _idempotency_key(key_digest),
            "UpdateExpression": "SET answer = :answer",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {
                ":answer": text(json.dumps({"status": status, "body": body}, ensure_ascii=False))
            },
        }
    }


def _idempotency_forget(key_digest: str, message_id: str) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": get_settings().ledger_table,
            "Key": _idempotency_key(key_digest),
            "ConditionExpression": "message_id = :message",
            "ExpressionAttributeValues": {":message": text(message_id)},
        }
    }


def _replay_if_used(prepared: PreparedSend) -> SendOutcome | None:
    """Before refusing on the request alone: a key used by an earlier (accepted) request replays its answer."""
    if prepared.key_digest is None:
        return None
    answer = raw_client().get_item(
        TableName=get_settings().ledger_table, Key=_idempotency_key(prepared.key_digest), ConsistentRead=True
    )
    item = answer.get("Item")
    return _replay(prepared, item) if item else None


def _replay(prepared: PreparedSend, item: dict[str, Any] | None) -> SendOutcome:
    """The first answer given to this Idempotency-Key; waits while the first request is still in flight."""
    assert prepared.key_digest is not None
    settings = get_settings()
    deadline = time.monotonic() + min(12.0, settings.aircall_connect_timeout + settings.aircall_read_timeout + 1)
    while True:
        if item is None:  # the first request gave up (nothing was sent): this one may go ahead as new
            raise _StartOver
        if item.get("fingerprint", {}).get("S") != prepared.fingerprint:
            raise IdempotencyConflict(
                "This Idempotency-Key was used with a different request body.",
                details={"message_id": item.get("message_id", {}).get("S")},
            )
        stored = item.get("answer", {}).get("S")
        if stored:
            answer = json.loads(stored)
            metrics.add_metric(name="IdempotentReplays", unit="Count", value=1)
            return SendOutcome(int(answer["status"]), answer["body"], {"Idempotent-Replayed": "true"})
        if time.monotonic() >= deadline:
            return _in_flight_answer(item["message_id"]["S"])
        time.sleep(0.1)
        item = (
            raw_client()
            .get_item(TableName=settings.ledger_table, Key=_idempotency_key(prepared.key_digest), ConsistentRead=True)
            .get("Item")
        )


def _in_flight_answer(message_id: str) -> SendOutcome:
    """The first request with this key never recorded an answer (it may have been killed): say what is known."""
    record = messages.get(message_id)
    if record is None or record.status == "unknown":
        error = gateway_error(AircallOutcomeUnknown("the first request with this key has no recorded outcome"))
        error.details["message_id"] = message_id
        return SendOutcome(error.status, error.to_body(), {"Idempotent-Replayed": "true"})
    code = 202 if record.status == "deferred" else 201
    return SendOutcome(code, {"message": record.to_api()}, {"Idempotent-Replayed": "true"})


# ------------------------------------------------------------------------------------------------ archive
def _new_record(prepared: PreparedSend, now: datetime, *, status: str, note: str) -> messages.MessageRecord:
    request = prepared.request
    return messages.MessageRecord(
        id=new_id("msg"),
        number_id=prepared.number.number_id,
        sender=prepared.number.e164,
        recipient=prepared.recipient.e164,
        contact=prepared.recipient.e164,
        direction="outbound",
        text=prepared.text,
        media_urls=list(request.media_urls),
        purpose=request.purpose,
        segments=prepared.segmentation.segments,
        encoding=prepared.segmentation.encoding,
        status=status,
        status_history=[messages.change(status, now, "gateway", note)],
        created_at=iso(now),
        updated_at=iso(now),
        not_after=iso(prepared.not_after),
        metadata=request.metadata,
        idempotency_key=prepared.idempotency_key,
        human_author=request.human_author,
        unresolved_at=iso(now) if status == "unknown" else None,
        expires_at=messages.retention_end(now, not_after=prepared.not_after),
    )


def _archive_rejected(prepared: PreparedSend, error: GatewayError, now: datetime) -> None:
    """Keep the refused request in the archive (`rejected`, with the reason): nothing was reserved or sent."""
    record = _new_record(prepared, now, status="rejected", note=error.code)
    record.status_history = [messages.change("rejected", now, "gateway", error.code)]
    record.error = error.to_body()["error"]
    try:
        record.save()
    except Exception:  # the refusal stands even when the archive cannot take it
        logger.exception("archiving a rejected request failed", extra={"code": error.code})
    metrics.add_metric(name="MessagesRejected", unit="Count", value=1)
    logger.info("send refused", extra={"code": error.code, "number_id": prepared.number.number_id})


def _apply(
    record: messages.MessageRecord,
    status: str,
    at: datetime,
    source: str,
    *,
    aircall_id: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    record.status = status
    record.updated_at = iso(at)
    record.status_history = [*record.status_history, messages.change(status, at, source)]
    if aircall_id:
        record.aircall_id = aircall_id
    if sent_at:
        record.sent_at = iso(sent_at)


def _record_late(message_id: str, aircall_id: str, at: datetime) -> None:
    raw_client().update_item(
        TableName=get_settings().messages_table,
        Key={"id": text(message_id)},
        UpdateExpression="SET aircall_id = if_not_exists(aircall_id, :aircall), sent_at = if_not_exists(sent_at, :at)",
        ExpressionAttributeValues={":aircall": text(aircall_id), ":at": text(iso(at))},
    )


def _back_to_deferred(record: messages.MessageRecord, not_before: datetime, now: datetime, why: str) -> dict[str, Any]:
    """Aircall did not take the message and nothing was sent: it waits instead (`unknown` -> `deferred`, the one
    backward move, allowed only while no Aircall id is known), back in its number's dispatch queue."""
    change = {"M": {"status": text("deferred"), "at": text(iso(now)), "source": text("gateway"), "detail": text(why)}}
    return {
        "Update": {
            "TableName": get_settings().messages_table,
            "Key": {"id": text(record.id)},
            "UpdateExpression": "SET #status = :deferred, not_before = :not_before, updated_at = :now, "
            "status_history = list_append(status_history, :change), dispatch_number = :number, "
            "dispatch_rank = :rank REMOVE unresolved_at",
            "ConditionExpression": "#status = :unknown AND attribute_not_exists(aircall_id)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":deferred": text("deferred"),
                ":unknown": text("unknown"),
                ":not_before": text(iso(not_before)),
                ":now": text(iso(now)),
                ":change": {"L": [change]},
                ":number": text(record.number_id),
                ":rank": text(messages.dispatch_rank(record.purpose, record.created_at, record.id)),
            },
        }
    }


def _set_error(message_id: str, error: dict[str, Any]) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": get_settings().messages_table,
            "Key": {"id": text(message_id)},
            "UpdateExpression": "SET #error = :error",
            "ExpressionAttributeNames": {"#error": "error"},
            "ExpressionAttributeValues": {":error": text(json.dumps(error, ensure_ascii=False))},
        }
    }


def _window_key(number_id: str, window: quota.Window) -> dict[str, Any]:
    return {"pk": text(ledger.quota_pk(number_id)), "sk": text(ledger.window_sk(window.name, window.key))}


# ------------------------------------------------------------------------------------------------ dispatching
CLAIM = Guard("claim")


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What became of one deferred message the dispatcher tried.

    `outcome`: "sent" (Aircall took it, or its outcome is unknown and the callbacks will tell), "failed" (Aircall
    refused it), "rejected" (a rule refuses it now: an opt-out since, the number removed...), "requeued" (nothing
    was sent: back in the queue), "taken" (not deferred any more: another run has it, or it expired), "retry" (the
    number changed under the cache: try again), "window_full" (one of the number's windows, until `retry_at`,
    None: the message can never fit), "budget" (the company's Aircall budget, until `retry_at`)."""

    outcome: str
    retry_at: datetime | None = None


def dispatch_deferred(record: messages.MessageRecord, now: datetime) -> Dispatched:
    """Send one deferred message, with every rule and limit checked again now; the claim (`deferred` ->
    `unknown`) is in the same transaction as the reservation, so two overlapping runs never both send it."""
    number = numbers.cached(record.number_id, get_settings().number_cache_seconds)
    if number is None:
        return _reject_deferred(record, NumberNotConfigured("The sender number is no longer configured."), now)
    prepared = _prepared_from_record(record, number)
    static = _static_refusal(prepared)
    if static is not None:
        return _reject_deferred(record, static, now)
    window_list = _windows(prepared, now)
    reservation = _reservation(window_list, now)
    plan = Plan()
    plan.add(_claim(record.id, reservation, now), CLAIM)
    _add_checks(plan, prepared, now)
    _add_charges(plan, prepared, window_list, now)
    refusals = transact(plan)
    if refusals:
        return _dispatch_refused(record, prepared, refusals, window_list, now)
    record.status, record.updated_at, record.reservation = "unknown", iso(now), reservation
    record.status_history = [*record.status_history, messages.change("unknown", now, "dispatcher", "calling Aircall")]
    record.dispatch_number = record.dispatch_rank = None
    try:
        outcome = _call_aircall(prepared, record, window_list)
    except GatewayError:
        return Dispatched("failed")  # recorded on the message by `_failed`
    return Dispatched("sent" if outcome.status_code == 201 else "requeued")


def _dispatch_refused(
    record: messages.MessageRecord,
    prepared: PreparedSend,
    refusals: list[Refusal],
    window_list: list[quota.Window],
    now: datetime,
) -> Dispatched:
    by_kind = {refusal.guard.kind: refusal for refusal in refusals}
    if "claim" in by_kind:
        return Dispatched("taken")
    if "number_changed" in by_kind:
        numbers.forget(record.number_id)
        return Dispatched("retry")
    rule = _rule_refusal(by_kind)
    if rule is not None:
        return _reject_deferred(record, rule, now)
    full = [refusal for refusal in refusals if refusal.guard.kind == "quota"]
    budget_reopens = budget.retry_at(refusals, now)
    if full:
        error, reopens = _limit_error(prepared, full, budget_reopens, window_list, now)
        if reopens is None:  # larger than a whole window (the limits were lowered since it was deferred)
            return _reject_deferred(record, error, now)
        return Dispatched("window_full", reopens)
    if budget_reopens is not None:
        return Dispatched("budget", budget_reopens)
    logger.error("dispatch refused for no known reason", extra={"kinds": sorted(by_kind)})
    return Dispatched("retry")


def _prepared_from_record(record: messages.MessageRecord, number: numbers.NumberRecord) -> PreparedSend:
    """The deferred message as the send request it came from (validated when it was accepted)."""
    request = SendRequest.model_construct(
        sender=record.number_id,
        to=record.recipient,
        text=record.text,
        media_urls=list(record.media_urls or []),
        purpose=record.purpose or "conversational",
        on_limit="defer",
        not_after=parse_time(record.not_after),
        metadata=record.metadata,
        dry_run=False,
        human_author=record.human_author,
    )
    return PreparedSend(
        request=request,
        number=number,
        sender=phone.PhoneNumber(e164=number.e164, region=number.region, kind=number.kind, country_code=0),
        recipient=phone.parse(record.recipient),
        text=record.text,
        segmentation=segments.count(record.text or ""),
        not_after=parse_time(record.not_after) or utcnow(),
        from_queue=True,
    )


def _claim(message_id: str, reservation: dict[str, str], now: datetime) -> dict[str, Any]:
    """`deferred` -> `unknown` (about to call Aircall), out of the dispatch queue, only while still deferred."""
    change = {
        "M": {
            "status": text("unknown"),
            "at": text(iso(now)),
            "source": text("dispatcher"),
            "detail": text("calling Aircall"),
        }
    }
    return {
        "Update": {
            "TableName": get_settings().messages_table,
            "Key": {"id": text(message_id)},
            "UpdateExpression": "SET #status = :unknown, updated_at = :now, unresolved_at = :now, "
            "reservation = :reservation, status_history = list_append(status_history, :change) "
            "REMOVE dispatch_number, dispatch_rank",
            "ConditionExpression": "#status = :deferred",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":unknown": text("unknown"),
                ":deferred": text("deferred"),
                ":now": text(iso(now)),
                ":reservation": text(json.dumps(reservation)),
                ":change": {"L": [change]},
            },
        }
    }


def _reject_deferred(record: messages.MessageRecord, error: GatewayError, now: datetime) -> Dispatched:
    """A rule refuses the deferred message now: it ends `rejected` with the reason (nothing was reserved)."""
    moved = messages.advance(
        record.id,
        "rejected",
        at=now,
        source="dispatcher",
        detail=error.code,
        error=error.to_body()["error"],
        only_from=("deferred",),
    )
    if not moved:
        return Dispatched("taken")
    metrics.add_metric(name="MessagesRejected", unit="Count", value=1)
    logger.info("deferred message refused", extra={"message_id": record.id, "code": error.code})
    return Dispatched("rejected")
