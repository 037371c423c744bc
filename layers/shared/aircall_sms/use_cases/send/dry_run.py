"""`dry_run: true`: every check of a send on one consistent read of the facts (the contact's items the rules
read, the number's windows, the company budget); nothing is reserved, archived or sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aircall_sms.domain import quota
from aircall_sms.errors import QuotaExceeded
from aircall_sms.settings import get_settings
from aircall_sms.store import usage
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.send import rules
from aircall_sms.use_cases.send.prepare import PreparedSend


def dry_run_verdict(prepared: PreparedSend, now: datetime) -> dict[str, Any]:
    """The contract's dry-run answer: the verdict, its reason, the segmentation and the quota after the send."""
    settings = get_settings()
    number_id = prepared.number.number_id
    applicable = rules.applicable(prepared)
    found = usage.read_usage(
        number_id,
        number_windows(prepared.number, now),
        now,
        contact=prepared.recipient.e164,
        contact_keys={rule.name: rule.sort_key(prepared) for rule in applicable},
    )
    reason = _reason(prepared, now, found)
    used, company_used = dict(found.used), found.company_used
    if reason is None:
        used = {name: value + prepared.segments for name, value in used.items()}
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
            found.windows,
            used,
            company_limit=settings.aircall_requests_per_minute,
            company_used=company_used,
            now=now,
            blocked_until=found.blocked_until,
        ),
    }


def _reason(prepared: PreparedSend, now: datetime, found: usage.Usage) -> str | None:
    static = prepared.static_refusal()
    if static is not None:
        return static.code
    broken = rules.first_broken(prepared, found.contact_items, now)
    if broken is not None:
        return broken
    if any(found.used[window.name] + prepared.segments > window.limit for window in found.windows):
        return QuotaExceeded.code
    blocked = found.blocked_until is not None and found.blocked_until > now
    if found.company_used + 1 > get_settings().aircall_requests_per_minute or blocked:
        return "rate_limited"
    return None
