"""Quota windows: fixed calendar windows aligned to UTC (never rolling), named by a key that the counters are
stored under, so that a late or missing scheduled reset can never let a window overflow.

    hour   2026-11-26T14   [14:00, 15:00)
    day    2026-11-26      [00:00, next midnight)
    week   2026-W48        ISO 8601 week: Monday 00:00 to the next Monday; the ISO year can differ from the
                           calendar year around New Year (2024-12-30 is in 2025-W01)
    month  2026-11         [the 1st 00:00, the next 1st)

Every function takes an aware datetime (any time zone, converted to UTC); a naive one raises ValueError.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

WINDOWS: tuple[str, ...] = ("hour", "day", "week", "month")


def key(window: str, at: datetime) -> str:
    """The key of the `window` that contains `at`, e.g. "2026-11-26T14", "2026-11-26", "2026-W48", "2026-11"."""
    moment = _utc(at)
    match _known(window):
        case "hour":
            return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}"
        case "day":
            return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        case "week":
            iso_year, iso_week, _ = moment.isocalendar()
            return f"{iso_year:04d}-W{iso_week:02d}"
        case _:
            return f"{moment.year:04d}-{moment.month:02d}"


def bounds(window: str, at: datetime) -> tuple[datetime, datetime]:
    """The `window` containing `at` as (start inclusive, end exclusive), both aware UTC datetimes."""
    moment = _utc(at)
    match _known(window):
        case "hour":
            start = moment.replace(minute=0, second=0, microsecond=0)
            return start, start + timedelta(hours=1)
        case "day":
            start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            return start, start + timedelta(days=1)
        case "week":
            start = moment.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=moment.weekday())
            return start, start + timedelta(days=7)
        case _:
            start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            end = (
                start.replace(year=start.year + 1, month=1)
                if start.month == 12
                else start.replace(month=start.month + 1)
            )
            return start, end


def start_of(window: str, window_key: str) -> datetime:
    """The start of the window named `window_key` (the inverse of `key`); ValueError for a malformed key."""
    formats = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "week": "%G-W%V-%u", "month": "%Y-%m"}
    text = f"{window_key}-1" if _known(window) == "week" else window_key
    try:
        start = datetime.strptime(text, formats[window]).replace(tzinfo=UTC)
    except ValueError:
        start = None
    if start is None or key(window, start) != window_key:
        raise ValueError(f"not a {window} key: {window_key!r}")
    return start


def seconds_until_reset(window: str, at: datetime) -> int:
    """Whole seconds from `at` to the end of its `window`, rounded up (so at least 1): a Retry-After value."""
    _, end = bounds(window, at)
    remaining = end - _utc(at)
    return remaining.days * 86_400 + remaining.seconds + (1 if remaining.microseconds else 0)


def _known(window: str) -> str:
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}: expected one of {', '.join(WINDOWS)}")
    return window


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime (e.g. datetime.now(UTC))")
    return at.astimezone(UTC)
