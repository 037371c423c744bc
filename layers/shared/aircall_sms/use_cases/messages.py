"""Reading the archive: one message, the filtered lists (GET /messages, newest first) and the export
(GET /messages/export, JSON Lines, oldest first). Lists read only the indexes made for them (`store.archive`).

A cursor is DynamoDB's position in the index used plus a digest of the query it belongs to (the route, the
index, the partition, the time range and the filters), so a cursor handed to another list is refused rather
than read from the wrong place. A page is also cut short, with a cursor, before its answer could pass Lambda's
6 MB response limit: each message counts as its ASCII-escaped JSON, the form it takes inside Lambda's answer.

A key limited to numbers sees only their messages: naming another number is 403 `number_not_allowed`, another
number's message is 404, and a list or export that names no number is one Query per allowed number, merged in
order (its cursor carries each number's position).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aircall_sms.domain import pages, phone
from aircall_sms.domain.access import Principal
from aircall_sms.domain.status import STATUSES
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.errors import InvalidPhone, InvalidRequest, NotFound
from aircall_sms.store import archive, messages, numbers
from aircall_sms.store.messages import MessageRecord
from aircall_sms.use_cases import media
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


def get_message(principal: Principal, message_id: str) -> dict[str, Any]:
    record = messages.get(message_id) if 0 < len(message_id) <= MAX_ID_LENGTH else None
    if record is None or not principal.allows(record.number_id):
        raise NotFound("No message with this id.", details={"id": message_id[:MAX_ID_LENGTH]})
    return media.with_links(record.to_api(), record)


def list_messages(
    principal: Principal,
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
    if named is not None:
        principal.require_number(named)
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
    items, next_cursor = _page("list", _plans(principal, filters), page_limit, cursor, newest_first=True)
    return {"items": items, "next_cursor": next_cursor}


def export_messages(
    principal: Principal,
    *,
    since: str | None,
    until: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
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
    items, next_cursor = _page("export", _plans(principal, filters), page_limit, cursor, newest_first=False)
    lines = "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items)
    return ExportPage(lines=lines, next_cursor=next_cursor)


# ------------------------------------------------------------------------------------------------ pages
def _plans(principal: Principal, filters: archive.Filters) -> list[archive.Plan]:
    """The Queries that serve `filters` for `principal`: one, or one per allowed number when the key is limited
    to numbers and the filters name none."""
    if filters.number_id is not None or principal.number_ids is None:
        return [archive.plan(filters)]
    return [archive.plan(replace(filters, number_id=number)) for number in sorted(principal.number_ids, key=int)]


def _page(
    route: str, plans: list[archive.Plan], limit: int, cursor: str | None, *, newest_first: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of Message objects and the cursor of the next one (None: this is the last). Several Queries are
    each read for a page and merged by time (then id); each one's position follows what the page took of it."""
    query = _digest(route, plans)
    starts = _starts(cursor, plans, query)
    found = [
        archive.read(plan, limit=limit, newest_first=newest_first, start=start) if start is not _DONE else None
        for plan, start in zip(plans, starts, strict=True)
    ]
    merged = sorted(
        ((record, index) for index, page in enumerate(found) if page is not None for record in page.records),
        key=lambda pair: (pair[0].created_key, pair[0].id),
        reverse=newest_first,
    )
    # A Query that has more to read has read everything up to its position: only what is on this side of every
    # such position is certainly in order (a Query whose filter dropped items may have stopped short of a page).
    frontier = [
        _order_key(plan, page.next_position)
        for plan, page in zip(plans, found, strict=True)
        if page and page.next_position
    ]
    items: list[dict[str, Any]] = []
    taken: list[MessageRecord | None] = [None] * len(plans)
    size = 0
    for record, index in merged[:limit]:
        if frontier and (
            (record.created_key, record.id) < max(frontier)
            if newest_first
            else (record.created_key, record.id) > min(frontier)
        ):
            break
        item = media.with_links(record.to_api(), record)
        size += len(json.dumps(item))
        if items and size > MAX_PAGE_BYTES:
            break
        items.append(item)
        taken[index] = record
    positions: list[Any] = []
    for index, (plan, page) in enumerate(zip(plans, found, strict=True)):
        if page is None:
            positions.append(_DONE)
        elif (last := taken[index]) is not None and page.records and last is not page.records[-1]:
            positions.append(plan.position(last))  # the page stopped inside this Query's results
        elif taken[index] is not None or not page.records:
            positions.append(page.next_position if page.next_position is not None else _DONE)
        else:
            positions.append(starts[index])  # nothing of it taken yet: it starts where it did
    if all(position is _DONE for position in positions):
        return items, None
    return items, _cursor(plans, positions, query)


_DONE: Any = object()  # a Query with nothing more to read


def _order_key(plan: archive.Plan, position: dict[str, Any]) -> tuple[str, str]:
    """(created_key, id) of a position, whatever the index's sort key ("<number_id>#" before it, or not)."""
    sort_key: str = position[plan.range_name]["S"]
    created_key = sort_key.split("#", 1)[1] if plan.range_name == "number_created_key" else sort_key
    return created_key, position["id"]["S"]


def _digest(route: str, plans: list[archive.Plan]) -> str:
    query = [route] + [
        [plan.index, plan.hash_value, plan.low, plan.high, sorted((plan.filters | plan.checks).items())]
        for plan in plans
    ]
    return hashlib.sha256(json.dumps(query).encode()).hexdigest()[:16]


def _starts(cursor: str | None, plans: list[archive.Plan], query: str) -> list[Any]:
    """Each Query's start position from the cursor (None: from the first; _DONE: nothing more)."""
    if len(plans) == 1:
        position = pages.decode_cursor(cursor, keys=plans[0].key_names | {_QUERY})
        if position is None:
            return [None]
        if position.pop(_QUERY)["S"] != query or not plans[0].holds(position):
            raise _foreign_cursor()
        return [position]
    names = {f"q{index}" for index in range(len(plans))}
    document = pages.decode_cursor(cursor, keys=frozenset(names | {_QUERY}))
    if document is None:
        return [None] * len(plans)
    if document[_QUERY]["S"] != query:
        raise _foreign_cursor()
    starts: list[Any] = []
    for index, plan in enumerate(plans):
        inner = document[f"q{index}"]["S"]
        if inner in ("", "-"):
            starts.append(_DONE if inner == "-" else None)
            continue
        position = pages.decode_cursor(inner, keys=plan.key_names)
        if position is None or not plan.holds(position):
            raise _foreign_cursor()
        starts.append(position)
    return starts


def _cursor(plans: list[archive.Plan], positions: list[Any], query: str) -> str | None:
    if len(plans) == 1:
        (position,) = positions
        return pages.encode_cursor(position | {_QUERY: {"S": query}}) if position not in (None, _DONE) else None
    document = {_QUERY: {"S": query}}
    for index, position in enumerate(positions):
        inner = "-" if position is _DONE else "" if position is None else pages.encode_cursor(position)
        document[f"q{index}"] = {"S": inner or ""}
    return pages.encode_cursor(document)


def _foreign_cursor() -> InvalidRequest:
    return InvalidRequest("The cursor belongs to another list.", details={"field": "cursor"})


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
