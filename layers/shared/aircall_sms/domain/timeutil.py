"""Time in the gateway: aware UTC datetimes inside, ISO 8601 with a `Z` outside, and lenient parsing of
Aircall's timestamps (epoch seconds, epoch milliseconds, numeric strings or ISO 8601)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Epoch values at or above this are milliseconds (1e12 ms is 2001-09-09; in seconds it is the year 33658).
_MILLISECONDS_FROM = 1_000_000_000_000

# How far the gateway's clock runs ahead of the system clock: always zero in Lambda. Simulations (the quota
# drain of `make bench`, the dispatcher's tests) move it forward to live through hours in seconds; tests that
# need one moment freeze it (`freeze`).
_offset = timedelta(0)
_frozen: datetime | None = None


def utcnow() -> datetime:
    if _frozen is not None:
        return _frozen + _offset
    return datetime.now(UTC) + _offset


def freeze(at: datetime) -> datetime:
    """Stop the gateway's clock at `at` (tests only; `reset_clock` starts it again); returns `at`."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("the clock is frozen at an aware moment")
    _frozen = at
    return at


def advance_clock(by: timedelta) -> None:
    """Move the gateway's clock forward by `by` (simulations only)."""
    global _offset
    if by < timedelta(0):
        raise ValueError("the clock only moves forward")
    _offset += by


def reset_clock() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None


def iso(moment: datetime) -> str:
    """`2026-11-26T14:05:09.123Z` (milliseconds, always UTC)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object) -> datetime | None:
    """Epoch seconds or milliseconds (int, float or numeric string) or an ISO 8601 string; None when absent
    or unreadable. Naive ISO strings are taken as UTC."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return _from_epoch(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def _from_epoch(number: float) -> datetime | None:
    if number != number or number < 0:  # NaN or negative
        return None
    seconds = number / 1000 if number >= _MILLISECONDS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
