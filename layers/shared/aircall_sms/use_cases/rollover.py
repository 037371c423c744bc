"""Window rollover: the final count of every closed quota window becomes the number's usage history.

Nothing resets a counter: each window has its own item (`quota#<number_id>` / `hour#2026-11-26T14`), so a new
window starts from nothing whether or not this runs. The rollover copies each closed window's count into the
history (`store.history`; kept, no TTL), and the counters expire by TTL `quota.COUNTER_RETENTION` after their
window ends.

Every run looks at every closed counter still kept and writes only what the history lacks or has differently
(a release after Aircall refused a send at a window's edge can change a count after the window closed). So a
late run catches up, a missing run is made good by the next, a doubled run writes nothing, and no admission
decision ever reads the history.
"""

from __future__ import annotations

from datetime import datetime

from aircall_sms.domain import windows
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.observability import logger, metrics
from aircall_sms.store import history, numbers
from aircall_sms.store.history import ClosedWindow


def roll_over(now: datetime | None = None) -> dict[str, int]:
    """Copy every closed window's final count into the usage history; what it wrote and checked."""
    moment = now or utcnow()
    checked = written = 0
    for configured in numbers.list_all():
        closed = closed_windows(configured.number_id, moment)
        stale = history.differing(closed)
        history.record(stale, moment)
        checked, written = checked + len(closed), written + len(stale)
    metrics.add_metric(name="WindowsRecorded", unit="Count", value=written)
    logger.info("rollover", extra={"windows_checked": checked, "windows_recorded": written})
    return {"windows_checked": checked, "windows_recorded": written}


def closed_windows(number_id: str, now: datetime) -> list[ClosedWindow]:
    """The number's counters whose window ended by `now`."""
    closed = []
    for count in history.counters(number_id):
        name, _, key = count.sk.partition("#")
        try:
            start = windows.start_of(name, key)
        except ValueError:
            logger.warning("an unreadable counter key", extra={"sk": count.sk})
            continue
        _, end = windows.bounds(name, start)
        if end <= now:
            closed.append(ClosedWindow(count, start, end))
    return closed
