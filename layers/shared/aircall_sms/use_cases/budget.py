"""What Aircall's answers say about the company's request budget: no request left (an `X-AircallApi-Remaining`
of 0) or a 429 means nobody calls Aircall again before the reset Aircall named (a minute when it named none)."""

from __future__ import annotations

from datetime import datetime

from aircall_sms.clients.aircall import RateInfo
from aircall_sms.store import budget


def learn(rate: RateInfo | None, now: datetime, *, limited: bool = False) -> None:
    """Take in what Aircall's X-AircallApi-* headers (or a 429, `limited`) said."""
    if not limited and (rate is None or rate.remaining is None or rate.remaining > 0):
        return
    until = rate.reset_at if rate is not None and rate.reset_at is not None and rate.reset_at > now else None
    budget.block_until(until or now + budget.DEFAULT_BLOCK)
