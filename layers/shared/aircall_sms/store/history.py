"""The usage history in the ledger: the final count of each closed quota window (`usage#<number_id>` / the
window's sort key, e.g. `hour#2026-11-26T14`: `used`, `limit`, `start`, `end`, `recorded_at`; kept, no TTL),
copied from the window's counter (`quota#<number_id>` / the same sort key) by the scheduled rollover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from aircall_sms.domain.timeutil import iso
from aircall_sms.errors import ServiceBusy
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger
from aircall_sms.store.base import batch_write, query_all
from aircall_sms.store.transactions import number, text, used_of
from aircall_sms.store.usage import batch_read


@dataclass(frozen=True, slots=True)
class WindowCount:
    """One window's count of one number: `sk` ("hour#2026-11-26T14"), the segments used, its limit if known."""

    number_id: str
    sk: str
    used: int
    limit: int | None


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    count: WindowCount
    start: datetime
    end: datetime


def counters(number_id: str) -> list[WindowCount]:
    """Every quota counter of the number still kept (one consistent query of its partition)."""
    found = []
    for item in _partition(ledger.quota_pk(number_id)):
        limit = item.get("limit", {}).get("N")
        found.append(WindowCount(number_id, item["sk"]["S"], used_of(item), int(limit) if limit else None))
    return found


def history(number_id: str) -> dict[str, int]:
    """The number's usage history: window sort key -> segments used."""
    return {item["sk"]["S"]: used_of(item) for item in _partition(ledger.usage_pk(number_id))}


def differing(closed: list[ClosedWindow]) -> list[ClosedWindow]:
    """The closed windows whose history item is missing or says another count (BatchGetItem)."""
    table = get_settings().ledger_table
    keys = [{"pk": text(ledger.usage_pk(window.count.number_id)), "sk": text(window.count.sk)} for window in closed]
    found = batch_read({table: keys})
    return [
        window
        for window in closed
        if (recorded := found.get((table, ledger.usage_pk(window.count.number_id), window.count.sk))) is None
        or used_of(recorded) != window.count.used
    ]


def record(closed: list[ClosedWindow], now: datetime) -> None:
    """Write the history items of `closed` (what is left unwritten is written by the next run)."""
    table = get_settings().ledger_table
    items = [_history_item(window, now) for window in closed]
    try:
        unprocessed = batch_write(table, [{"PutRequest": {"Item": item}} for item in items])
    except ServiceBusy:  # throttled past botocore's retries (store.base): the next run writes them
        unprocessed = len(items)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ProvisionedThroughputExceededException":
            raise
        unprocessed = len(items)
    if unprocessed:
        logger.warning("usage history not fully written", extra={"unprocessed": unprocessed})


def _history_item(window: ClosedWindow, now: datetime) -> dict[str, Any]:
    item = {
        "pk": text(ledger.usage_pk(window.count.number_id)),
        "sk": text(window.count.sk),
        "used": number(window.count.used),
        "start": text(iso(window.start)),
        "end": text(iso(window.end)),
        "recorded_at": text(iso(now)),
    }
    if window.count.limit is not None:
        item["limit"] = number(window.count.limit)
    return item


def _partition(pk: str) -> list[dict[str, Any]]:
    request = {
        "TableName": get_settings().ledger_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": text(pk)},
        "ConsistentRead": True,
    }
    return list(query_all(request))
