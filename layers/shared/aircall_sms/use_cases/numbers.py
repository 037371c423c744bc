"""Configuring Aircall numbers in the gateway: proxy mode (Aircall posts callbacks here) or agent mode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aircall_sms.clients.aircall import (
    AircallFailure,
    AircallOutcomeUnknown,
    AircallRateLimited,
    AircallRefused,
    count_failure,
    gateway_error,
)
from aircall_sms.domain import phone, quota
from aircall_sms.domain.access import Principal
from aircall_sms.domain.ids import is_number_id
from aircall_sms.domain.pages import decode_cursor, encode_cursor
from aircall_sms.domain.status import WAITING
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.domain.windows import WINDOWS
from aircall_sms.errors import AircallError, GatewayError, InvalidRequest, NumberNotConfigured, NumberNotFound
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings
from aircall_sms.store import budget, messages, numbers, usage
from aircall_sms.use_cases import agent_webhook, services
from aircall_sms.use_cases import budget as aircall_budget
from aircall_sms.use_cases.limits import number_windows

if TYPE_CHECKING:  # an annotation only: pydantic is loaded by the routes that validate
    from aircall_sms.domain.requests import NumberRequest

APP_MESSAGING_WARNING = (
    "This number is configured for Aircall API messaging (proxy mode): the Aircall apps can no longer send or "
    "receive SMS on it (calls still work). DELETE /numbers/{number_id} gives app messaging back."
)

AIRCALL_PER_PAGE = 50  # Aircall's largest page of numbers
AIRCALL_PAGES_PER_ANSWER = 10  # GET /aircall/numbers: at most 10 of the company's Aircall requests per answer


@dataclass(frozen=True, slots=True)
class NumberAnswer:
    number: dict[str, Any]
    created: bool
    warning: str | None


def parse_number_id(raw: str) -> str:
    if not is_number_id(raw):
        raise InvalidRequest("number_id is Aircall's numeric number id.", details={"field": "number_id"})
    return str(int(raw))


def configure(
    principal: Principal, number_id: str, request: NumberRequest, *, request_callback_url: str
) -> NumberAnswer:
    """Create or update the gateway's configuration of an Aircall number (PUT /numbers/{number_id})."""
    number_id = parse_number_id(number_id)
    principal.require_number(number_id)
    overrides = _checked_overrides(request.limits)
    client = services.aircall()
    try:
        budget.charge(utcnow())
        aircall_number = client.get_number(number_id)
    except AircallRefused as refusal:
        if refusal.status == 404:
            raise NumberNotFound(f"Aircall has no number {number_id} in this account.") from None
        raise _failed(refusal) from None
    except AircallFailure as failure:
        raise _failed(failure) from None
    aircall_budget.learn(client.last_rate, utcnow())
    parsed = _parse_digits(aircall_number)
    existing = numbers.get(number_id)
    before = numbers.copy_of(existing) if existing else None
    now = iso(utcnow())
    record = existing or numbers.NumberRecord(number_id=number_id, configured_at=now)
    record.e164, record.region, record.kind = parsed.e164, parsed.region, parsed.kind
    record.name = aircall_number.get("name") if isinstance(aircall_number.get("name"), str) else None
    record.registration = request.registration
    record.limits = overrides
    record.updated_at = now
    # A number in proxy mode, or whose proxy configuration was cut off: Aircall may hold a configuration for it.
    was_proxy = existing is not None and existing.mode == "proxy"
    was_agent = before is not None and before.mode == "agent"
    callback_url = get_settings().callback_url or request_callback_url
    if request.mode == "proxy":
        _configure_in_aircall(record, before, callback_url)
    else:
        # Agent mode reports through the account webhook: registered first, so nothing is lost in between.
        webhook = agent_webhook.ensure(client, callback_url)
        if was_proxy:
            _remove_aircall_configuration(number_id)
        record.callback_token_sha256 = webhook.token_sha256
        record.callback_url = webhook.url
    record.mode = request.mode
    record.state = None
    record.save()
    numbers.forget(number_id)  # this instance read it as absent, or as it was
    if was_agent and request.mode != "agent":
        agent_webhook.release(number_id)
    logger.info("number configured", extra={"number_id": number_id, "mode": request.mode})
    return NumberAnswer(
        number=record.to_api(),
        created=existing is None,
        warning=APP_MESSAGING_WARNING.replace("{number_id}", number_id) if request.mode == "proxy" else None,
    )


def _configure_in_aircall(record: numbers.NumberRecord, before: numbers.NumberRecord | None, callback_url: str) -> None:
    """Configure the number in Aircall and put the digest of Aircall's callback token in `record`.

    `configuring` is stored first: a Lambda cut off after Aircall configured the number (Aircall has it, the
    gateway would not know) leaves a record that says so. The next PUT finishes it (Aircall answers a configured
    number with its same token) or, for agent mode, removes the configuration from Aircall; `GET /numbers/{id}`
    shows `state: configuring` meanwhile, and sends from the number wait for it (`number_not_configured`) while
    its token is unknown. A definite failure (Aircall refused, or the call never left) puts the number back as
    it was."""
    client = services.aircall()
    record.mode, record.callback_url, record.state = "proxy", callback_url, numbers.CONFIGURING
    record.save()
    try:
        budget.charge(utcnow())
        configuration = client.configure_number(record.number_id, callback_url)
    except AircallFailure as failure:
        if not isinstance(failure, AircallOutcomeUnknown):  # nothing was configured: as it was before
            _put_back(record.number_id, before)
        raise _failed(failure) from None
    except GatewayError:  # the company budget refused the call before it left
        _put_back(record.number_id, before)
        raise
    aircall_budget.learn(client.last_rate, utcnow())
    token = configuration.get("token")
    if not isinstance(token, str) or not token:
        raise AircallError("Aircall configured the number but returned no callback token.")
    record.callback_token_sha256 = hashlib.sha256(token.encode()).hexdigest()


def _put_back(number_id: str, before: numbers.NumberRecord | None) -> None:
    """The number as it was before a configuration that did not happen (none: forgotten again)."""
    if before is None:
        numbers.delete(number_id)
    else:
        before.save()
        numbers.forget(number_id)


def remove(principal: Principal, number_id: str) -> dict[str, Any]:
    """DELETE /numbers/{number_id}: remove the Aircall configuration (app messaging comes back) and forget it."""
    number_id = parse_number_id(number_id)
    principal.require_number(number_id)
    record = numbers.get(number_id)
    if record is None:
        raise NumberNotConfigured(f"Number {number_id} is not configured in the gateway.")
    if record.mode == "proxy":
        _remove_aircall_configuration(number_id)
    else:
        agent_webhook.release(number_id)
    numbers.delete(number_id)
    return {"number_id": int(number_id), "removed": True, "deferred_rejected": _reject_queue(number_id)}


def _reject_queue(number_id: str) -> int:
    """The number's deferred messages can no longer be sent: each ends `rejected` (`number_not_configured`).
    A dispatch run holding one meanwhile finds the number gone in its reservation and rejects it the same way."""
    error = NumberNotConfigured("The sender number was removed from the gateway before the message was sent.")
    rejected = 0
    for message_id in messages.waiting_ids(number_id):
        rejected += messages.advance(
            message_id,
            "rejected",
            at=utcnow(),
            source="gateway",
            detail=error.code,
            error=error.to_body()["error"],
            only_from=WAITING,
        )
    return rejected


def get(principal: Principal, number_id: str) -> dict[str, Any]:
    number_id = parse_number_id(number_id)
    principal.require_number(number_id)
    record = numbers.get(number_id)
    if record is None:
        raise NumberNotConfigured(f"Number {number_id} is not configured in the gateway.")
    return record.to_api()


def get_quota(principal: Principal, number_id: str) -> dict[str, Any]:
    """GET /numbers/{number_id}/quota: the number's windows and the company budget, from one consistent read."""
    number_id = parse_number_id(number_id)
    principal.require_number(number_id)
    record = numbers.get(number_id)
    if record is None:
        raise NumberNotConfigured(f"Number {number_id} is not configured in the gateway.")
    now = utcnow()
    found = usage.read_usage(number_id, number_windows(record, now), now)
    return quota.view(
        number_id,
        found.windows,
        found.used,
        company_limit=get_settings().aircall_requests_per_minute,
        company_used=found.company_used,
        now=now,
        blocked_until=found.blocked_until,
    )


def list_configured(principal: Principal) -> list[dict[str, Any]]:
    """The configured numbers (for a key limited to numbers: those of them)."""
    return [record.to_api() for record in numbers.list_all() if principal.allows(record.number_id)]


def list_in_aircall(principal: Principal, cursor: str | None = None) -> dict[str, Any]:
    """GET /aircall/numbers: the company's numbers as Aircall lists them, each with whether it is configured here
    and its mode (for a key limited to numbers: those of them). Pages through Aircall's list, one request of the
    company budget per page, at most `AIRCALL_PAGES_PER_ANSWER` pages per answer; `next_cursor` goes on."""
    start = _aircall_page(cursor)
    client = services.aircall()
    configured = {record.number_id: record.mode for record in numbers.list_all()}
    items: list[dict[str, Any]] = []
    page, more = start, True
    while more and page < start + AIRCALL_PAGES_PER_ANSWER:
        try:
            budget.charge(utcnow())
            found = client.list_numbers(page, AIRCALL_PER_PAGE)
        except AircallFailure as failure:
            raise _failed(failure) from None
        aircall_budget.learn(client.last_rate, utcnow())
        items.extend(_aircall_item(number, configured) for number in found.numbers)
        page, more = page + 1, found.more and bool(found.numbers)
    shown = [item for item in items if principal.allows(str(item["number_id"]))]
    return {"items": shown, "next_cursor": encode_cursor({"page": {"S": str(page)}}) if more else None}


def _aircall_page(cursor: str | None) -> int:
    found = decode_cursor(cursor, keys=frozenset({"page"}))
    if found is None:
        return 1
    page = found["page"]["S"]
    if not page.isascii() or not page.isdigit() or not 1 <= int(page) <= 100_000:
        raise InvalidRequest("The cursor is not one this list returned.", details={"field": "cursor"})
    return int(page)


def _aircall_item(number: dict[str, Any], configured: dict[str, str]) -> dict[str, Any]:
    """One Aircall number: Aircall's fields the gateway shows, its E.164 form, and its configuration here."""
    raw_id = number.get("id")
    number_id = str(raw_id) if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else ""
    if not is_number_id(number_id):
        raise AircallError("Aircall listed a number without a numeric id.")
    number_id = str(int(number_id))
    try:
        e164: str | None = _parse_digits(number).e164
    except AircallError:
        e164 = None  # listed anyway: the list is Aircall's, and configuring the number will say what is wrong
    mode = configured.get(number_id)
    return {
        "number_id": int(number_id),
        "name": _text(number.get("name")),
        "digits": _text(number.get("digits")),
        "e164": e164,
        "country": _text(number.get("country")),
        "time_zone": _text(number.get("time_zone")),
        "created_at": _text(number.get("created_at")),
        "configured": mode is not None,
        "mode": mode,
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _remove_aircall_configuration(number_id: str) -> None:
    try:
        budget.charge(utcnow())
        services.aircall().delete_configuration(number_id)
    except AircallRefused as refusal:
        if refusal.status != 404:  # already gone in Aircall is fine
            raise _failed(refusal) from None
    except AircallFailure as failure:
        raise _failed(failure) from None


def _failed(failure: AircallFailure) -> GatewayError:
    """The contract's error for a failed Aircall call, after taking in what Aircall said about the budget."""
    count_failure(failure)
    aircall_budget.learn(failure.rate, utcnow(), limited=isinstance(failure, AircallRateLimited))
    return gateway_error(failure)


def _checked_overrides(limits: dict[str, int] | None) -> dict[str, int] | None:
    """Per-number limit overrides: known windows, positive integers of segments."""
    if not limits:
        return None
    unknown = sorted(set(limits) - set(WINDOWS))
    if unknown:
        raise InvalidRequest(
            f"Unknown quota windows: {', '.join(unknown)} (expected {', '.join(WINDOWS)}).",
            details={"field": "limits", "windows": unknown},
        )
    bad = sorted(window for window, value in limits.items() if value <= 0)
    if bad:
        raise InvalidRequest("Limits are positive numbers of segments.", details={"field": "limits", "windows": bad})
    return {window: limits[window] for window in WINDOWS if window in limits}


def _parse_digits(aircall_number: dict[str, Any]) -> phone.PhoneNumber:
    digits = aircall_number.get("digits")
    country = aircall_number.get("country")
    try:
        return phone.parse(str(digits), default_region=country if isinstance(country, str) else None)
    except phone.InvalidPhoneNumber:
        raise AircallError("Aircall's number has digits the gateway cannot read.") from None
