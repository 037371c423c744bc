"""Scheduled sends: when a `send_at` is acceptable, and what a scheduled message's `not_after` is.

A scheduled message may go out any time from now to `MAX_AHEAD` ahead (no minimum lead time: a `send_at` of now is
sent by the next dispatcher run). A `send_at` in the past, or further than `MAX_AHEAD`, is refused with 400
`invalid_send_at` naming the field and why; `not_after`, when given, must come after `send_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aircall_sms.domain.timeutil import iso
from aircall_sms.errors import InvalidSendAt

MAX_AHEAD = timedelta(days=31)
# A client's clock a little behind the gateway's is not "the past": a send_at of "now" stays accepted.
CLOCK_TOLERANCE = timedelta(seconds=60)


def check_send_at(send_at: datetime, now: datetime, *, field: str = "send_at") -> datetime:
    """`send_at` when it is from now to `MAX_AHEAD` ahead (a time up to `CLOCK_TOLERANCE` before now counts as
    now, and is returned as now); raises 400 `invalid_send_at` otherwise."""
    if send_at < now - CLOCK_TOLERANCE:
        raise InvalidSendAt(f"{field} is in the past.", details={"field": field, "reason": "past", "now": iso(now)})
    if send_at > now + MAX_AHEAD:
        raise InvalidSendAt(
            f"{field} is at most {MAX_AHEAD.days} days ahead.",
            details={"field": field, "reason": "too_far", "latest": iso(now + MAX_AHEAD)},
        )
    return max(send_at, now)


def scheduled_not_after(send_at: datetime, not_after: datetime | None, default_hours: float) -> datetime:
    """The `not_after` of a message scheduled at `send_at`: the one given (after `send_at`, else 400), or
    `default_hours` after `send_at` (the windows may be full at its minute: it waits as a deferred message would)."""
    if not_after is None:
        return send_at + timedelta(hours=default_hours)
    if not_after <= send_at:
        raise InvalidSendAt(
            "not_after must come after send_at.", details={"field": "not_after", "reason": "before_send_at"}
        )
    return not_after
