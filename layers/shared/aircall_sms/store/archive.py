"""The archive's lists: which index of MessagesTable serves a set of filters, and one page read from it with
DynamoDB Query (never a Scan), then the page's messages by BatchGetItem (the indexes project only keys and
`direction`).

    filters                               index               partition                        sort key
    number_id + contact + LISTED status   by_thread_status    "<number_id>#<contact>#<status>"  created_key
    contact + LISTED status               by_contact_status   "<contact>#<status>"              created_key
    number_id + LISTED status             by_number_status    "<number_id>#<status>"            created_key
    LISTED status                         by_listed_status    "<status>"                        created_key
    number_id + contact                   thread              "<number_id>#<contact>"           created_key
    contact                               by_contact          contact                           created_key
    number_id                             by_number           number_id                         created_key
    (none)                                by_month            "<YYYY-MM>", newest month first   created_key

LISTED statuses (`store.messages.LISTED_STATUSES`: failed, rejected, expired, received) have their own sparse
indexes. A status implies the direction (`received` is every inbound message and only them), so `direction=inbound`
is the list of `received`, and a status with the other direction is an empty list, read from nowhere.

`created_key` is "<created_at>#<id>" (equal times ordered by id). `since` and `until` bound the sort key, so every
page reads at most `limit + 1` index items (the one more tells whether a next page exists), then its own messages
— except for two filters that are not keys, documented in docs/api.md: `direction=outbound` without a status (a
DynamoDB filter on the projected `direction`), and the statuses that are not LISTED (`delivered` and the
transient ones), checked on the messages read. Those pages read what the filter drops too: after the first
batch of `limit + 1`, the share of items that matched sizes the next one, and a page stops reading at
`MAX_ITEMS_READ` (it may then be short and still have a next one).

`by_month` holds one partition per month: a page walks the months from `until`'s (or the current one) back to
`since`'s; without `since` it stops after `EMPTY_MONTHS` months in a row without a message (an older archive
behind a longer silence is listed with `since`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.store.base import raw_client
from aircall_sms.store.messages import LISTED_STATUSES, MessageRecord

# Sort keys are "<created_at>#<id>": '$' sorts right after the '#', so "<until>$" is above every id at `until`.
_AFTER_EVERY_ID = "$"
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
MAX_ITEMS_READ = 5_000  # per page, when a filter drops items
EMPTY_MONTHS = 12  # without `since`, the walk of `by_month` ends after this many empty months in a row
BATCH_GET_KEYS = 100  # BatchGetItem's most keys per request
_BATCH_GET_ATTEMPTS = 10
MONTH_INDEX = "by_month"


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list asks for (every field optional): normalised values, times as aware UTC datetimes."""

    number_id: str | None = None
    contact: str | None = None
    direction: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """One list: the index, its partition (for `by_month`: the months it spans), the sort key range, the filters
    DynamoDB applies (`filters`, on projected attributes) and those checked on the messages read (`checks`)."""

    index: str
    hash_name: str
    hash_value: str  # "" for `by_month`: its partitions are the months from `since` to `until`
    low: str
    high: str
    range_name: str = "created_key"
    filters: dict[str, str] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    empty: bool = False  # the filters contradict each other: nothing to read

    @property
    def key_names(self) -> frozenset[str]:
        """The attributes of a position in this index (DynamoDB's LastEvaluatedKey of a Query on it)."""
        return frozenset({"id", self.hash_name, self.range_name})

    def position(self, record: MessageRecord) -> dict[str, Any]:
        """Where a page that ends with `record` stops: the next page starts after it."""
        return {
            "id": {"S": record.id},
            self.hash_name: {"S": getattr(record, self.hash_name)},
            self.range_name: {"S": getattr(record, self.range_name)},
        }

    def holds(self, position: dict[str, Any]) -> bool:
        """Whether `position` lies in this list's partitions and range (a cursor of this list)."""
        sort_key: str = position[self.range_name]["S"]
        partition: str = position[self.hash_name]["S"]
        if not self.low <= sort_key <= self.high:
            return False
        if self.index == MONTH_INDEX:
            return partition == sort_key[:7]
        return partition == self.hash_value


@dataclass(frozen=True, slots=True)
class Page:
    records: list[MessageRecord]
    next_position: dict[str, Any] | None  # None: nothing after these
    items_read: int = 0  # index items and messages read for it (what DynamoDB bills)


def plan(filters: Filters) -> Plan:
    """The index and key range that serve `filters` (see the module's table)."""
    number_id, contact, direction, status = filters.number_id, filters.contact, filters.direction, filters.status
    if status is None and direction == "inbound":
        status = "received"  # every inbound message is `received`, and only inbound ones are
    if status is not None and direction is not None and (status == "received") != (direction == "inbound"):
        return _plan("by_number", "number_id", "", filters, empty=True)
    if status in LISTED_STATUSES:
        if contact is not None and number_id is not None:
            return _plan("by_thread_status", "thread_status", f"{number_id}#{contact}#{status}", filters)
        if contact is not None:
            return _plan("by_contact_status", "contact_status", f"{contact}#{status}", filters)
        if number_id is not None:
            return _plan("by_number_status", "number_status", f"{number_id}#{status}", filters)
        return _plan("by_listed_status", "listed_status", str(status), filters)
    # A status that is not LISTED is outbound: `direction` adds nothing to it.
    where = {"direction": direction} if direction is not None and status is None else {}
    checks = {"status": status} if status is not None else {}
    if contact is not None and number_id is not None:
        return _plan("thread", "thread", f"{number_id}#{contact}", filters, where, checks)
    if contact is not None:
        return _plan("by_contact", "contact", contact, filters, where, checks)
    if number_id is not None:
        return _plan("by_number", "number_id", number_id, filters, where, checks)
    return _plan(MONTH_INDEX, "month", "", filters, where, checks)


def read(plan: Plan, *, limit: int, newest_first: bool, start: dict[str, Any] | None) -> Page:
    """Up to `limit` messages after `start` (None: from the first), in order. Without filters beyond the keys
    this reads `limit + 1` index items (over as many months as it takes, for `by_month`) and the `limit` messages."""
    if plan.empty or plan.low > plan.high:  # nothing matches; or `since` after `until` (DynamoDB refuses it)
        return Page([], None)
    reader = _Reader(plan, newest_first)
    keys: list[dict[str, Any]] = []  # index items that pass `filters`, not fetched yet
    records: list[MessageRecord] = []
    for partition, position in _partitions(plan, newest_first, start):
        while True:
            answer = reader.query(partition, limit + 1 - len(keys) - len(records), position)
            keys += answer["Items"]
            if plan.checks:
                records += reader.fetch(keys)
                keys = []
            position = answer.get("LastEvaluatedKey") or None
            if len(keys) + len(records) > limit:
                taken = records[:limit] if plan.checks else reader.fetch(keys[:limit])
                last = records[limit - 1] if plan.checks else None
                stop = plan.position(last) if last is not None else _key_position(plan, keys[limit - 1])
                return Page(taken, stop, reader.items_read)
            if reader.items_read >= MAX_ITEMS_READ and position is not None:
                found = records if plan.checks else reader.fetch(keys)
                return Page(found, position, reader.items_read)
            if position is None:
                break
        reader.month_done()
        if reader.walk_over():
            break
    found = records if plan.checks else reader.fetch(keys)
    return Page(found, None, reader.items_read)


class _Reader:
    """The Queries and BatchGetItems of one page, and what they read."""

    def __init__(self, plan: Plan, newest_first: bool) -> None:
        self.plan = plan
        self.newest_first = newest_first
        self.items_read = 0  # index items and messages
        self.index_read = 0
        self.matched = 0  # index items (or, with `checks`, messages) that passed the filters so far
        self.empty_months = 0
        self._month_found = False

    def query(self, partition: str, wanted: int, start: dict[str, Any] | None) -> dict[str, Any]:
        # A key-only Query stops early only at DynamoDB's 1 MB: ask for the rest. A filtered one dropped items:
        # the share that matched so far predicts how many the rest of the page needs (none yet: twice as many).
        batch = wanted
        if self.plan.filters or self.plan.checks:
            batch = wanted * self.index_read // self.matched + 1 if self.matched else 2 * wanted
        batch = max(1, min(batch, MAX_ITEMS_READ - self.items_read))
        answer: dict[str, Any] = raw_client().query(**_request(self.plan, partition, self.newest_first, batch, start))
        self.items_read += answer["ScannedCount"]
        self.index_read += answer["ScannedCount"]
        self._month_found = self._month_found or answer["ScannedCount"] > 0
        if not self.plan.checks:
            self.matched += len(answer["Items"])
        return answer

    def fetch(self, keys: list[dict[str, Any]]) -> list[MessageRecord]:
        """The messages of `keys`, in their order, by BatchGetItem (eventually consistent, as the index is); those
        that pass `checks`. A message deleted since the index listed it is left out."""
        if not keys:
            return []
        ids = [key["id"]["S"] for key in keys]
        found = _batch_get(ids)
        self.items_read += len(found)
        records = [MessageRecord.from_raw_data(found[message_id]) for message_id in ids if message_id in found]
        if self.plan.checks:
            records = [r for r in records if all(getattr(r, n) == v for n, v in self.plan.checks.items())]
            self.matched += len(records)
        return records

    def month_done(self) -> None:
        if self.plan.index == MONTH_INDEX:
            self.empty_months = 0 if self._month_found else self.empty_months + 1
            self._month_found = False

    def walk_over(self) -> bool:
        return self.empty_months >= EMPTY_MONTHS and self.plan.low == _sort_low(None)


def _partitions(plan: Plan, newest_first: bool, start: dict[str, Any] | None) -> Iterator[tuple[str, Any]]:
    """(partition, start position) of each partition the list reads, in order, from the one `start` is in."""
    if plan.index != MONTH_INDEX:
        yield plan.hash_value, start
        return
    first = start[plan.hash_name]["S"] if start is not None else None
    low_month = plan.low[:7] if plan.low != _sort_low(None) else None
    # No message is created in the future (`created_at` is the gateway's clock, an inbound one's at most `now`):
    # without `until`, the walk starts at the current month (tomorrow's, around midnight at a month's end).
    top = plan.high[:7] if plan.high != _sort_high(iso(_LATEST)) else (utcnow() + timedelta(days=1)).strftime("%Y-%m")
    if newest_first:
        month = first or top
        while low_month is None or month >= low_month:
            yield month, start if month == first else None
            month = _month_before(month)
            if month < "1970-01":
                return
    else:
        assert low_month is not None, "an oldest-first list of every message starts at `since`"
        month = first or low_month
        while month <= top:
            yield month, start if month == first else None
            month = _month_after(month)


def _month_before(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def _month_after(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + 1:04d}-01" if number == 12 else f"{year:04d}-{number + 1:02d}"


def _key_position(plan: Plan, key: dict[str, Any]) -> dict[str, Any]:
    return {name: key[name] for name in ("id", plan.hash_name, plan.range_name)}


def _batch_get(ids: list[str]) -> dict[str, dict[str, Any]]:
    client = raw_client()
    table = MessageRecord.Meta.table_name
    found: dict[str, dict[str, Any]] = {}
    for begin in range(0, len(ids), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"id": {"S": message_id}} for message_id in dict.fromkeys(ids[begin : begin + BATCH_GET_KEYS])]
            }
        }
        for _ in range(_BATCH_GET_ATTEMPTS):
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                found[item["id"]["S"]] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
    return found


def _sort_low(since: datetime | None) -> str:
    moment = since or _EARLIEST
    # Times are stored to the millisecond and `iso` truncates: a `since` with a fraction of a millisecond starts
    # after every message of its truncated millisecond.
    return f"{iso(moment)}{_AFTER_EVERY_ID if moment.microsecond % 1000 else ''}"


def _sort_high(until: str) -> str:
    return f"{until}{_AFTER_EVERY_ID}"


def _plan(
    index: str,
    hash_name: str,
    hash_value: str,
    filters: Filters,
    where: dict[str, str] | None = None,
    checks: dict[str, str] | None = None,
    *,
    empty: bool = False,
) -> Plan:
    """A list of `index` in the partition `hash_name` = `hash_value`; `where`: DynamoDB filters on projected
    attributes; `checks`: filters on the messages read."""
    return Plan(
        index=index,
        hash_name=hash_name,
        hash_value=hash_value,
        low=_sort_low(filters.since),
        high=_sort_high(iso(filters.until or _LATEST)),  # `until` stays inclusive: `iso` truncates
        filters=dict(where or {}),
        checks=dict(checks or {}),
        empty=empty,
    )


def _request(
    plan: Plan, partition: str, newest_first: bool, limit: int, start: dict[str, Any] | None
) -> dict[str, Any]:
    names = {"#hash": plan.hash_name, "#range": plan.range_name}
    values: dict[str, Any] = {":hash": {"S": partition}, ":low": {"S": plan.low}, ":high": {"S": plan.high}}
    request: dict[str, Any] = {
        "TableName": MessageRecord.Meta.table_name,
        "IndexName": plan.index,
        "KeyConditionExpression": "#hash = :hash AND #range BETWEEN :low AND :high",
        "ScanIndexForward": not newest_first,
        "Limit": limit,
    }
    if plan.filters:
        conditions = []
        for number, (name, value) in enumerate(sorted(plan.filters.items())):
            names[f"#f{number}"] = name
            values[f":f{number}"] = {"S": value}
            conditions.append(f"#f{number} = :f{number}")
        request["FilterExpression"] = " AND ".join(conditions)
    if start is not None:
        request["ExclusiveStartKey"] = start
    return request | {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
