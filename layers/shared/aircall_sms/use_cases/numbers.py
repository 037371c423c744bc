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
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.domain.windows import WINDOWS
from aircall_sms.errors import AircallError, GatewayError, InvalidRequest, NumberNotConfigured, NumberNotFound
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings
from aircall_sms.store import budget, messages, numbers, usage
from aircall_sms.use_cases import budget as aircall_budget
from aircall_sms.use_cases import services
from aircall_sms.use_cases.limits import number_windows

if TYPE_CHECKING:  # an annotation only: pydantic is loaded by the routes that validate
    from aircall_sms.domain.requests import NumberRequest

APP_MESSAGING_WARNING = (
    "This number is configured for Aircall API messaging (proxy mode): the Aircall apps can no longer send or "
    "receive SMS on it (calls still work). DELETE /numbers/{number_id} gives app messaging back."
)


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
    if request.mode == "proxy":
        callback_url = get_settings().callback_url or request_callback_url
        _configure_in_aircall(record, before, callback_url)
    else:
        if was_proxy:
            _remove_aircall_configuration(number_id)
        record.callback_token_sha256 = None
        record.callback_url = None
    record.mode = request.mode
    record.state = None
    record.save()
    numbers.forget(number_id)  # this instance read it as absent, or as it was
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
    numbers.delete(number_id)
    return {"number_id": int(number_id), "removed": True, "deferred_rejected": _reject_queue(number_id)}


def _reject_queue(number_id: str) -> int:
    """The number's deferred messages can no longer be sent: each ends `rejected` (`number_not_configured`).
    A dispatch run holding one meanwhile finds the number gone in its reservation and rejects it the same way."""
    error = NumberNotConfigured("The sender number was removed from the gateway before the message was sent.")
    rejected = 0
    for key in messages.MessageRecord.deferred.query(number_id, attributes_to_get=["id"]):
        rejected += messages.advance(
            key.id,
            "rejected",
            at=utcnow(),
            source="gateway",
            detail=error.code,
            error=error.to_body()["error"],
            only_from=("deferred",),
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
