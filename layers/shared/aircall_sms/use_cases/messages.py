"""Reading the archive: one message, the filtered lists (GET /messages, newest first) and the export
(GET /messages/export, JSON Lines, oldest first). Lists read only the indexes made for them (`store.archive`).

A cursor is DynamoDB's position in the index used plus a digest of the query it belongs to (the route, the
index, the partition, the time range and the filters), so a cursor handed to another list is refused rather
than read from the wrong place. A page is also cut short, with a cursor, before its answer could pass Lambda's
6 MB response limit: each message counts as its ASCII-escaped JSON, the form it takes inside Lambda's answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aircall_sms.domain import pages, phone
from aircall_sms.domain.status import STATUSES
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.errors import InvalidPhone, InvalidRequest, NotFound
from aircall_sms.store import archive, messages, numbers
from aircall_sms.use_cases.numbers import parse_number_id

MAX_ID_LENGTH = 128
DIRECTIONS = ("outbound", "inbound")
EXPORT_MAX_LINES = 1_000  # also the default
MAX_EXPORT_SPAN = timedelta(days=31)
MAX_PAGE_BYTES = 4 * 1024 * 1024
_QUERY = "query"  # the cursor's digest of its query, beside the index position


@dataclass(frozen=True, slots=True)
class ExportPage:
    lines: str  # one Message per line, each ending with "\n"
    next_cursor: str | None


def get_message(message_id: str) -> dict[str, Any]:
    record = messages.get(message_id) if 0 < len(message_id) <= MAX_ID_LENGTH else None
    if record is None:
        raise NotFound("No message with this id.", details={"id": message_id[:MAX_ID_LENGTH]})
    return record.to_api()


def list_messages(
    *,
    number_id: str | None = None,
    contact: str | None = None,
    direction: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """GET /messages: the archive newest first (equal times by id), filtered; `number_id` with `contact` is one
    conversation thread. `since` and `until` are inclusive."""
    named = parse_number_id(number_id) if number_id else None
    filters = archive.Filters(
        number_id=named,
        contact=_contact(contact, named),
        direction=_one_of("direction", direction, DIRECTIONS),
        status=_one_of("status", status, STATUSES),
        since=_time("since", since),
        until=_time("until", until),
    )
    _check_order(filters)
    page_limit = _limit(limit, pages.DEFAULT_LIMIT, pages.MAX_LIMIT)
    items, next_cursor = _page("list", filters, page_limit, cursor, newest_first=True)
    return {"items": items, "next_cursor": next_cursor}


def export_messages(
    *, since: str | None, until: str | None = None, limit: str | None = None, cursor: str | None = None
) -> ExportPage:
    """GET /messages/export: every message created from `since` to `until` (default: now), oldest first, as
    JSON Lines, at most `limit` lines per answer; `next_cursor` continues it. The range spans at most
    `MAX_EXPORT_SPAN`: a larger archive is exported range by range."""
    filters = archive.Filters(since=_time("since", since), until=_time("until", until))
    if filters.since is None:
        raise InvalidRequest("since is required.", details={"field": "since"})
    _check_order(filters)
    # Without `until` the range ends now, so its span is checked when the export starts (its cursors keep it).
    starting = not cursor
    if (filters.until or starting) and (filters.until or utcnow()) - filters.since > MAX_EXPORT_SPAN:
        raise InvalidRequest(
            f"An export spans at most {MAX_EXPORT_SPAN.days} days from since.",
            details={"field": "until" if filters.until else "since", "max_days": MAX_EXPORT_SPAN.days},
        )
    page_limit = _limit(limit, EXPORT_MAX_LINES, EXPORT_MAX_LINES)
    items, next_cursor = _page("export", filters, page_limit, cursor, newest_first=False)
    lines = "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items)
    return ExportPage(lines=lines, next_cursor=next_cursor)


# ------------------------------------------------------------------------------------------------ pages
def _page(
    route: str, filters: archive.Filters, limit: int, cursor: str | None, *, newest_first: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of Message objects and the cursor of the next one (None: this is the last)."""
    plan = archive.plan(filters)
    query = _digest(route, plan)
    found = archive.read(plan, limit=limit, newest_first=newest_first, start=_start(cursor, plan, query))
    items: list[dict[str, Any]] = []
    size = 0
    for record in found.records:
        item = record.to_api()
        size += len(json.dumps(item))
        if items and size > MAX_PAGE_BYTES:
            return items, _cursor(plan.position(found.records[len(items) - 1]), query)
        items.append(item)
    return items, _cursor(found.next_position, query)


def _digest(route: str, plan: archive.Plan) -> str:
    query = [route, plan.index, plan.hash_value, plan.low, plan.high, sorted(plan.filters.items())]
    return hashlib.sha256(json.dumps(query).encode()).hexdigest()[:16]


def _start(cursor: str | None, plan: archive.Plan, query: str) -> dict[str, Any] | None:
    position = pages.decode_cursor(cursor, keys=plan.key_names | {_QUERY})
    if position is None:
        return None
    if position.pop(_QUERY)["S"] != query or not plan.holds(position):
        raise InvalidRequest("The cursor belongs to another list.", details={"field": "cursor"})
    return position


def _cursor(position: dict[str, Any] | None, query: str) -> str | None:
    return pages.encode_cursor(position | {_QUERY: {"S": query}}) if position else None


# ------------------------------------------------------------------------------------------------ parsing
def _contact(raw: str | None, number_id: str | None) -> str | None:
    """E.164, or the national format of `number_id`'s country when that number is configured."""
    if not raw:
        return None
    number = numbers.get(number_id) if number_id and not raw.strip().startswith("+") else None
    try:
        return phone.parse(raw, default_region=number.region if number else None).e164
    except phone.InvalidPhoneNumber:
        raise InvalidPhone(
            "contact is not a phone number (E.164, or the national format of number_id's country).",
            details={"field": "contact"},
        ) from None


def _one_of(field: str, raw: str | None, allowed: tuple[str, ...]) -> str | None:
    if not raw:
        return None
    if raw not in allowed:
        raise InvalidRequest(f"{field} is one of {', '.join(allowed)}.", details={"field": field, "allowed": allowed})
    return raw


def _time(field: str, raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
        moment = parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):  # not ISO 8601, or an offset that leaves the years 1-9999
        moment = None
    if moment is None:
        raise InvalidRequest(
            f"{field} is an ISO 8601 time with its offset, e.g. 2026-11-26T14:05:00Z (a + is sent as %2B).",
            details={"field": field},
        )
    return moment


def _check_order(filters: archive.Filters) -> None:
    if filters.since and filters.until and filters.since > filters.until:
        raise InvalidRequest("since is after until.", details={"field": "since"})


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= maximum):
        raise InvalidRequest(f"limit is an integer from 1 to {maximum}.", details={"field": "limit"})
    return int(raw)
