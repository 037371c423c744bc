"""Consent and opt-out through the API: record, list and remove opt-outs (of one number or of every number), and
record, read and withdraw marketing consents with their evidence. The send path checks both (send_message);
inbound STOP/START keywords write the same opt-out items (callbacks).

Phones are read as on the send path: E.164, or the national format of the number's country when a number is named.
A key limited to numbers works on those numbers only: naming another, or acting for every number (a company-wide
opt-out or consent), is 403 `number_not_allowed`; what it reads is narrowed to its numbers (and the company-wide
facts, which bind its numbers too). Every change records the client key that made it (`client_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from aircall_sms.domain import pages, phone
from aircall_sms.domain.access import Principal
from aircall_sms.domain.requests import ConsentRequest, OptOutRequest
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.errors import InvalidPhone, InvalidRequest, NotFound, NumberNotConfigured
from aircall_sms.store import contacts, numbers
from aircall_sms.use_cases.numbers import parse_number_id

OPT_OUT_CURSOR_KEYS = frozenset({"contact", "sk", "scope", "at"})
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OptOutAnswer:
    opt_out: dict[str, Any]
    created: bool


# ------------------------------------------------------------------------------------------------ opt-outs
def opt_out(principal: Principal, raw_phone: str, request: OptOutRequest | None) -> OptOutAnswer:
    """PUT /opt-outs/{phone}: the contact opts out of the number (or of every number); a repeat keeps the first."""
    request = request or OptOutRequest()
    number = _configured(principal, request.number_id)
    contact = _contact(raw_phone, number)
    number_id = number.number_id if number else None
    created = contacts.opt_out(
        contact, number_id=number_id, at=utcnow(), source=request.source, client_id=principal.client_id
    )
    stored = contacts.get_opt_out(contact, number_id=number_id)
    if stored is None:  # removed again between the two calls
        raise NotFound("The opt-out was removed while it was being recorded.", details={"field": "phone"})
    return OptOutAnswer(opt_out=stored.to_api(), created=created)


def remove_opt_out(principal: Principal, raw_phone: str, raw_number_id: str | None) -> dict[str, Any]:
    """DELETE /opt-outs/{phone}[?number_id=]: the contact may be sent to again (404 when it had not opted out)."""
    number_id, number = _named_number(principal, raw_number_id, every_number_needs_all=True)
    contact = _contact(raw_phone, number)
    if not contacts.opt_in(contact, number_id=number_id, removed_by=principal.client_id, at=utcnow()):
        scope = f"number {number_id}" if number_id else "every number"
        raise NotFound(f"The contact has no opt-out of {scope}.", details={"number_id": _api_id(number_id)})
    return {"removed": True, "client_id": principal.client_id}


def list_opt_outs(principal: Principal, raw_number_id: str | None, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /opt-outs[?number_id=]: the opt-outs of one number, or the company-wide ones, newest first."""
    number_id, _ = _named_number(principal, raw_number_id, every_number_needs_all=False)
    start_key = pages.decode_cursor(cursor, keys=OPT_OUT_CURSOR_KEYS)
    if start_key is not None and start_key["scope"]["S"] != (number_id or contacts.EVERY_NUMBER):
        raise InvalidRequest("The cursor belongs to another list.", details={"field": "cursor"})
    found, last_key = contacts.list_opt_outs(number_id, limit=limit, start_key=start_key)
    return {"items": [item.to_api() for item in found], "next_cursor": pages.encode_cursor(last_key)}


# ------------------------------------------------------------------------------------------------ consents
def record_consent(principal: Principal, raw_phone: str, request: ConsentRequest) -> dict[str, Any]:
    """PUT /consents/{phone}: store the consent's evidence (a new one for the same scope replaces it)."""
    now = utcnow()
    if request.captured_at > now + CLOCK_SKEW:
        raise InvalidRequest("captured_at is in the future.", details={"field": "captured_at"})
    number = _configured(principal, request.number_id)
    contact = _contact(raw_phone, number)
    evidence = {
        "source": request.source,
        "captured_at": iso(request.captured_at),
        "text": request.text,
        "recorded_at": iso(now),
        "client_id": principal.client_id,
    }
    if request.evidence_url is not None:
        evidence["evidence_url"] = request.evidence_url
    number_id = number.number_id if number else None
    contacts.record_consent(
        contact, purpose=request.purpose, number_id=number_id, evidence=evidence, changed_by=principal.client_id
    )
    return {"contact": contact, "consent": _consent(request.purpose, number_id or contacts.EVERY_NUMBER, evidence)}


def consents_of(principal: Principal, raw_phone: str) -> dict[str, Any]:
    """GET /consents/{phone}: every consent of the contact with its evidence (for a key limited to numbers: of
    its numbers, and the company-wide ones)."""
    contact = _contact(raw_phone, None)
    listed = [
        _consent(purpose, scope, evidence)
        for purpose, scopes in sorted(contacts.consents(contact).items())
        for scope, evidence in sorted(scopes.items())
        if scope == contacts.EVERY_NUMBER or principal.allows(scope)
    ]
    return {"contact": contact, "consents": listed}


def withdraw_consent(principal: Principal, raw_phone: str, raw_number_id: str | None, purpose: str) -> dict[str, Any]:
    """DELETE /consents/{phone}[?number_id=]: withdraw the consent given for that number, or every consent
    for `purpose` when no number is named."""
    number_id, number = _named_number(principal, raw_number_id, every_number_needs_all=True)
    contact = _contact(raw_phone, number)
    removed = contacts.withdraw_consent(contact, purpose=purpose, number_id=number_id, changed_by=principal.client_id)
    return {"removed": removed, "client_id": principal.client_id}


def _consent(purpose: str, scope: str, evidence: dict[str, str]) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "number_id": _api_id(None if scope == contacts.EVERY_NUMBER else scope),
        "source": evidence.get("source"),
        "captured_at": evidence.get("captured_at"),
        "text": evidence.get("text"),
        "evidence_url": evidence.get("evidence_url"),
        "recorded_at": evidence.get("recorded_at"),
        "client_id": evidence.get("client_id"),
    }


# ------------------------------------------------------------------------------------------------ parsing
def _configured(principal: Principal, raw_number_id: int | str | None) -> numbers.NumberRecord | None:
    """The configured number a body names (None: every number, which a key limited to numbers may not name)."""
    if raw_number_id is None:
        principal.require_every_number()
        return None
    number_id = parse_number_id(str(raw_number_id))
    principal.require_number(number_id)
    record = numbers.get(number_id)
    if record is None:
        raise NumberNotConfigured(
            f"Number {number_id} is not configured in the gateway.", details={"number_id": int(number_id)}
        )
    return record


def _named_number(
    principal: Principal, raw_number_id: str | None, *, every_number_needs_all: bool
) -> tuple[str | None, numbers.NumberRecord | None]:
    """A number named in a query: removing and listing work for a number no longer configured too (its
    opt-outs stay); its configuration, when there is one, lets the phone be in national format. No number:
    every number (for a change, only a key for every number may mean that)."""
    if raw_number_id is None or raw_number_id == "":
        if every_number_needs_all:
            principal.require_every_number()
        return None, None
    number_id = parse_number_id(raw_number_id)
    principal.require_number(number_id)
    return number_id, numbers.get(number_id)


def parse_contact(principal: Principal, raw_phone: str, raw_number_id: str | None) -> str:
    """A contact named in a path, in E.164 or, with a `number_id` query, in that number's national format."""
    _, number = _named_number(principal, raw_number_id, every_number_needs_all=False)
    return _contact(raw_phone, number)


def _contact(raw_phone: str, number: numbers.NumberRecord | None) -> str:
    try:
        return phone.parse(unquote(raw_phone), default_region=number.region if number else None).e164
    except phone.InvalidPhoneNumber:
        raise InvalidPhone("The phone is not a valid phone number.", details={"field": "phone"}) from None


def _api_id(number_id: str | None) -> int | None:
    return int(number_id) if number_id is not None else None
