"""Reading the archive: GET /messages (every filter and combination, the thread, newest first, since/until,
pagination and its boundaries, every 400) and GET /messages/export (JSON Lines pages), through the manage handler
called in-process with API Gateway events (the files in events/) against the DynamoDB emulator.

The archive is shared by every module of the session, so each test writes its messages with numbers, contacts
and a week of time (from 2040 on) that no other test uses, and bounds its lists with them where a list is not
bound by a number or a contact already."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.ids import new_id
from aircall_sms.domain.pages import encode_cursor
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.store import archive, messages, numbers
from aircall_sms.store.base import raw_client
from aircall_sms.use_cases import messages as message_use_cases
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import handle_callback
from tests.integration.conftest import callback_token
from tests.support import FakeContext, invoke, load_event, load_handler, with_body

FR_FIXED = "100005"  # +33 1 86 95 42 10, configured by the tests that need a real number
FR_FIXED_E164 = "+33186954210"
WEEK = timedelta(days=7)
SPACING = timedelta(days=8)  # between two tests' weeks: a day nobody lists, for messages just outside a week
_corners = itertools.count()
_serials = itertools.count()  # numbers "7..." and contacts "+33750..." that no other module uses


# ------------------------------------------------------------------------------------------------ the archive
@dataclass
class Corner:
    """A test's own part of the archive: numbers and contacts nobody else writes, and a week from `start`."""

    start: datetime
    numbers: list[str] = field(default_factory=lambda: [f"7{next(_serials):011d}" for _ in range(3)])
    contacts: list[str] = field(default_factory=lambda: [f"+33750{next(_serials):06d}" for _ in range(3)])

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    def message(
        self,
        minutes: float,
        *,
        number: int = 0,
        contact: int = 0,
        direction: str = "outbound",
        status: str | None = None,
        message_id: str | None = None,
    ) -> messages.MessageRecord:
        created = self.at(minutes)
        number_id, phone = self.numbers[number], self.contacts[contact]
        outbound = direction == "outbound"
        status = status or ("delivered" if outbound else "received")
        return messages.MessageRecord(
            id=message_id or new_id("msg"),
            number_id=number_id,
            sender=FR_FIXED_E164 if outbound else phone,
            recipient=phone if outbound else FR_FIXED_E164,
            contact=phone,
            direction=direction,
            text=f"message at minute {minutes}",
            purpose="conversational" if outbound else None,
            segments=1,
            encoding="GSM-7",
            status=status,
            status_history=[messages.change(status, created, "test")],
            created_at=iso(created),
            updated_at=iso(created),
        )

    def window(self) -> dict[str, str]:
        return {"since": iso(self.start), "until": iso(self.start + WEEK - timedelta(milliseconds=1))}


def archived(*records: messages.MessageRecord) -> list[str]:
    """Write `records` (one batch, through the model, as the bench does); their ids, newest first."""
    with messages.MessageRecord.batch_write() as batch:
        for record in records:
            batch.save(record)
    return [record.id for record in sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)]


@pytest.fixture
def corner(gateway) -> Corner:
    return Corner(start=datetime(2040, 1, 1, tzinfo=UTC) + SPACING * next(_corners))


@pytest.fixture
def configured(gateway) -> Iterator[None]:
    number_use_cases.configure(
        ADMIN, FR_FIXED, NumberRequest(mode="proxy"), request_callback_url="https://unused/webhooks"
    )
    yield
    numbers.delete(FR_FIXED)
    numbers.forget(FR_FIXED)


# ------------------------------------------------------------------------------------------------ the routes
def _event(name: str, path: str, query: dict[str, str]) -> dict[str, Any]:
    return load_event(
        name,
        path=path,
        queryStringParameters=query or None,
        multiValueQueryStringParameters={key: [value] for key, value in query.items()} or None,
    )


def list_messages(**query: str) -> tuple[int, dict[str, Any]]:
    return invoke("manage", _event("manage_list_messages", "/messages", query))


def listed(**query: str) -> list[str]:
    """The ids of a list's first page (which must be its only one)."""
    status, body = list_messages(**query)
    assert status == 200, body
    assert body["next_cursor"] is None
    return [item["id"] for item in body["items"]]


def every_page(cursor: str | None = None, **query: str) -> tuple[list[str], list[int]]:
    """Follow a list to its end (from `cursor`, if given): the ids in order and the size of each page."""
    seen: list[str] = []
    sizes: list[int] = []
    while True:
        status, page = list_messages(**query, **({"cursor": cursor} if cursor else {}))
        assert status == 200, page
        seen += [item["id"] for item in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, sizes


@dataclass
class Export:
    status: int
    content_type: str
    lines: list[dict[str, Any]]
    next_cursor: str | None
    error: dict[str, Any] | None


def export(**query: str) -> Export:
    answer = load_handler("manage").lambda_handler(
        _event("manage_export_messages", "/messages/export", query), FakeContext()
    )
    headers = {name.lower(): values[-1] for name, values in (answer.get("multiValueHeaders") or {}).items()}
    headers |= {name.lower(): value for name, value in (answer.get("headers") or {}).items()}
    body = answer["body"] or ""
    if answer["statusCode"] != 200:
        return Export(answer["statusCode"], headers["content-type"], [], None, json.loads(body)["error"])
    lines = [json.loads(line) for line in body.splitlines()]
    assert body == "".join(line + "\n" for line in body.splitlines())
    return Export(200, headers["content-type"], lines, headers.get("x-next-cursor"), None)


def refused(answer: tuple[int, dict[str, Any]]) -> tuple[int, str, str | None]:
    status, body = answer
    return status, body["error"]["code"], body["error"]["details"].get("field")


# ------------------------------------------------------------------------------------------------ scopes
def test_a_number_and_a_contact_give_their_conversation_thread_in_both_directions_newest_first(corner):
    thread = archived(
        corner.message(1),
        corner.message(2, direction="inbound"),
        corner.message(3, status="failed"),
        corner.message(4, direction="inbound"),
    )
    archived(corner.message(5, contact=1), corner.message(6, number=1))  # another contact; another number
    assert listed(number_id=corner.numbers[0], contact=corner.contacts[0]) == thread


def test_a_number_lists_its_messages_with_every_contact(corner):
    mine = archived(corner.message(1), corner.message(2, contact=1, direction="inbound"), corner.message(3, contact=2))
    archived(corner.message(4, number=1))
    assert listed(number_id=corner.numbers[0]) == mine


def test_a_contact_lists_its_messages_with_every_number(corner):
    mine = archived(corner.message(1), corner.message(2, number=1, direction="inbound"), corner.message(3, number=2))
    archived(corner.message(4, contact=1))
    assert listed(contact=corner.contacts[0]) == mine


def test_no_filter_lists_the_whole_archive_newest_first(gateway):
    # No message is created in the future, so a list without `until` starts at the current month (the other tests'
    # corners, years ahead, are listed with `until`): this list's first page is these messages, the latest of now.
    late = Corner(start=utcnow() + timedelta(hours=12))
    newest = archived(late.message(1), late.message(2, number=1, direction="inbound"), late.message(3, contact=2))
    # and one older, two months back: the list walks the time index month by month, through empty ones
    (older,) = archived(Corner(start=utcnow() - timedelta(days=62)).message(0))
    status, body = list_messages(limit="3")
    assert status == 200
    assert [item["id"] for item in body["items"]] == newest
    assert body["next_cursor"]
    rest, _ = every_page(limit="50", cursor=body["next_cursor"])
    assert older in rest
    assert not set(newest) & set(rest)


def test_without_number_or_contact_since_and_until_bound_the_whole_archive(corner):
    inside = archived(corner.message(1), corner.message(2, number=1), corner.message(3, contact=2))
    archived(corner.message(-1), corner.message(60 * 24 * 7))  # just before and just after the week
    assert listed(**corner.window()) == inside


# ------------------------------------------------------------------------------------------------ filters
@pytest.fixture
def mixed(corner) -> list[messages.MessageRecord]:
    """Two numbers and two contacts, both directions, several statuses, one minute apart."""
    records = [
        corner.message(1, status="delivered"),
        corner.message(2, direction="inbound"),
        corner.message(3, status="failed"),
        corner.message(4, contact=1, status="failed"),
        corner.message(5, number=1, status="failed"),
        corner.message(6, number=1, contact=1, direction="inbound"),
        corner.message(7, status="queued"),
        corner.message(8, number=1, status="delivered"),
        corner.message(9, status="failed"),
    ]
    archived(*records)
    return records


def newest_first_where(records: list[messages.MessageRecord], **wanted: str) -> list[str]:
    chosen = [r for r in records if all(getattr(r, name) == value for name, value in wanted.items())]
    return [r.id for r in sorted(chosen, key=lambda r: (r.created_at, r.id), reverse=True)]


FILTER_SETS = [
    {"direction": "outbound"},
    {"direction": "inbound"},
    {"status": "failed"},
    {"status": "received"},
    {"status": "failed", "direction": "outbound"},
    {"status": "failed", "direction": "inbound"},
    {"status": "expired"},
]


@pytest.mark.parametrize("scope", ["thread", "number", "contact", "window"])
@pytest.mark.parametrize("wanted", FILTER_SETS, ids=lambda wanted: "+".join(f"{k}={v}" for k, v in wanted.items()))
def test_direction_and_status_filter_every_scope(corner, mixed, scope, wanted):
    scopes: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "thread": (
            {"number_id": corner.numbers[0], "contact": corner.contacts[0]},
            {"number_id": corner.numbers[0], "contact": corner.contacts[0]},
        ),
        "number": ({"number_id": corner.numbers[0]}, {"number_id": corner.numbers[0]}),
        "contact": ({"contact": corner.contacts[0]}, {"contact": corner.contacts[0]}),
        "window": (corner.window(), {}),
    }
    query, attributes = scopes[scope]
    assert listed(**query, **wanted) == newest_first_where(mixed, **attributes, **wanted)


def test_a_status_move_moves_the_message_between_the_status_lists(corner):
    (message_id,) = archived(corner.message(1, status="queued"))
    assert messages.advance(message_id, "delivered", at=corner.at(2), source="test")
    query = {"number_id": corner.numbers[0]}
    assert listed(**query, status="queued") == []
    assert listed(**query, status="delivered") == [message_id]
    assert listed(status="delivered", **corner.window()) == [message_id]


def test_equal_times_are_ordered_by_id_newest_first_and_pages_split_them_without_loss(corner):
    same_time = [corner.message(1, message_id=f"msg_tie_{secrets.token_hex(4)}_{index}") for index in range(5)]
    ids = archived(*same_time)
    assert ids == sorted(ids, reverse=True)
    assert listed(number_id=corner.numbers[0]) == ids
    assert every_page(number_id=corner.numbers[0], limit="2") == (ids, [2, 2, 1])


def test_since_and_until_are_inclusive_to_the_millisecond(corner):
    before, first, middle, last, after = (corner.message(minute) for minute in (0, 1, 2, 3, 4))
    archived(before, first, middle, last, after)
    number_id = corner.numbers[0]
    bounds = {"since": first.created_at, "until": last.created_at}
    assert listed(number_id=number_id, **bounds) == [last.id, middle.id, first.id]
    assert listed(number_id=number_id, since=last.created_at) == [after.id, last.id]
    assert listed(number_id=number_id, until=first.created_at) == [first.id, before.id]
    # A fraction of a millisecond: `since` starts after that millisecond, `until` keeps it.
    just_after_first = (corner.at(1) + timedelta(microseconds=100)).isoformat()
    assert listed(number_id=number_id, since=just_after_first, until=middle.created_at) == [middle.id]
    assert listed(number_id=number_id, since=first.created_at, until=just_after_first) == [first.id]


def test_times_with_an_offset_are_the_same_instants(corner):
    message = corner.message(60)
    archived(message)
    in_paris = corner.at(60).astimezone(timezone(timedelta(hours=1))).isoformat()
    assert in_paris.endswith("+01:00")
    assert listed(number_id=corner.numbers[0], since=in_paris, until=in_paris) == [message.id]


# ------------------------------------------------------------------------------------------------ pagination
def test_pages_of_an_exact_multiple_end_with_a_full_page_and_no_cursor(corner):
    ids = archived(*(corner.message(minute) for minute in range(6)))
    assert every_page(number_id=corner.numbers[0], limit="3") == (ids, [3, 3])
    assert every_page(number_id=corner.numbers[0], limit="6") == (ids, [6])


def test_pages_follow_each_other_to_a_short_last_page_in_every_scope(corner, mixed):
    for query in (
        {"number_id": corner.numbers[0], "contact": corner.contacts[0]},
        {"number_id": corner.numbers[0], "status": "failed"},
        {"number_id": corner.numbers[0], "direction": "outbound"},
        {"contact": corner.contacts[0], "direction": "outbound"},
        corner.window() | {"direction": "outbound"},
        corner.window(),
    ):
        whole = listed(**query)
        seen, sizes = every_page(**query, limit="2")
        assert seen == whole, query
        assert all(size == 2 for size in sizes[:-1]) and 1 <= sizes[-1] <= 2, (query, sizes)


def test_the_default_page_is_50_and_500_is_the_largest(corner):
    ids = archived(*(corner.message(minute) for minute in range(51)))
    status, body = list_messages(number_id=corner.numbers[0])
    assert (status, [item["id"] for item in body["items"]]) == (200, ids[:50])
    assert body["next_cursor"]
    assert listed(number_id=corner.numbers[0], limit="500") == ids


def test_a_page_is_cut_short_before_lambdas_response_limit_and_the_next_one_goes_on(corner, monkeypatch):
    ids = archived(*(corner.message(minute) for minute in range(5)))
    one_message = len(json.dumps(messages.get(ids[0]).to_api()))  # type: ignore[union-attr]
    monkeypatch.setattr(message_use_cases, "MAX_PAGE_BYTES", int(one_message * 2.5))
    assert every_page(number_id=corner.numbers[0]) == (ids, [2, 2, 1])


def test_a_filtered_page_stops_reading_at_its_budget_and_the_next_one_goes_on(corner, monkeypatch):
    # Given a thread whose delivered messages are few among many (`delivered` has no index of its own: it is
    # checked on the messages read)
    records = [corner.message(minute, status="delivered" if minute % 4 == 0 else "failed") for minute in range(12)]
    archived(*records)
    delivered = newest_first_where(records, status="delivered")
    monkeypatch.setattr(archive, "MAX_ITEMS_READ", 5)
    # When the delivered ones are listed, a page reading at most 5 items (after its first Query)
    seen, sizes = every_page(number_id=corner.numbers[0], contact=corner.contacts[0], status="delivered", limit="2")
    # Then pages may be short, and together they hold every delivered message once, newest first
    assert seen == delivered
    assert len(sizes) > 2


def test_a_list_item_is_the_whole_message_object(corner):
    (message_id,) = archived(corner.message(1))
    status, body = list_messages(number_id=corner.numbers[0])
    assert status == 200
    assert body["items"] == [messages.get(message_id).to_api()]  # type: ignore[union-attr]
    assert set(body["items"][0]) >= {
        "id", "aircall_id", "number_id", "from", "to", "direction", "text", "media_urls", "purpose", "segments",
        "encoding", "status", "status_history", "error", "created_at", "sent_at", "updated_at", "not_before",
        "metadata",
    }  # fmt: skip


def test_a_cursor_of_another_list_is_invalid_request(corner, mixed):
    number_id, contact = corner.numbers[0], corner.contacts[0]
    _, thread_page = list_messages(number_id=number_id, contact=contact, limit="1")
    _, failed_page = list_messages(number_id=number_id, contact=contact, status="failed", limit="1")
    _, number_page = list_messages(number_id=number_id, limit="1")
    for query, cursor in (
        ({"number_id": number_id, "contact": contact, "status": "failed"}, thread_page["next_cursor"]),
        ({"number_id": number_id, "contact": contact}, failed_page["next_cursor"]),
        ({"number_id": number_id, "contact": contact, "since": corner.window()["since"]}, thread_page["next_cursor"]),
        ({"number_id": number_id, "contact": corner.contacts[1]}, thread_page["next_cursor"]),
        ({"number_id": corner.numbers[1]}, number_page["next_cursor"]),
        ({"contact": contact}, thread_page["next_cursor"]),
    ):
        assert cursor
        assert refused(list_messages(**query, cursor=cursor)) == (400, "invalid_request", "cursor"), query


def test_a_cursor_outside_its_lists_range_is_invalid_request(corner, mixed):
    number_id = corner.numbers[0]
    query = {"number_id": number_id, "since": corner.window()["since"]}
    _, page = list_messages(**query, limit="1")
    plan = archive.plan(archive.Filters(number_id=number_id, since=corner.start))
    moved = json.loads(_decoded(page["next_cursor"]))
    moved["created_key"] = {"S": "2000-01-01T00:00:00.000Z#msg_x"}  # before `since`: DynamoDB would refuse it
    assert set(moved) == plan.key_names | {"query"}
    assert refused(list_messages(**query, cursor=encode_cursor(moved) or "")) == (400, "invalid_request", "cursor")


def _decoded(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "bm90IGpzb24",  # "not json"
        encode_cursor({"id": {"S": "msg_x"}}),  # not the index's keys
        encode_cursor({"id": {"S": "a"}, "number_id": {"S": "1"}, "created_key": {"N": "1"}, "query": {"S": "x"}}),
        "A" * 3000,
    ],
)
def test_a_malformed_cursor_is_invalid_request(corner, cursor):
    assert refused(list_messages(number_id=corner.numbers[0], cursor=cursor)) == (400, "invalid_request", "cursor")


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"number_id": "abc"}, "invalid_request", "number_id"),
        ({"number_id": "1" * 19}, "invalid_request", "number_id"),
        ({"contact": "not a phone"}, "invalid_phone", "contact"),
        ({"contact": "+3361234"}, "invalid_phone", "contact"),
        ({"direction": "sideways"}, "invalid_request", "direction"),
        ({"direction": "OUTBOUND"}, "invalid_request", "direction"),
        ({"status": "lost"}, "invalid_request", "status"),
        ({"since": "yesterday"}, "invalid_request", "since"),
        ({"since": "2026-11-26T10:00:00"}, "invalid_request", "since"),  # no offset
        ({"since": "2026-11-26"}, "invalid_request", "since"),
        ({"until": "2026-11-26T10:00:00 01:00"}, "invalid_request", "until"),  # an unencoded +
        ({"until": "0001-01-01T00:00:00+01:00"}, "invalid_request", "until"),  # before year 1 in UTC
        ({"since": "2026-11-27T00:00:00Z", "until": "2026-11-26T00:00:00Z"}, "invalid_request", "since"),
        ({"limit": "0"}, "invalid_request", "limit"),
        ({"limit": "501"}, "invalid_request", "limit"),
        ({"limit": "-1"}, "invalid_request", "limit"),
        ({"limit": "ten"}, "invalid_request", "limit"),
        ({"limit": "1" * 5000}, "invalid_request", "limit"),
    ],
)
def test_an_invalid_parameter_is_refused_with_its_field(gateway, query, code, field):
    assert refused(list_messages(**query)) == (400, code, field)


def test_a_contact_in_national_format_is_read_in_the_numbers_country(configured, corner):
    corner.numbers[0] = FR_FIXED
    ids = archived(corner.message(1), corner.message(2))
    national = "0" + corner.contacts[0].removeprefix("+33")
    assert listed(number_id=FR_FIXED, contact=national) == ids
    assert refused(list_messages(contact=national)) == (400, "invalid_phone", "contact")


def test_empty_parameters_are_absent_ones(corner):
    ids = archived(corner.message(1))
    assert listed(number_id=corner.numbers[0], contact="", direction="", status="", since="", until="") == ids


# ------------------------------------------------------------------------------------------------ what writes
def test_messages_written_by_the_send_path_and_by_an_inbound_callback_are_listed(configured, gateway):
    # Given a contact nobody else writes to, who receives a message and answers it
    contact = Corner(start=utcnow()).contacts[0]
    event = load_event("send_message")
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    status, sent = invoke("send", with_body(event, {"from": FR_FIXED, "to": contact, "text": "Bonjour !"}))
    assert status == 201, sent
    payload = {
        "event": "message.received",
        "timestamp": int(utcnow().timestamp()),
        "token": callback_token(gateway, int(FR_FIXED)),
        "data": {
            "id": f"SM{secrets.token_hex(8)}",
            "direction": "inbound",
            "status": "received",
            "external_number": contact,
            "body": "Merci",
            "created_at": iso(utcnow()),
            "number": {"id": int(FR_FIXED), "digits": FR_FIXED_E164},
        },
    }
    received = handle_callback(json.dumps(payload))
    # When the thread is listed
    status, body = list_messages(number_id=FR_FIXED, contact=contact)
    # Then both are in it, the answer first
    assert status == 200
    assert [item["id"] for item in body["items"]] == [received.message_id, sent["message"]["id"]]
    assert [item["direction"] for item in body["items"]] == ["inbound", "outbound"]


# ------------------------------------------------------------------------------------------------ export
def test_the_export_is_json_lines_oldest_first_in_pages_continued_by_a_header(corner):
    ids = archived(*(corner.message(minute, number=minute % 3, contact=minute % 2) for minute in range(7)))
    oldest_first = ids[::-1]
    first = export(**corner.window(), limit="3")
    assert (first.status, first.content_type) == (200, "application/x-ndjson")
    assert [line["id"] for line in first.lines] == oldest_first[:3]
    assert first.lines[0] == messages.get(oldest_first[0]).to_api()  # type: ignore[union-attr]
    seen, cursor = [line["id"] for line in first.lines], first.next_cursor
    while cursor:
        page = export(**corner.window(), limit="3", cursor=cursor)
        seen += [line["id"] for line in page.lines]
        cursor = page.next_cursor
    assert seen == oldest_first


def test_an_export_of_an_exact_multiple_ends_without_a_cursor_and_an_empty_range_is_empty(corner):
    ids = archived(*(corner.message(minute) for minute in range(4)))
    first = export(**corner.window(), limit="2")
    last = export(**corner.window(), limit="2", cursor=first.next_cursor or "")
    assert [line["id"] for line in first.lines + last.lines] == ids[::-1]
    assert last.next_cursor is None
    empty = export(since=iso(corner.at(60 * 24)), until=iso(corner.at(60 * 24 + 1)))
    assert (empty.status, empty.lines, empty.next_cursor) == (200, [], None)


def test_the_export_without_until_runs_to_now(gateway):
    recent = Corner(start=utcnow() - timedelta(days=1))
    (message_id,) = archived(recent.message(0))
    page = export(since=iso(recent.start), limit="1000")
    assert message_id in [line["id"] for line in page.lines]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "since"),
        ({"until": "2040-01-01T00:00:00Z"}, "since"),
        ({"since": "2040-01-01T00:00:00Z", "until": "2040-02-01T00:00:01Z"}, "until"),  # 31 days and a second
        ({"since": "2000-01-01T00:00:00Z"}, "since"),  # without until: 31 days before now at most
        ({"since": "2040-01-02T00:00:00Z", "until": "2040-01-01T00:00:00Z"}, "since"),
        ({"since": "2040-01-01T00:00:00Z", "limit": "1001"}, "limit"),
        ({"since": "2040-01-01T00:00:00Z", "limit": "0"}, "limit"),
        ({"since": "2040-01-01"}, "since"),
    ],
)
def test_an_invalid_export_is_refused_as_json_with_its_field(gateway, query, field):
    answer = export(**query)
    assert (answer.status, answer.content_type) == (400, "application/json")
    assert (answer.error or {})["code"] == "invalid_request"
    assert (answer.error or {})["details"]["field"] == field


def test_cursors_of_the_list_and_of_the_export_do_not_mix(corner):
    archived(*(corner.message(minute) for minute in range(3)))
    _, page = list_messages(**corner.window(), limit="1")
    first = export(**corner.window(), limit="1")
    assert first.next_cursor and page["next_cursor"]
    assert refused(list_messages(**corner.window(), cursor=first.next_cursor)) == (400, "invalid_request", "cursor")
    mixed = export(**corner.window(), cursor=page["next_cursor"])
    assert (mixed.status, (mixed.error or {}).get("details")) == (400, {"field": "cursor"})


# ------------------------------------------------------------------------------------------------ upgrading
def _as_archived_before_the_current_indexes(record: messages.MessageRecord) -> dict[str, Any]:
    """`record`'s item as the gateway wrote it before (keys of the indexes that are gone, none of today's)."""
    item = record.serialize()
    for name in ("month", "listed_status", "number_status", "thread_status", "contact_status"):
        item.pop(name, None)
    item["archive"] = {"S": "all"}
    item["number_created_key"] = {"S": f"{record.number_id}#{item['created_key']['S']}"}
    return item


def test_the_backfill_gives_older_messages_their_listing_keys_and_changes_nothing_else(corner):
    from tools import archive_keys

    old = [corner.message(1, status="failed"), corner.message(2, direction="inbound"), corner.message(3)]
    table = messages.MessageRecord.Meta.table_name
    for record in old:
        raw_client().put_item(TableName=table, Item=_as_archived_before_the_current_indexes(record))
    ids = {record.id: record for record in old}
    before = {message_id: messages.get(message_id).to_api() for message_id in ids}  # type: ignore[union-attr]
    # Given messages archived before: the time index and the status lists do not know them
    assert listed(**corner.window()) == []
    assert listed(number_id=corner.numbers[0], status="failed") == []
    # When the backfill runs (twice: the second run finds nothing to do)
    assert archive_keys.main(["--table", table, "--page-size", "100"]) == 0
    second, start = messages.backfill_listing_keys(page_size=1000)
    while start is not None:
        updated, start = messages.backfill_listing_keys(start=start, page_size=1000)
        second += updated
    # Then every list shows them, their Message objects are unchanged, the old keys are gone
    assert set(listed(**corner.window())) == set(ids)
    assert listed(number_id=corner.numbers[0], status="failed") == [old[0].id]
    assert listed(number_id=corner.numbers[0], direction="inbound") == [old[1].id]
    assert {message_id: messages.get(message_id).to_api() for message_id in ids} == before  # type: ignore[union-attr]
    for message_id in ids:
        item = raw_client().get_item(TableName=table, Key={"id": {"S": message_id}})["Item"]
        assert not {"archive", "number_created_key"} & set(item)
    assert second == 0
