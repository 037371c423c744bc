"""The archive's lists: which index of MessagesTable serves a set of filters, and one page read from it with
DynamoDB Query only (never a Scan).

    filters                  index                 partition                 sort key
    number_id + contact      thread                "<number_id>#<contact>"   created_key
    contact                  by_contact            contact                   created_key
    number_id + status       by_number_status      status                    number_created_key
    number_id + direction    by_number_direction   direction                 number_created_key
    number_id                by_number             number_id                 created_key
    status                   by_status             status                    created_key
    direction                by_direction          direction                 created_key
    (none)                   by_time               archive ("all")           created_key

`created_key` is "<created_at>#<id>" (equal times ordered by id), `number_created_key` "<number_id>#" before it.
`since` and `until` bound the sort key, so every page reads at most `limit + 1` items (the one more tells
whether a next page exists) — except where a filter is not a key of the index: `direction` and `status` within
a thread or a contact, and `direction` with `status` (a status almost always implies its direction). Those are
DynamoDB filters, bounded by one conversation's or one contact's messages: after the first Query of
`limit + 1`, the share of items that matched sizes the next one, and a page stops reading at `MAX_ITEMS_READ`
(it may then be short and still have a next one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aircall_sms.domain.timeutil import iso
from aircall_sms.store.base import raw_client
from aircall_sms.store.messages import ARCHIVE_PARTITION, MessageRecord

# Sort keys are "<created_at>#<id>": '$' sorts right after the '#', so "<until>$" is above every id at `until`.
_AFTER_EVERY_ID = "$"
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
MAX_ITEMS_READ = 5_000  # per page, when a filter drops items


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
    """One Query: the index, its partition, the sort key range and the filters that are not keys."""

    index: str
    hash_name: str
    hash_value: str
    range_name: str
    low: str
    high: str
    filters: dict[str, str] = field(default_factory=dict)

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
        """Whether `position` lies in this Query's partition and range (a cursor of this list)."""
        sort_key: str = position[self.range_name]["S"]
        return bool(position[self.hash_name]["S"] == self.hash_value and self.low <= sort_key <= self.high)


@dataclass(frozen=True, slots=True)
class Page:
    records: list[MessageRecord]
    next_position: dict[str, Any] | None  # None: nothing after these


def plan(filters: Filters) -> Plan:
    """The index and key range that serve `filters` (see the module's table)."""
    number_id, contact, direction, status = filters.number_id, filters.contact, filters.direction, filters.status
    if contact is not None:
        if number_id is not None:
            return _plan("thread", ("thread", f"{number_id}#{contact}"), "", filters, direction, status)
        return _plan("by_contact", ("contact", contact), "", filters, direction, status)
    if number_id is not None:
        if status is not None:
            return _plan("by_number_status", ("status", status), number_id, filters, direction)
        if direction is not None:
            return _plan("by_number_direction", ("direction", direction), number_id, filters)
        return _plan("by_number", ("number_id", number_id), "", filters)
    if status is not None:
        return _plan("by_status", ("status", status), "", filters, direction)
    if direction is not None:
        return _plan("by_direction", ("direction", direction), "", filters)
    return _plan("by_time", ("archive", ARCHIVE_PARTITION), "", filters)


def read(plan: Plan, *, limit: int, newest_first: bool, start: dict[str, Any] | None) -> Page:
    """Up to `limit` messages after `start` (None: from the first), in order. Without filters beyond the keys
    this is one Query of `limit + 1` items."""
    if plan.low > plan.high:  # `since` after `until`: DynamoDB refuses a BETWEEN whose bounds are reversed
        return Page([], None)
    records: list[MessageRecord] = []
    position = start
    batch = limit + 1
    items_read = 0
    while True:
        answer = raw_client().query(**_request(plan, newest_first, batch, position))
        items_read += answer["ScannedCount"]
        records += [MessageRecord.from_raw_data(item) for item in answer["Items"]]
        position = answer.get("LastEvaluatedKey") or None
        if len(records) > limit:
            return Page(records[:limit], plan.position(records[limit - 1]))
        if position is None:
            return Page(records, None)
        if items_read >= MAX_ITEMS_READ:
            return Page(records, position)
        # A key-only Query stops early only at DynamoDB's 1 MB: ask for the rest. A filtered one dropped items:
        # the share that matched so far predicts how many the rest of the page needs (none yet: twice as many).
        wanted = limit + 1 - len(records)
        if plan.filters:
            wanted = wanted * items_read // len(records) + 1 if records else batch * 2
        batch = min(wanted, MAX_ITEMS_READ - items_read)


def _plan(
    index: str,
    partition: tuple[str, str],
    number_id: str,
    filters: Filters,
    direction: str | None = None,
    status: str | None = None,
) -> Plan:
    """A Query on `index` in `partition` (attribute, value); with `number_id`, the sort key is the number's
    range of `number_created_key`, else `created_key`. `direction` and `status`, when given, are filters."""
    prefix = f"{number_id}#" if number_id else ""
    since = filters.since or _EARLIEST
    until = filters.until or _LATEST
    # Times are stored to the millisecond and `iso` truncates: `until` stays inclusive as it is; a `since` with
    # a fraction of a millisecond starts after every message of its truncated millisecond.
    after_since = _AFTER_EVERY_ID if since.microsecond % 1000 else ""
    not_keys = {"direction": direction, "status": status}
    return Plan(
        index=index,
        hash_name=partition[0],
        hash_value=partition[1],
        range_name="number_created_key" if number_id else "created_key",
        low=f"{prefix}{iso(since)}{after_since}",
        high=f"{prefix}{iso(until)}{_AFTER_EVERY_ID}",
        filters={name: value for name, value in not_keys.items() if value is not None},
    )


def _request(plan: Plan, newest_first: bool, limit: int, start: dict[str, Any] | None) -> dict[str, Any]:
    names = {"#hash": plan.hash_name, "#range": plan.range_name}
    values: dict[str, Any] = {":hash": {"S": plan.hash_value}, ":low": {"S": plan.low}, ":high": {"S": plan.high}}
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
