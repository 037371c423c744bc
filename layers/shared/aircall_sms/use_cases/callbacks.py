"""POST /webhooks/aircall: authenticate Aircall's callback, record it, then apply it — move an outbound message's
status forward, or archive an inbound message (and act on its keyword).

Aircall's callback envelope is not settled (reference §3.2), so every documented variant is accepted:
`event` or `event_name`; `message.status_updated`, `message.updated` or `message.sent`; `message.received`;
timestamps in seconds, milliseconds or ISO 8601; `media_url` or `media_details`. The only credential is the
`token` in the body: it must match the number's callback token (stored as a SHA-256 digest, compared in
constant time); anything else is 401 and nothing is stored. A body that names no number (not JSON, no `data`,
no `data.number.id`) cannot be authenticated at all: 400.

Durable first and tolerant: once authenticated, the callback is recorded (CallbacksTable, without its token)
before any other check, whatever its event or status, because Aircall does not retry proxy-mode callbacks and
publishes no closed list of either. Applying it comes next:
- a status word the gateway does not know is kept (state `unknown_status`), counted (`CallbacksUnknownStatus`)
  and moves nothing; a message callback without `data.id` or `data.status` it cannot apply is kept as
  `unusable` and counted (`CallbacksUnusable`); an unknown event is `ignored`;
- an inbound message is always archived: its contact is read internationally first (`raw_digits` carry the
  country code without `+`), then in the number's region, and kept as given when neither parses;
- a callback that cannot be applied yet (a status for a message whose Aircall id is not recorded yet) is kept
  pending and the reconciliation sweep (`reconcile`, every minute) applies it later; so is one left between its
  record and its settling by a crash or a failed write (the sweep reads every callback recorded since its mark).

Durable even when DynamoDB is short (`receive_callback`): a callback the gateway cannot authenticate or record
right now (DynamoDB throttled or timing out) is put on the callbacks queue (SQS) as it came and answered 200
`queued`; the queue's consumer (`take_queued`) takes it through this same intake later, so its token is checked
then (a forged one is refused and nothing is stored) and a duplicate is recognised by its record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aircall_sms.domain import json_depth, keywords, phone, segments
from aircall_sms.domain.ids import is_number_id
from aircall_sms.domain.status import from_aircall
from aircall_sms.domain.timeutil import iso, parse_time, utcnow
from aircall_sms.errors import GatewayError, InvalidCallback, InvalidRequest, PayloadTooLarge, Unauthorized
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import callbacks, contacts, messages, numbers, queue
from aircall_sms.store.transactions import commit, transact_one

MAX_CALLBACK_BYTES = 256 * 1024
MAX_MEDIA_URL = 4096
STATUS_EVENTS = frozenset({"message.status_updated", "message.updated", "message.sent"})
RECEIVED_EVENTS = frozenset({"message.received"})
NO_EVENT = "(none)"  # the event recorded for an authenticated callback that names none
UNKNOWN_CONTACT = "unknown"  # the contact archived for an inbound message that names none
MAX_RAW_CONTACT = 64
_STATUS_WORD = re.compile(r"[^A-Za-z0-9_.\-]")
# A status callback can arrive before the send has recorded Aircall's id (Aircall answers the send, then posts
# the callback at once). It waits this long for the id before it is left to the reconciliation sweep.
MATCH_WAIT_SECONDS = 1.5
# Messages whose Aircall outcome is unknown are matched to callbacks sent at most this long after them.
RECONCILE_WINDOW = timedelta(minutes=30)
SWEEP_DELAY = timedelta(seconds=30)
SWEEP_BATCH = 100
SWEEP_ATTEMPTS = 60  # one a minute: an hour, then the callback is abandoned (and counted)


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    event: str
    result: str  # "updated", "unchanged", "archived", "duplicate", "pending", "ignored", "unknown_status", "unusable",
    # or "queued" (on the callbacks queue: applied within minutes)
    message_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        return {"received": True, "event": self.event, "result": self.result, "message_id": self.message_id}


@dataclass(frozen=True, slots=True)
class Callback:
    """A parsed, authenticated callback."""

    event: str
    data: dict[str, Any]
    payload: dict[str, Any]
    number: numbers.NumberRecord


def receive_callback(raw_body: str | None) -> CallbackOutcome:
    """The webhook's intake: `handle_callback`, or, when DynamoDB cannot take the callback now (a 5xx, a timeout),
    the callback on the queue (`queued`): Aircall gets its 200 either way and the callback is not lost. A client
    mistake (4xx: a bad token, a malformed body) is refused as before; when the queue fails too, the first
    failure is raised (503 `service_busy` for a throttle)."""
    try:
        return handle_callback(raw_body)
    except GatewayError as refused:
        if refused.status < 500:
            raise
        failure: Exception = refused
    except Exception as crashed:
        failure = crashed
    assert raw_body is not None  # parsed by handle_callback before any DynamoDB call, or refused (4xx)
    try:
        queue.enqueue_callback(raw_body)
    except Exception:
        logger.exception("callback neither recorded nor queued")
        raise failure from None
    logger.warning("callback queued: DynamoDB could not take it now", extra={"error": type(failure).__name__})
    metrics.add_metric(name="CallbacksQueued", unit="Count", value=1)
    payload = _parse(raw_body)
    named = payload.get("event") or payload.get("event_name")
    event = named[:64] if isinstance(named, str) and named.strip() else NO_EVENT
    return CallbackOutcome(event=event, result="queued")


def take_queued(queued: list[tuple[str, str]]) -> list[str]:
    """The callbacks queue's consumer: each (SQS message id, body) through `handle_callback`, without waiting for
    a send to record Aircall's id (the sweep applies such a status later). Answers the ids to deliver again:
    those DynamoDB still could not take. A callback refused (4xx: its token, checked only now) is done: nothing
    is stored, `CallbacksRefused` counts it."""
    again: list[str] = []
    for message_id, body in queued:
        try:
            outcome = handle_callback(body, wait=False)
        except GatewayError as refused:
            if refused.status >= 500:
                again.append(message_id)
            else:
                logger.info("queued callback refused", extra={"code": refused.code, "status": refused.status})
            continue
        except Exception:
            logger.exception("queued callback failed again: it stays on the queue")
            again.append(message_id)
            continue
        logger.info("queued callback handled", extra={"event": outcome.event, "result": outcome.result})
    return again


def handle_callback(raw_body: str | None, *, wait: bool = True) -> CallbackOutcome:
    payload = _parse(raw_body)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidCallback("The callback has no data object.")
    number = _authenticate(payload.get("token"), data)
    # Authenticated: from here on nothing is refused, and the callback is recorded before anything else.
    named = payload.get("event") or payload.get("event_name")
    event = named[:64] if isinstance(named, str) and named.strip() else NO_EVENT
    if number is None:  # the account webhook's event about a number not in agent mode here: nothing to keep
        return CallbackOutcome(event=event, result="ignored")
    callback = Callback(event=event, data=data, payload=payload, number=number)
    aircall_id = _aircall_id(data)
    stored, new = callbacks.record(number.number_id, callback.event, aircall_id, payload, utcnow())
    if not new and not callbacks.unapplied(stored):
        return CallbackOutcome(event=callback.event, result="duplicate", message_id=stored.message_id)
    try:
        return _apply_callback(callback, stored, wait=wait)
    except Exception:
        # Recorded is enough to answer 200: the reconciliation sweep applies it (Aircall may never resend it).
        logger.exception("callback recorded but not applied", extra={"event": callback.event})
        metrics.add_metric(name="CallbacksDeferred", unit="Count", value=1)
        try:
            callbacks.keep_pending(stored, "failed", give_up=False)  # every attempt counts toward giving up
        except Exception:
            logger.exception("could not count the failed attempt")
        return CallbackOutcome(event=callback.event, result="pending")


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """The sweep, every minute, over the callbacks received more than `SWEEP_DELAY` ago:
    1. every callback recorded since the sweep's mark: the ones still `received` (a crash, a timeout or a failed
       write between their record and their settling) are applied now; then the mark moves past them all;
    2. the `pending` ones (an attempt could not apply them), oldest first, a batch per run, each until it is
       applied or has had `SWEEP_ATTEMPTS` tries.
    A crash of the sweep itself leaves the mark where it was: the next run examines the same callbacks again,
    and those it applied are `applied` by then (each is applied once)."""
    moment = now or utcnow()
    upto = moment - SWEEP_DELAY
    counts = {"applied": 0, "pending": 0, "abandoned": 0}
    waited = 0.0  # how long the oldest callback not applied yet has waited (CallbacksPendingTooLongAlarm)
    received = callbacks.received_after(callbacks.sweep_mark(), upto, moment - callbacks.RETENTION, SWEEP_BATCH)
    examined: set[str] = set()
    if received:
        for stored in callbacks.get_many([callback_id for _, callback_id in received]):
            if stored.state == "received" and not stored.pending:  # recorded, never settled nor counted
                examined.add(stored.id)
                waited = max(waited, _waited(stored, moment))
                _sweep_one(stored, counts)
        callbacks.move_sweep_mark(received[-1][0])
        if len(received) >= SWEEP_BATCH:  # more behind the batch: none of them examined yet
            waited = max(waited, (moment - (parse_time(received[-1][0]) or moment)).total_seconds())
    batch = [stored for stored in callbacks.pending_before(upto, SWEEP_BATCH) if stored.id not in examined]
    if batch:  # oldest first
        waited = max(waited, _waited(batch[0], moment))
    if received or batch:
        metrics.add_metric(name="CallbacksPendingOldestAge", unit="Seconds", value=waited)
    for stored in batch:
        _sweep_one(stored, counts)
    if any(counts.values()):
        logger.info("callbacks reconciled", extra=counts)
    return counts


def _waited(stored: callbacks.CallbackRecord, moment: datetime) -> float:
    return max(0.0, (moment - (parse_time(stored.received_at) or moment)).total_seconds())


def _sweep_one(stored: callbacks.CallbackRecord, counts: dict[str, int]) -> None:
    # `attempts` counts the live attempt and every sweep: a callback gets SWEEP_ATTEMPTS sweeps.
    last_chance = stored.attempts + 1 > SWEEP_ATTEMPTS
    number = numbers.get(stored.number_id)
    body = stored.body()
    data = body.get("data")
    if number is None or not isinstance(data, dict):
        callbacks.abandon(stored)
        counts["abandoned"] += 1
        return
    try:
        outcome = _apply_callback(
            Callback(event=stored.event, data=data, payload=body, number=number), stored, wait=False
        )
    except Exception:  # one callback that keeps failing must not hold back the ones behind it
        logger.exception("a pending callback failed again", extra={"event": stored.event})
        callbacks.keep_pending(stored, "failed", give_up=False)
        outcome = CallbackOutcome(event=stored.event, result="pending")
    if outcome.result != "pending":
        counts["applied"] += 1
    elif last_chance:
        callbacks.abandon(stored)
        counts["abandoned"] += 1
        metrics.add_metric(name="CallbacksAbandoned", unit="Count", value=1)
    else:
        counts["pending"] += 1


# ------------------------------------------------------------------------------------------------ parsing
def _parse(raw_body: str | None) -> dict[str, Any]:
    if raw_body is None or not raw_body.strip():
        raise InvalidCallback("The callback body is empty.")
    if len(raw_body) > MAX_CALLBACK_BYTES or len(raw_body.encode("utf-8", "surrogatepass")) > MAX_CALLBACK_BYTES:
        raise PayloadTooLarge(
            f"The callback body is larger than {MAX_CALLBACK_BYTES} bytes.", details={"limit_bytes": MAX_CALLBACK_BYTES}
        )
    if json_depth.too_deep(raw_body):
        raise InvalidRequest(
            f"The callback body nests arrays and objects deeper than {json_depth.MAX_DEPTH} levels.",
            details={"max_depth": json_depth.MAX_DEPTH},
        )
    try:
        payload = json.loads(raw_body)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidRequest("The callback body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidCallback("The callback body must be a JSON object.")
    return payload


def _authenticate(token: object, data: dict[str, Any]) -> numbers.NumberRecord | None:
    """The number whose token the callback carries; None for an event of the agent-mode account webhook (its
    token) about a number not in agent mode here (the webhook fires for every number of the company)."""
    number_ref = data.get("number")
    number_id = number_ref.get("id") if isinstance(number_ref, dict) else None
    if isinstance(number_id, bool) or not isinstance(number_id, int | str) or not is_number_id(str(number_id)):
        raise InvalidCallback("The callback's data.number.id is missing or not a number id.")
    if not isinstance(token, str) or not token or len(token) > 1024:
        raise Unauthorized("The callback token is missing or invalid.")
    max_age = get_settings().number_cache_seconds
    record = numbers.cached(str(int(number_id)), max_age, absence_too=True)
    digest = hashlib.sha256(token.encode()).hexdigest()
    expected = record.callback_token_sha256 if record and record.callback_token_sha256 else ""
    # Compare even for unknown numbers, so timing tells nothing about which numbers exist.
    if not hmac.compare_digest(digest, expected or "0" * 64) or record is None or not expected:
        webhook = numbers.cached_webhook(max_age)
        if hmac.compare_digest(digest, webhook.token_sha256 if webhook else "0" * 64) and webhook is not None:
            return None
        metrics.add_metric(name="CallbacksRefused", unit="Count", value=1)
        raise Unauthorized("The callback token is missing or invalid.")
    return record


def _aircall_id(data: dict[str, Any]) -> str | None:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "" or len(str(value)) > 128:
        return None
    return str(value)


# ------------------------------------------------------------------------------------------------ applying
def _apply_callback(callback: Callback, stored: callbacks.CallbackRecord, *, wait: bool) -> CallbackOutcome:
    event, data = callback.event, callback.data
    if event in STATUS_EVENTS:
        if _aircall_id(data) is None:
            return _unusable(callback, stored, "a status callback without data.id")
        if from_aircall(data.get("status")) is None:
            return _unknown_status(callback, stored)
        return _status_update(callback, stored, wait=wait)
    if event in RECEIVED_EVENTS:
        return _inbound(callback, stored)
    logger.info("callback event not handled", extra={"event": event})
    _settle(stored, "ignored", "ignored", None)
    return CallbackOutcome(event=event, result="ignored")


def _unknown_status(callback: Callback, stored: callbacks.CallbackRecord) -> CallbackOutcome:
    """A status word the gateway does not know: kept (the record has the whole payload), counted, and the
    message stays where it is (a word may mean anything, even "still trying")."""
    raw = callback.data.get("status")
    word = _STATUS_WORD.sub("", raw)[:32] if isinstance(raw, str) else type(raw).__name__
    logger.warning("status callback with an unknown status word", extra={"event": callback.event, "status": word})
    metrics.add_metric(name="CallbacksUnknownStatus", unit="Count", value=1)
    _settle(stored, "unknown_status", "unknown_status", None)
    return CallbackOutcome(event=callback.event, result="unknown_status")


def _unusable(callback: Callback, stored: callbacks.CallbackRecord, why: str) -> CallbackOutcome:
    """An authenticated message callback the gateway cannot apply: kept as it came, counted."""
    logger.warning("callback kept but not applicable", extra={"event": callback.event, "reason": why})
    metrics.add_metric(name="CallbacksUnusable", unit="Count", value=1)
    _settle(stored, "unusable", "unusable", None)
    return CallbackOutcome(event=callback.event, result="unusable")


def _status_update(callback: Callback, stored: callbacks.CallbackRecord, *, wait: bool) -> CallbackOutcome:
    data, event = callback.data, callback.event
    aircall_id = _aircall_id(data)
    status = from_aircall(data.get("status"))
    assert aircall_id is not None  # checked by _apply_callback
    assert status is not None
    at = parse_time(data.get("updated_at")) or parse_time(callback.payload.get("timestamp")) or utcnow()
    error = None
    if status == "failed":
        error = {"code": "delivery_failed", "message": "Aircall reported the message as not delivered.", "details": {}}
    deadline = time.monotonic() + (MATCH_WAIT_SECONDS if wait else 0)
    while True:
        message_id = messages.find_id_by_aircall_id(aircall_id)
        if message_id is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    claimed = False
    if message_id is None:
        match = _unresolved_match(callback, at)
        message_id, claimed = (match.id, True) if match is not None else (None, False)
    if message_id is None and callback.number.mode == "agent":
        # Not a gateway message: an agent wrote from the Aircall apps (agent mode's webhook reports those too).
        _settle(stored, "ignored", "ignored", None)
        return CallbackOutcome(event=event, result="ignored")
    if message_id is None:
        callbacks.keep_pending(stored, "unmatched", give_up=False)
        logger.warning("status callback for a message not known yet", extra={"event": event})
        return CallbackOutcome(event=event, result="pending")
    move = messages.advance_update(
        message_id,
        status,
        at=at,
        source="callback",
        detail=event,
        error=error,
        aircall_id=aircall_id if claimed else None,
        unclaimed=claimed,
        clear_error=claimed,  # the timeout that left it unknown is explained now
    )
    # Two single writes, not one transaction (which bills each item twice): the move, then the callback settled.
    # A crash between them leaves the callback pending; the sweep applies it again, the status machine finds the
    # move made (`unchanged`) and settles it.
    moved = transact_one(move)
    if claimed and not moved:  # another callback claimed that message first: look again later
        callbacks.keep_pending(stored, "unmatched", give_up=False)
        return CallbackOutcome(event=event, result="pending")
    # moved, or a duplicate or out-of-order status (nothing to change): the callback is done
    _settle(stored, "applied", "updated" if moved else "unchanged", message_id)
    if claimed and moved:
        logger.info("callback reconciled a message whose outcome was unknown", extra={"message_id": message_id})
    return CallbackOutcome(event=event, result="updated" if moved else "unchanged", message_id=message_id)


def _unresolved_match(callback: Callback, at: datetime) -> messages.MessageRecord | None:
    """The message whose Aircall outcome is unknown that this callback is about: same number, sent before the
    callback, and the same contact and text when the callback carries them (it must carry one of them)."""
    data = callback.data
    contact = _contact(data.get("external_number") or data.get("to") or data.get("raw_digits"), callback.number)
    text = data.get("body") if isinstance(data.get("body"), str) else None
    if contact is None and text is None:
        return None
    candidates = messages.unresolved(
        callback.number.number_id, at - RECONCILE_WINDOW, at + timedelta(minutes=1), contact=contact, text=text
    )
    return candidates[0] if candidates else None


def _inbound(callback: Callback, stored: callbacks.CallbackRecord) -> CallbackOutcome:
    data, number, event = callback.data, callback.number, callback.event
    aircall_id = _aircall_id(data)
    contact, is_phone = _inbound_contact(data, number)
    body = data.get("body") if isinstance(data.get("body"), str) else None
    now = utcnow()
    received_at = min(parse_time(data.get("created_at")) or parse_time(callback.payload.get("timestamp")) or now, now)
    keyword = keywords.classify(body)
    # The gateway id is derived from Aircall's id, so a redelivered callback writes nothing new (without an id,
    # from the recorded callback: the same payload again is the same message).
    origin = aircall_id if aircall_id is not None else stored.id
    message_id = "msg_in_" + hashlib.sha256(f"{number.number_id}:{origin}".encode()).hexdigest()[:26]
    segmentation = segments.count(body or "")
    media = _media(data)
    record = messages.MessageRecord(
        id=message_id,
        aircall_id=aircall_id,
        number_id=number.number_id,
        sender=contact,
        recipient=number.e164,
        contact=contact,
        direction="inbound",
        text=body,
        media_urls=[item["url"] for item in media],
        media_details=media or None,
        # Copied into the media bucket off this path (the MediaFunction, on the archive's stream).
        media_status="pending" if media else None,
        segments=segmentation.segments,
        encoding=segmentation.encoding,
        status="received",
        status_history=[messages.change("received", received_at, "callback", event)],
        created_at=iso(received_at),
        updated_at=iso(now),
        keyword=keyword,
        expires_at=messages.retention_end(received_at),
    )
    items: list[dict[str, Any]] = [messages.put_new(record)]
    # A contact that is not a phone number is archived as given; nobody can be opted out, answered or written
    # to at that "number", so its keyword is recorded on the message and acts on nothing.
    if keyword in ("opt_out", "opt_in") and is_phone:
        items.append(_keyword_item(keyword, contact, number.number_id, received_at, aircall_id or message_id))
    items.append(callbacks.settle_update(stored, "applied", "archived", message_id))
    if not is_phone:
        logger.warning("inbound contact is not a phone number: archived as given", extra={"event": event})
        metrics.add_metric(name="InboundContactsUnparsed", unit="Count", value=1)
        archived = commit(items)
    else:
        # The contact wrote: a French mobile line may answer within the conversation window from now on.
        conversation = contacts.conversation_update(
            contact, number_id=number.number_id, at=received_at, message_id=message_id
        )
        archived = commit([*items, conversation]) or commit(items)
    if not archived:  # the message was archived by an earlier delivery with another envelope
        _settle(stored, "applied", "duplicate", message_id)
        return CallbackOutcome(event=event, result="duplicate", message_id=message_id)
    metrics.add_metric(name="MessagesReceived", unit="Count", value=1)
    if keyword is not None:
        metrics.add_metric(name=f"Keyword_{keyword}", unit="Count", value=1)
        logger.info("keyword received", extra={"keyword": keyword, "number_id": number.number_id})
        if is_phone:
            _auto_reply(keyword, number, contact, message_id)
    return CallbackOutcome(event=event, result="archived", message_id=message_id)


def _keyword_item(keyword: str, contact: str, number_id: str, at: datetime, aircall_id: str) -> dict[str, Any]:
    if keyword == "opt_in":
        return contacts.opt_in_delete(contact, number_id=number_id)
    return contacts.opt_out_update(
        contact, number_id=number_id, at=at, source="keyword", detail=f"inbound message {aircall_id}"
    )


def _auto_reply(keyword: str, number: numbers.NumberRecord, contact: str, message_id: str) -> None:
    """The configured answer to a keyword, through the normal send path (its rules and quotas; an opt-out's
    confirmation goes to a contact who just opted out, as carriers expect). Never fails the callback."""
    text = auto_replies().get(keyword)
    if not text:
        return
    from aircall_sms.domain.access import GATEWAY
    from aircall_sms.domain.requests import SendRequest  # the send path is loaded only when a reply is configured
    from aircall_sms.use_cases.send import send_message

    request = SendRequest.model_validate({"from": number.number_id, "to": contact, "text": text})
    try:
        send_message(request, principal=GATEWAY, idempotency_key=f"auto-reply:{message_id}", confirms_opt_out=True)
    except GatewayError as refused:
        logger.warning("automatic reply not sent", extra={"keyword": keyword, "code": refused.code})
    except Exception:
        logger.exception("automatic reply failed", extra={"keyword": keyword})


def auto_replies() -> dict[str, str]:
    raw = get_settings().auto_replies
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except json.JSONDecodeError:
        logger.error("AUTO_REPLIES is not JSON: no automatic replies")
        return {}
    if not isinstance(document, dict):
        return {}
    return {key: value for key, value in document.items() if key in ("opt_out", "opt_in", "help") and value}


def _inbound_contact(data: dict[str, Any], number: numbers.NumberRecord) -> tuple[str, bool]:
    """The contact of an inbound message and whether it is a phone number: the first of `external_number`,
    `raw_digits`, `from` that parses, else the first given as it is (trimmed), else "unknown"."""
    given = [data.get(name) for name in ("external_number", "raw_digits", "from")]
    candidates = [str(value).strip() for value in given if _scalar(value) and str(value).strip()]
    for candidate in candidates:
        parsed = _contact(candidate, number)
        if parsed is not None:
            return parsed, True
    return (candidates[0][:MAX_RAW_CONTACT] if candidates else UNKNOWN_CONTACT), False


def _scalar(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _contact(raw: object, number: numbers.NumberRecord) -> str | None:
    """`raw` in E.164, or None: read internationally first (`+33…`, or digits that start with their country code,
    as Aircall's `raw_digits` do), then as a national number of the Aircall number's region."""
    if not _scalar(raw):
        return None
    text = str(raw)
    for region in (None, number.region):
        try:
            return phone.parse(text, default_region=region).e164
        except phone.InvalidPhoneNumber:
            continue
    return None


def _media(data: dict[str, Any]) -> list[dict[str, str]]:
    """Media of an inbound MMS: `media_details` ({file_name, file_type, presigned_url}), plain `media_url`, or both."""
    found: list[dict[str, str]] = []
    details = data.get("media_details")
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict) and isinstance(item.get("presigned_url"), str) and _usable(item["presigned_url"]):
                entry = {"url": item["presigned_url"]}
                for name in ("file_name", "file_type"):
                    if isinstance(item.get(name), str):
                        entry[name] = item[name][:255]
                found.append(entry)
    plain = data.get("media_url")
    urls = plain if isinstance(plain, list) else [plain] if isinstance(plain, str) and plain else []
    found.extend({"url": url} for url in urls if isinstance(url, str) and _usable(url))
    # Aircall may give the same files both ways: each URL once, with its details when it has them.
    unique: dict[str, dict[str, str]] = {}
    for entry in found:
        unique.setdefault(entry["url"], entry)
    return list(unique.values())[:10]


def _usable(url: str) -> bool:
    """A media URL worth keeping: not empty, and no longer than any real URL (the archive item must fit)."""
    return 0 < len(url) <= MAX_MEDIA_URL


# ------------------------------------------------------------------------------------------------ writing
def _settle(stored: callbacks.CallbackRecord, state: str, result: str, message_id: str | None) -> None:
    transact_one(callbacks.settle_update(stored, state, result, message_id))
