"""The limits Aircall (and carriers) enforce, counted on the sandbox clock in fixed windows.

- `SegmentUsage`: outbound segments per number per UTC hour, day and month (keys like `2026-11-26T14`), or,
  for what carriers let through from a toll-free number awaiting verification, per day, ISO week and month.
- `RequestBudget`: the company-wide request budget per clock minute.

Neither locks: the sandbox state calls them under its one lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from aircall_sandbox.config import ResetUnit

Window = Literal["hour", "day", "week", "month"]
# Longest first: when several windows are full, the one that stays full longest is the one to report.
WINDOWS: tuple[Window, ...] = ("month", "day", "hour")
TOLL_FREE_WINDOWS: tuple[Window, ...] = ("month", "week", "day")


def window_key(window: Window, moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    match window:
        case "hour":
            return moment.strftime("%Y-%m-%dT%H")
        case "day":
            return moment.strftime("%Y-%m-%d")
        case "week":  # ISO week, Monday 00:00 UTC to Monday 00:00 UTC
            return moment.strftime("%G-W%V")
        case "month":
            return moment.strftime("%Y-%m")


def window_reset(window: Window, moment: datetime) -> datetime:
    """When the window that contains `moment` ends (UTC)."""
    moment = moment.astimezone(UTC)
    match window:
        case "hour":
            return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        case "day":
            return moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        case "week":
            midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            return midnight + timedelta(days=7 - moment.weekday())
        case "month":
            start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            return (
                start.replace(year=start.year + 1, month=1)
                if start.month == 12
                else start.replace(month=start.month + 1)
            )


class SegmentUsage:
    """Segments per number in the fixed `windows` (longest first)."""

    def __init__(self, windows: tuple[Window, ...] = WINDOWS) -> None:
        self._windows = windows
        self._used: dict[tuple[int, Window, str], int] = {}

    def used(self, number_id: int, moment: datetime) -> dict[Window, int]:
        return {window: self._used.get((number_id, window, window_key(window, moment)), 0) for window in self._windows}

    def first_breach(self, number_id: int, limits: Mapping[str, int], segments: int, moment: datetime) -> Window | None:
        """The window `segments` more would overflow, longest window first; None if they fit everywhere."""
        used = self.used(number_id, moment)
        return next((window for window in self._windows if used[window] + segments > limits[window]), None)

    def add(self, number_id: int, segments: int, moment: datetime) -> None:
        for window in self._windows:
            slot = (number_id, window, window_key(window, moment))
            self._used[slot] = self._used.get(slot, 0) + segments


@dataclass(frozen=True)
class BudgetReading:
    admitted: bool
    limit: int
    remaining: int
    reset: int  # UNIX seconds when the current minute window ends

    def headers(self, reset_unit: ResetUnit) -> dict[str, str]:
        return {
            "X-AircallApi-Limit": str(self.limit),
            "X-AircallApi-Remaining": str(self.remaining),
            "X-AircallApi-Reset": str(self.reset * 1000 if reset_unit == "milliseconds" else self.reset),
        }


class RequestBudget:
    """A fixed window per clock minute; a refused request does not count."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._window_start = 0
        self._used = 0

    def _roll(self, now: float) -> None:
        start = int(now // 60) * 60
        if start != self._window_start:
            self._window_start = start
            self._used = 0

    def admit(self, now: float) -> BudgetReading:
        self._roll(now)
        admitted = self._used < self._limit
        if admitted:
            self._used += 1
        return self._reading(admitted)

    def read(self, now: float) -> BudgetReading:
        self._roll(now)
        return self._reading(self._used < self._limit)

    def _reading(self, admitted: bool) -> BudgetReading:
        return BudgetReading(
            admitted=admitted,
            limit=self._limit,
            remaining=self._limit - self._used,
            reset=self._window_start + 60,
        )
