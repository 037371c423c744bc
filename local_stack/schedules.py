"""The template's `Type: Schedule` events, fired in-process as EventBridge would invoke the functions: the
QuotaResetFunction's dispatch (every minute) and rollover (hourly), the InboundFunction's reconciliation.

Expressions: `rate(N minute|minutes|hour|hours|day|days)` (first run one period after start) and
`cron(minutes hours day-of-month month day-of-week year)` in UTC with `*`, `?`, numbers, lists (`1,31`),
ranges (`1-5`) and steps (`*/5`); day-of-week is 1-7 for Sunday-Saturday, as in EventBridge (names are not
supported). Each firing runs in its own thread, like an asynchronous invocation; a schedule whose previous run
is still going skips its turn (locally there is one process, not Lambda's concurrency). A run that raises is
logged and not retried.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack.template import ScheduleSource, TemplateError

log = logging.getLogger("local_stack.schedules")

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 1, 7))
_SEARCH_LIMIT = timedelta(days=366)


class Schedule:
    """When one expression fires: `next_after(moment)` is the first firing strictly after `moment`."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        rate = _RATE.match(self.expression)
        cron = _CRON.match(self.expression)
        if rate:
            unit = rate.group(2).rstrip("s")
            self.period: timedelta | None = timedelta(seconds=int(rate.group(1)) * _UNITS[unit])
            if self.period <= timedelta(0):
                raise TemplateError(f"{expression!r}: a rate must be positive")
            self.fields: dict[str, set[int]] = {}
        elif cron:
            self.period = None
            parts = cron.group(1).split()
            if len(parts) != 6:
                raise TemplateError(f"{expression!r}: cron needs 6 fields (minutes hours day month weekday year)")
            self.fields = {
                name: _values(part, low, high, expression)
                for (name, low, high), part in zip(_CRON_FIELDS, parts[:5], strict=True)
            }
        else:
            raise TemplateError(f"{expression!r}: not a rate(...) or cron(...) expression")

    def next_after(self, moment: datetime) -> datetime:
        if self.period is not None:
            return moment + self.period
        candidate = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + _SEARCH_LIMIT
        while candidate < limit:
            if self._matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise TemplateError(f"{self.expression!r} never fires")

    def _matches(self, moment: datetime) -> bool:
        weekday = moment.isoweekday() % 7 + 1  # EventBridge: 1 = Sunday
        values = {
            "minute": moment.minute,
            "hour": moment.hour,
            "day": moment.day,
            "month": moment.month,
            "weekday": weekday,
        }
        return all(values[name] in allowed for name, allowed in self.fields.items())


def _values(part: str, low: int, high: int, expression: str) -> set[int]:
    if part in ("*", "?"):
        return set(range(low, high + 1))
    found: set[int] = set()
    for item in part.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = int(first), int(last)
        elif base.isdigit():
            start = int(base)
            end = high if step_text else start
        else:
            raise TemplateError(f"{expression!r}: unsupported cron field {part!r}")
        if step <= 0 or not low <= start <= end <= high:
            raise TemplateError(f"{expression!r}: cron field {part!r} out of range {low}-{high}")
        found.update(range(start, end + 1, step))
    return found


class Schedules:
    """Fire every enabled schedule of `sources` by calling `invoke(function_id, event)` in a thread."""

    def __init__(
        self,
        sources: list[ScheduleSource],
        invoke: Callable[[str, Any], Any],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick: float = 0.5,
    ) -> None:
        self._sources = [(source, Schedule(source.expression)) for source in sources if source.enabled]
        self._invoke = invoke
        self._now = now
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[str, threading.Thread] = {}
        self.fired: list[tuple[str, str, datetime]] = []  # (function, event, when): what ran, for tests

    @property
    def names(self) -> list[str]:
        return [f"{source.function_id}.{source.event_id} {source.expression}" for source, _ in self._sources]

    def start(self) -> Schedules:
        if self._sources and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="local-schedules", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 75.0) -> None:
        """Stop firing and wait for runs in progress (a dispatch run works for up to a minute)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for thread in list(self._running.values()):
            thread.join(timeout)

    def _loop(self) -> None:
        started = self._now()
        due = {self._key(source): schedule.next_after(started) for source, schedule in self._sources}
        while not self._stop.wait(self._tick):
            now = self._now()
            for source, schedule in self._sources:
                key = self._key(source)
                if now >= due[key]:
                    due[key] = schedule.next_after(now)
                    self._fire(source, now)

    def _fire(self, source: ScheduleSource, now: datetime) -> None:
        key = self._key(source)
        previous = self._running.get(key)
        if previous is not None and previous.is_alive():
            log.warning("%s: the previous run is still going; this turn is skipped", key)
            return
        self.fired.append((source.function_id, source.event_id, now))
        thread = threading.Thread(target=self._run, args=(source,), name=f"schedule-{key}", daemon=True)
        self._running[key] = thread
        thread.start()

    def _run(self, source: ScheduleSource) -> None:
        started = time.perf_counter()
        try:
            self._invoke(source.function_id, source.event)
        except Exception:
            log.exception("%s.%s failed", source.function_id, source.event_id)
        else:
            log.info("%s.%s ran in %.1f s", source.function_id, source.event_id, time.perf_counter() - started)

    @staticmethod
    def _key(source: ScheduleSource) -> str:
        return f"{source.function_id}.{source.event_id}"
