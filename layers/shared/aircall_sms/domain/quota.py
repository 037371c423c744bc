"""Quota arithmetic, without I/O: which windows a send from a number is counted in, their limits and keys,
the company's Aircall request budget per UTC minute, and the contract's Quota object.

Limits come from the limit table (`aircall_sms.domain.limits`; the deployment may replace the default table with
the `LIMITS_JSON` setting) and the number's own overrides (PUT /numbers/{number_id}).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aircall_sms.domain import windows
from aircall_sms.domain.limits import LimitTable
from aircall_sms.domain.phone import PhoneNumber
from aircall_sms.domain.timeutil import iso
from aircall_sms.errors import RateLimited

# A closed window's counter stays this long after its end (then DynamoDB's TTL removes it): long enough for the
# scheduled rollover to copy it into the usage history even after days of missed runs.
COUNTER_RETENTION = timedelta(days=8)
COMPANY_COUNTER_RETENTION = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Window:
    """One quota window of one number: `name` ("hour"), `key` ("2026-11-26T14"), `limit` in segments."""

    name: str
    key: str
    limit: int
    start: datetime
    end: datetime

    def retry_after(self, now: datetime) -> int:
        return windows.seconds_until_reset(self.name, now)


def limits_for(
    table: LimitTable, *, region: str, kind: str, registration: str | None, overrides: Mapping[str, int] | None
) -> dict[str, int]:
    """Window name -> segments for a number of `region` and `kind` with its registration and overrides, by the
    limit `table` (the deployment's: `use_cases.limits.limit_table`)."""
    number = PhoneNumber(e164="", region=region, kind=kind, country_code=0)
    return table.for_number(number, status=registration, overrides=overrides)


def windows_at(limits: Mapping[str, int], now: datetime) -> list[Window]:
    """The windows containing `now`, longest first (the longest full window is the one to report)."""
    found = []
    for name in reversed(windows.WINDOWS):
        if name in limits:
            start, end = windows.bounds(name, now)
            found.append(Window(name=name, key=windows.key(name, now), limit=int(limits[name]), start=start, end=end))
    return found


def minute_key(now: datetime) -> str:
    return f"{windows.key('hour', now)}:{now.minute:02d}"


def minute_end(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from `now` until `moment`, rounded up, at least 1 (a Retry-After value)."""
    remaining = (moment - now).total_seconds()
    return max(1, int(remaining) + (0 if remaining == int(remaining) else 1))


def rate_limited(until: datetime, now: datetime) -> RateLimited:
    """The 429 of a spent company budget, reopening at `until`."""
    retry_after = seconds_until(until, now)
    return RateLimited(
        "The company's Aircall request budget is spent; retry later.",
        details={"retry_after": retry_after, "resets_at": iso(until)},
        headers={"Retry-After": str(retry_after)},
    )


def view(
    number_id: str,
    window_list: list[Window],
    used: Mapping[str, int],
    *,
    company_limit: int,
    company_used: int,
    now: datetime,
    blocked_until: datetime | None = None,
) -> dict[str, Any]:
    """The contract's Quota object."""
    ordered = sorted(window_list, key=lambda window: windows.WINDOWS.index(window.name))
    company_resets = minute_end(now)
    if blocked_until is not None and blocked_until > now:
        company_resets = max(company_resets, blocked_until)
    return {
        "number_id": int(number_id),
        "limits": {window.name: window.limit for window in ordered},
        "used": {window.name: int(used.get(window.name, 0)) for window in ordered},
        "remaining": {window.name: max(0, window.limit - int(used.get(window.name, 0))) for window in ordered},
        "resets_at": {window.name: iso(window.end) for window in ordered},
        "company": {
            "limit": company_limit,
            "used": company_used,
            "resets_at": iso(company_resets),
            "blocked_until": iso(blocked_until) if blocked_until is not None and blocked_until > now else None,
        },
    }
