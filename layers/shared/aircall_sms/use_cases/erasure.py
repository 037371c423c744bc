"""DELETE /contacts/{phone}: the right to erasure. Every record of the contact goes, from every table and with it
every index, except the opt-out fact (so a STOP stays honoured):

    table           what is erased                                          found by
    ContactsTable   consents and conversation windows (opt-outs stay)       the contact's partition
    MessagesTable   every message with the contact, both directions         index `by_contact`
    CallbacksTable  Aircall's callbacks about those messages (they hold     index `by_aircall_id`, per message
                    the number and the text)
    LedgerTable     the Idempotency-Key records of those messages (they     the message's key (24 h records)
                    hold the first answer: the message)
    media bucket    the copies of those messages' MMS files                 the message's `media`

No Scan: each is a key or an index lookup. A message is deleted after its callbacks, its key record and its media
copies, so an erasure cut short leaves every message that still has traces, and the next call finds them again.

The work is bounded for API Gateway (29 s) and Lambda (15 s): one call erases for at most `TIME_BUDGET` seconds
and `MESSAGES_PER_CALL` messages, then answers 202 (`complete: false`) with what it erased so far; the client
repeats the call until it answers 200 (`complete: true`). Each call counts what it erased itself.

Each call leaves an audit record without the contact (`store.audit`: who erased, when, how much, for which
numbers) and publishes `contact.erased` with the same facts.

Not reachable from here: events already published on the event bus (the customer's rules decide where they
went), the tables' point-in-time recovery backups (35 days), logs (phone numbers are masked there), and a status
callback Aircall sent about a message whose send timed out and that never matched it (its Aircall id is nowhere
in the archive); the callbacks table drops every callback 30 days after it arrived.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aircall_sms.domain import events
from aircall_sms.domain.access import Principal
from aircall_sms.domain.ids import new_id
from aircall_sms.domain.timeutil import iso, parse_time, utcnow
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import audit, base, callbacks, contacts, idempotency, messages
from aircall_sms.use_cases import media, publish_events
from aircall_sms.use_cases.consent import parse_contact

TIME_BUDGET = 8.0  # seconds of work per call, well inside Lambda's 15 s and API Gateway's 29 s
MESSAGES_PER_CALL = 2_000
PAGE = 100
LOOKUP_THREADS = 8
# DynamoDB's TTL deletes an expired item within about two days: an idempotency record may outlive its 24 hours.
TTL_LAG = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class ErasureAnswer:
    complete: bool
    body: dict[str, Any]


def erase_contact(principal: Principal, raw_phone: str, raw_number_id: str | None = None) -> ErasureAnswer:
    """Erase what the gateway keeps about one contact (E.164, or the national format of `number_id`'s country).
    A key limited to numbers erases what concerns its numbers only: their messages (and callbacks and key
    records), their conversation windows and consents."""
    contact = parse_contact(principal, raw_phone, raw_number_id)
    deadline = time.monotonic() + TIME_BUDGET
    now = utcnow()
    facts = contacts.erase_facts(contact, number_ids=principal.number_ids)
    erased = {
        "messages": 0,
        "callbacks": 0,
        "idempotency_records": 0,
        "media_objects": 0,
        "consents": facts["consents"],
        "conversations": facts["conversations"],
    }
    keys_since = now - timedelta(hours=get_settings().idempotency_ttl_hours) - TTL_LAG
    base.raw_client()  # made once here, shared by the lookup threads
    start: dict[str, Any] | None = None
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS) as pool:
        while True:
            message_ids, start = messages.contact_message_ids(contact, limit=PAGE, start=start)
            found = [
                message for message in messages.erasure_facts(message_ids) if principal.allows(message["number_id"])
            ]
            traces = list(pool.map(lambda message: _erase_traces(message, keys_since), found))
            erased["callbacks"] += sum(callbacks_erased for callbacks_erased, _ in traces)
            erased["idempotency_records"] += sum(key_erased for _, key_erased in traces)
            erased["media_objects"] += media.delete_copies(found)
            erased["messages"] += messages.delete_all([message["id"] for message in found])
            if start is None:
                complete = True
                break
            if time.monotonic() >= deadline or erased["messages"] >= MESSAGES_PER_CALL:
                complete = False
                break
    metrics.add_metric(name="ContactErasures", unit="Count", value=1)
    logger.info("contact erased", extra={"complete": complete, **erased, "opt_outs_kept": facts["opt_outs"]})
    erasure = audit.Erasure(
        id=new_id("era"),
        client_id=principal.client_id,
        at=iso(now),
        number_ids=None if principal.number_ids is None else sorted(principal.number_ids, key=int),
        complete=complete,
        erased=erased,
    )
    audit.record_erasure(erasure)
    publish_events.publish_now(events.erasure_event(erasure.to_api()))
    body: dict[str, Any] = {
        "contact": contact,
        "complete": complete,
        "erased": erased,
        "kept": {"opt_outs": facts["opt_outs"]},
        "erasure_id": erasure.id,
        "client_id": principal.client_id,
    }
    if not complete:
        body["message"] = "More of the contact's messages remain: repeat the request to go on erasing."
    return ErasureAnswer(complete=complete, body=body)


def _erase_traces(message: dict[str, str], keys_since: datetime) -> tuple[int, int]:
    """Delete the callbacks and the Idempotency-Key record of one message: (callbacks, key records) deleted."""
    aircall_id = message.get("aircall_id")
    erased_callbacks = callbacks.delete_all(callbacks.ids_about(aircall_id)) if aircall_id else 0
    key = message.get("idempotency_key")
    created = parse_time(message.get("created_at"))
    recent = created is None or created >= keys_since
    # A message sent before client keys has no client_id: its key record (keyed the old way) expires by itself.
    client_id = message.get("client_id")
    forgotten = bool(key) and bool(client_id) and recent and idempotency.forget(str(client_id), str(key), message["id"])
    erased_key = int(forgotten)
    return erased_callbacks, erased_key
