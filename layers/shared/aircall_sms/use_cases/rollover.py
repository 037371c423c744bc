"""Window rollover: the final count of every closed quota window becomes the number's usage history.

Nothing resets a counter: each window has its own item (`quota#<number_id>` / `hour#2026-11-26T14`), so a new
window starts from nothing whether or not this runs. The rollover copies each closed window's count into the
history (`usage#<number_id>` / the same sort key: `used`, `limit`, `start`, `end`; kept, no TTL), and the
counters expire by TTL `quota.COUNTER_RETENTION` after their window ends.

Every run looks at every closed counter still kept and writes only what the history lacks or has differently
(a release after Aircall refused a send at a window's edge can change a count after the window closed). So a
late run catches up, a missing run is made good by the next, a doubled run writes nothing, and no admission
decision ever reads the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from aircall_sms.domain import windows
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger, numbers, usage
from aircall_sms.store.base import batch_write, query_all
from aircall_sms.store.transactions import number, text, used_of


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    number_id: str
    sk: str  # "hour#2026-11-26T14"
    used: int
    limit: int | None
    start: datetime
    end: datetime

    def history_item(self, now: datetime) -> dict[str, Any]:
        item = {
            "pk": text(ledger.usage_pk(self.number_id)),
            "sk": text(self.sk),
            "used": number(self.used),
            "start": text(iso(self.start)),
            "end": text(iso(self.end)),
            "recorded_at": text(iso(now)),
        }
        if self.limit is not None:
            item["limit"] = number(self.limit)
        return item


def roll_over(now: datetime | None = None) -> dict[str, int]:
    """Copy every closed window's final count into the usage history; what it wrote and checked."""
    moment = now or utcnow()
    checked = written = 0
    for configured in numbers.list_all():
        closed = closed_windows(configured.number_id, moment)
        stale = _differing(closed)
        _write([window.history_item(moment) for window in stale])
        checked, written = checked + len(closed), written + len(stale)
    metrics.add_metric(name="WindowsRecorded", unit="Count", value=written)
    logger.info("rollover", extra={"windows_checked": checked, "windows_recorded": written})
    return {"windows_checked": checked, "windows_recorded": written}


def closed_windows(number_id: str, now: datetime) -> list[ClosedWindow]:
    """The number's counters whose window ended by `now` (one query of its counters partition)."""
    closed = []
    for item in _query_partition(ledger.quota_pk(number_id)):
        name, _, key = item["sk"]["S"].partition("#")
        try:
            start = windows.start_of(name, key)
        except ValueError:
            logger.warning("an unreadable counter key", extra={"sk": item["sk"]["S"]})
            continue
        _, end = windows.bounds(name, start)
        if end <= now:
            limit = item.get("limit", {}).get("N")
            closed.append(
                ClosedWindow(number_id, item["sk"]["S"], used_of(item), int(limit) if limit else None, start, end)
            )
    return closed


def history(number_id: str) -> dict[str, int]:
    """The number's usage history: window sort key -> segments used."""
    return {item["sk"]["S"]: used_of(item) for item in _query_partition(ledger.usage_pk(number_id))}


def _differing(closed: list[ClosedWindow]) -> list[ClosedWindow]:
    """The closed windows whose history item is missing or says another count (BatchGetItem)."""
    table = get_settings().ledger_table
    keys = [{"pk": text(ledger.usage_pk(window.number_id)), "sk": text(window.sk)} for window in closed]
    found = usage.batch_read({table: keys})
    return [
        window
        for window in closed
        if (recorded := found.get((table, ledger.usage_pk(window.number_id), window.sk))) is None
        or used_of(recorded) != window.used
    ]


def _write(items: list[dict[str, Any]]) -> None:
    table = get_settings().ledger_table
    try:
        unprocessed = batch_write(table, [{"PutRequest": {"Item": item}} for item in items])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ProvisionedThroughputExceededException":
            raise
        unprocessed = len(items)
    if unprocessed:  # the next run writes what is still missing
        logger.warning("usage history not fully written", extra={"unprocessed": unprocessed})


def _query_partition(pk: str) -> list[dict[str, Any]]:
    request = {
        "TableName": get_settings().ledger_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": text(pk)},
        "ConsistentRead": True,
    }
    return list(query_all(request))
