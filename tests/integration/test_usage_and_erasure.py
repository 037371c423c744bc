"""GET /usage (monthly counters written by the UsageFunction from the archive's stream), DELETE /contacts/{phone}
(the right to erasure) and the archive's retention period, through the manage, send and usage handlers called
in-process against the DynamoDB emulator and the Aircall sandbox.

The UsageFunction is fed what Lambda would give it: the records of MessagesTable's stream in the emulator, read
from where they stood when the test began (`ArchiveStream`). The archive is shared by every module of the
session, so each test uses contacts no other test writes (`+3376...`)."""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircall_sms.domain import phone
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.ids import new_id
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.settings import get_settings
from aircall_sms.store import idempotency, messages, month_counters, numbers
from aircall_sms.store.base import raw_client, unpack_text
from aircall_sms.use_cases import erasure
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import handle_callback
from local_stack.dynamodb import client
from local_stack.streams import lambda_record, without_interim_inserts
from tests.integration.conftest import callback_token
from tests.support import FakeContext, invoke, load_event, load_handler, with_body

FR_FIXED = "100005"  # +33 1 86 95 42 10
FR_FIXED_E164 = "+33186954210"
US_LOCAL = "100001"
TABLES = ("MessagesTable", "NumbersTable", "LedgerTable", "ContactsTable", "CallbacksTable")
PRICES = '{"currency": "EUR", "countries": {"FR": {"outbound": 0.0725, "inbound": 0.01}}}'
TWO_SEGMENTS = "Votre commande est en route. " * 6  # 174 GSM-7 characters
_serials = itertools.count(secrets.randbelow(10_000) * 100)


def new_contact() -> str:
    return f"+3376{next(_serials):07d}"


# ------------------------------------------------------------------------------------------------ helpers
def call(event_name: str, path: str, *, path_parameters=None, query=None) -> tuple[int, dict[str, Any]]:
    event = load_event(
        event_name,
        path=path,
        pathParameters=path_parameters,
        queryStringParameters=query or None,
        multiValueQueryStringParameters={name: [value] for name, value in query.items()} if query else None,
    )
    return invoke("manage", event)


def get_usage(**query: str) -> tuple[int, dict[str, Any]]:
    return call("manage_get_usage", "/usage", query=query)


def erase(phone: str, **query: str) -> tuple[int, dict[str, Any]]:
    return call("manage_erase_contact", f"/contacts/{phone}", path_parameters={"phone": phone}, query=query)


def send(contact: str, text: str = "Bonjour !", *, key: str | None = None, **fields: Any) -> tuple[int, dict[str, Any]]:
    event = load_event("send_message")
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
        event["multiValueHeaders"]["Idempotency-Key"] = [key]
    return invoke("send", with_body(event, {"from": FR_FIXED, "to": contact, "text": text} | fields))


def refused(answer: tuple[int, dict[str, Any]]) -> tuple[int, str, str | None]:
    status, body = answer
    return status, body["error"]["code"], body["error"]["details"].get("field")


def callback(sandbox, data: dict[str, Any], event: str) -> Any:
    payload = {
        "event": event,
        "timestamp": int(utcnow().timestamp()),
        "token": callback_token(sandbox, int(FR_FIXED)),
        "data": {"number": {"id": int(FR_FIXED), "digits": FR_FIXED_E164}} | data,
    }
    return handle_callback(json.dumps(payload, ensure_ascii=False))


def inbound(sandbox, contact: str, text: str) -> Any:
    data = {
        "id": f"SM{secrets.token_hex(8)}",
        "direction": "inbound",
        "status": "received",
        "external_number": contact,
        "body": text,
        "created_at": iso(utcnow()),
    }
    return callback(sandbox, data, "message.received")


def delivered(sandbox, contact: str, aircall_id: str, text: str) -> Any:
    data = {"id": aircall_id, "status": "delivered", "external_number": contact, "body": text}
    return callback(sandbox, data, "message.status_updated")


class ArchiveStream:
    """MessagesTable's stream in the emulator, from where it stood when this was made, as Lambda's records."""

    def __init__(self, url: str) -> None:
        self.streams = client("dynamodbstreams", url)
        self.arn = client("dynamodb", url).describe_table(TableName="MessagesTable")["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][-1]["ShardId"]
        self.iterator = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard, ShardIteratorType="LATEST")[
            "ShardIterator"
        ]

    def records(self) -> list[dict[str, Any]]:
        """Every record written since the last call."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = answer["NextShardIterator"]
            if not answer["Records"]:
                break
            found += answer["Records"]
        return [lambda_record(record, self.arn, "us-east-1") for record in without_interim_inserts(found)]


def count(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The UsageFunction's answer to one batch."""
    answer: dict[str, Any] = load_handler("usage").lambda_handler({"Records": records}, FakeContext())
    return answer


def scan_all(emulator) -> dict[str, list[dict[str, Any]]]:
    dynamodb = client("dynamodb", emulator.url)
    return {
        table: [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
        for table in TABLES
    }


@pytest.fixture
def configured(gateway) -> Iterator[None]:
    """The French fixed line in proxy mode, three segments an hour (a second message of two waits)."""
    number_use_cases.configure(
        ADMIN, FR_FIXED, NumberRequest(mode="proxy", limits={"hour": 3}), request_callback_url="https://unused/webhooks"
    )
    yield
    numbers.delete(FR_FIXED)
    numbers.forget(FR_FIXED)


@pytest.fixture
def stream(emulator, gateway) -> ArchiveStream:
    return ArchiveStream(emulator.url)


@pytest.fixture
def prices(monkeypatch) -> None:
    monkeypatch.setenv("PRICE_TABLE_JSON", PRICES)
    get_settings.cache_clear()


# ------------------------------------------------------------------------------------------------ usage
def test_a_months_usage_counts_what_went_out_came_in_waited_expired_and_was_refused(configured, stream, sandbox):
    contact, blocked = new_contact(), new_contact()
    # Given a message of two segments sent, a second one deferred (the hour's three segments would not hold it)
    # and then expired, an answer received, and a message refused because its contact opted out
    status, sent = send(contact, TWO_SEGMENTS)
    assert (status, sent["message"]["segments"]) == (201, 2)
    status, waiting = send(contact, TWO_SEGMENTS, on_limit="defer")
    assert (status, waiting["message"]["status"]) == (202, "deferred")
    assert messages.advance(waiting["message"]["id"], "expired", at=utcnow(), source="gateway", only_from=("deferred",))
    assert inbound(sandbox, contact, "Merci").result == "archived"
    inbound(sandbox, blocked, "STOP")
    assert refused(send(blocked, "Une offre")) == (403, "opted_out", None)
    # When the UsageFunction has counted the archive's changes
    assert count(stream.records()) == {"batchItemFailures": []}
    # Then the month's usage of the number says so (the current month by default)
    status, report = get_usage(number_id=FR_FIXED)
    assert status == 200
    assert report["month"] == utcnow().strftime("%Y-%m")
    assert report["next_cursor"] is None
    assert report["items"] == [
        {
            "number_id": int(FR_FIXED),
            "outbound": {"messages": 1, "segments": 2, "segments_by_country": {"FR": 2}},
            "inbound": {"messages": 2, "segments": 2, "segments_by_country": {"FR": 2}},
            "rejected": 1,
            "deferred": 1,
            "expired": 1,
            "failed": 0,
            "media": {"files": 0, "bytes": 0},
            "estimated_cost": None,
        }
    ]


def test_the_estimated_cost_comes_from_the_price_table(configured, stream, sandbox, prices):
    contact = new_contact()
    assert send(contact, TWO_SEGMENTS)[0] == 201
    inbound(sandbox, contact, "Merci")
    count(stream.records())

    _, report = get_usage(number_id=FR_FIXED)

    assert report["items"][0]["estimated_cost"] == {
        "currency": "EUR",
        "outbound": 0.145,
        "inbound": 0.01,
        "total": 0.155,
        "unpriced_segments": 0,
    }


def test_a_change_delivered_again_is_not_counted_again(configured, stream):
    assert send(new_contact(), TWO_SEGMENTS)[0] == 201
    records = stream.records()
    count(records)
    once = get_usage(number_id=FR_FIXED)[1]

    # Lambda delivers a batch again (a retry after a later record failed, a bisected batch)
    assert count(records) == {"batchItemFailures": []}

    assert get_usage(number_id=FR_FIXED)[1] == once
    assert once["items"][0]["outbound"]["messages"] == 1


def test_a_change_that_could_not_be_counted_is_counted_by_the_retry_and_nothing_twice(
    configured, stream, sandbox, monkeypatch
):
    contact = new_contact()
    assert send(contact, TWO_SEGMENTS)[0] == 201
    inbound(sandbox, contact, "Merci")
    records = stream.records()
    real_count_once = month_counters.count_once
    inbound_insert = next(
        index
        for index, record in enumerate(records)
        if record["eventName"] == "INSERT" and record["dynamodb"]["NewImage"]["direction"]["S"] == "inbound"
    )

    def failing(event_id, counts, now):
        if event_id == records[inbound_insert]["eventID"]:
            raise ConnectionError("DynamoDB unreachable")
        return real_count_once(event_id, counts, now)

    monkeypatch.setattr(month_counters, "count_once", failing)
    answer = count(records)
    assert answer["batchItemFailures"][0] == {"itemIdentifier": records[inbound_insert]["dynamodb"]["SequenceNumber"]}
    monkeypatch.setattr(month_counters, "count_once", real_count_once)
    # Lambda retries the batch from the first record it was told (the earlier ones were counted already)
    assert count(records[inbound_insert:]) == {"batchItemFailures": []}
    assert count(records) == {"batchItemFailures": []}  # and even the whole batch again changes nothing

    item = get_usage(number_id=FR_FIXED)[1]["items"][0]
    assert (item["outbound"]["messages"], item["inbound"]["messages"]) == (1, 1)


def archive_change(number_id: str, created: datetime, *, status: str, direction: str = "outbound") -> dict[str, Any]:
    """A stream record of a message archived at `created` (what the UsageFunction reads), without the archive."""
    contact = new_contact()
    record = messages.MessageRecord(
        id=new_id("msg"),
        aircall_id=f"SM{secrets.token_hex(6)}" if status != "rejected" else None,
        number_id=number_id,
        sender=FR_FIXED_E164 if direction == "outbound" else contact,
        recipient=contact if direction == "outbound" else FR_FIXED_E164,
        contact=contact,
        direction=direction,
        text="x",
        segments=1,
        status=status,
        status_history=[messages.change(status, created, "test")],
        created_at=iso(created),
        updated_at=iso(created),
    )
    return {
        "eventID": secrets.token_hex(16),
        "eventName": "INSERT",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/MessagesTable/stream/2026-11-26T09:00:00.000",
        "dynamodb": {"Keys": {"id": {"S": record.id}}, "NewImage": record.serialize(), "SequenceNumber": "1"},
    }


def test_changes_count_in_the_utc_month_they_happened_and_every_number_of_a_month_is_listed(gateway):
    last_moment = datetime(2026, 11, 30, 23, 59, 59, 999_000, tzinfo=UTC)
    count(
        [
            archive_change(FR_FIXED, last_moment, status="delivered"),
            archive_change(FR_FIXED, last_moment + timedelta(milliseconds=1), status="delivered"),
            archive_change(US_LOCAL, last_moment, status="received", direction="inbound"),
            archive_change(US_LOCAL, last_moment, status="rejected"),
        ]
    )

    status, november = get_usage(month="2026-11")
    _, december = get_usage(month="2026-12")

    assert status == 200
    assert [item["number_id"] for item in november["items"]] == [int(US_LOCAL), int(FR_FIXED)]  # by number id
    assert [item["outbound"]["messages"] for item in november["items"]] == [0, 1]
    assert (november["items"][0]["inbound"]["messages"], november["items"][0]["rejected"]) == (1, 1)
    assert [(item["number_id"], item["outbound"]["messages"]) for item in december["items"]] == [(int(FR_FIXED), 1)]


def test_a_month_without_usage_is_empty_and_a_number_without_usage_is_zeros(gateway):
    assert get_usage(month="2031-02") == (200, {"month": "2031-02", "items": [], "next_cursor": None})
    status, body = get_usage(month="2031-02", number_id=FR_FIXED)
    assert status == 200
    (item,) = body["items"]
    assert item["number_id"] == int(FR_FIXED)
    assert (item["outbound"]["messages"], item["inbound"]["segments"], item["rejected"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "2026-00"}, "month"),
        ({"month": "2026-1"}, "month"),
        ({"month": "202611"}, "month"),
        ({"month": "2026-11-01"}, "month"),
        ({"month": "November"}, "month"),
        ({"number_id": "abc"}, "number_id"),
        ({"number_id": "1" * 19}, "number_id"),
        ({"month": "2026-11", "number_id": "-5"}, "number_id"),
    ],
)
def test_invalid_usage_parameters_are_invalid_request_naming_the_field(gateway, query, field):
    assert refused(get_usage(**query)) == (400, "invalid_request", field)


# ------------------------------------------------------------------------------------------------ erasure
def test_erasing_a_contact_leaves_no_trace_of_its_number_or_texts_in_any_table_but_the_opt_out(
    configured, sandbox, emulator
):
    contact, other = new_contact(), new_contact()
    texts = [f"Votre code est {secrets.token_hex(4)}", f"Merci, code {secrets.token_hex(4)}"]
    refused_text = f"Une offre {secrets.token_hex(4)}"
    # Given a message sent with an Idempotency-Key and delivered (Aircall's callback recorded), the contact's
    # answer (its conversation window open), a marketing consent, a STOP, and a message refused after it
    status, sent = send(contact, texts[0], key=f"erasure-{secrets.token_hex(4)}")
    assert status == 201
    assert delivered(sandbox, contact, sent["message"]["aircall_id"], texts[0]).result == "updated"
    assert inbound(sandbox, contact, texts[1]).result == "archived"
    consent = {"purpose": "marketing", "source": "web_form", "captured_at": iso(utcnow()), "text": "Oui"}
    consent_event = with_body(
        load_event("manage_put_consent", path=f"/consents/{contact}", pathParameters={"phone": contact}), consent
    )
    assert invoke("manage", consent_event)[0] == 200
    inbound(sandbox, contact, "STOP")
    assert refused(send(contact, refused_text)) == (403, "opted_out", None)
    # ...and another contact's message, which must stay
    assert send(other, "Pour quelqu'un d'autre")[0] == 201
    # When the contact is erased
    status, answer = erase(contact)
    # Then every kind of record is counted, and only the opt-out is kept
    assert status == 200
    assert answer == {
        "contact": contact,
        "complete": True,
        "erased": {
            "messages": 4,  # sent, received, the STOP, the refused one
            "callbacks": 3,  # the delivery status, the answer, the STOP
            "idempotency_records": 1,
            "media_objects": 0,
            "consents": 1,
            "conversations": 1,
        },
        "kept": {"opt_outs": 1},
        "erasure_id": answer["erasure_id"],
        "client_id": "admin",  # who erased it: in the answer, the audit record and the contact.erased event
    }
    # ...and no table holds the contact's number (in any form) or its texts, but in the opt-out fact
    traces = (contact, contact.removeprefix("+"), "0" + contact.removeprefix("+33"), *texts, refused_text)
    for table, items in scan_all(emulator).items():
        for item in items:
            # (packed texts, a callback's payload or an answer to replay, are read as their text)
            readable = json.dumps(item, ensure_ascii=False, default=lambda packed: unpack_text({"B": packed}))
            found = [trace for trace in traces if trace in readable]
            if found:
                assert table == "ContactsTable" and item["sk"]["S"] == f"optout#{FR_FIXED}", (table, item)
                assert found == [contact, contact.removeprefix("+")]  # the opt-out's key, nothing else
    # ...the STOP is still honoured, the other contact untouched, and the lists know nothing of the contact
    assert refused(send(contact, "Encore ?")) == (403, "opted_out", None)
    listed = call("manage_list_messages", "/messages", query={"contact": other})[1]["items"]
    assert [item["to"] for item in listed] == [other]
    assert (
        invoke(
            "manage", load_event("manage_get_consents", path=f"/consents/{contact}", pathParameters={"phone": contact})
        )[1]["consents"]
        == []
    )


def test_erasing_again_erases_nothing_more(configured):
    contact = new_contact()
    send(contact)
    assert erase(contact)[1]["erased"]["messages"] == 1

    status, again = erase(contact)

    assert status == 200
    assert again["erased"] == {
        "messages": 0,
        "callbacks": 0,
        "idempotency_records": 0,
        "media_objects": 0,
        "consents": 0,
        "conversations": 0,
    }
    assert again["kept"] == {"opt_outs": 0}


def test_a_long_erasure_answers_202_until_a_repeat_finishes_it(gateway, monkeypatch):
    contact = new_contact()
    created = datetime(2041, 3, 1, tzinfo=UTC)
    with messages.MessageRecord.batch_write() as batch:
        for minute in range(7):
            batch.save(
                messages.MessageRecord(
                    id=new_id("msg"),
                    number_id=FR_FIXED,
                    sender=FR_FIXED_E164,
                    recipient=contact,
                    contact=contact,
                    direction="outbound",
                    text=f"message {minute}",
                    segments=1,
                    status="delivered",
                    status_history=[messages.change("delivered", created, "test")],
                    created_at=iso(created + timedelta(minutes=minute)),
                    updated_at=iso(created),
                )
            )
    monkeypatch.setattr(erasure, "PAGE", 2)
    monkeypatch.setattr(erasure, "MESSAGES_PER_CALL", 3)

    first = erase(contact)
    second = erase(contact)

    assert (first[0], first[1]["complete"], first[1]["erased"]["messages"]) == (202, False, 4)
    assert "repeat" in first[1]["message"]
    assert (second[0], second[1]["complete"], second[1]["erased"]["messages"]) == (200, True, 3)
    assert messages.contact_message_ids(contact, limit=10, start=None) == ([], None)


def test_an_erasure_takes_a_national_number_with_its_number_id(configured):
    contact = new_contact()
    send(contact)

    status, answer = erase("0" + contact.removeprefix("+33"), number_id=FR_FIXED)

    assert (status, answer["contact"], answer["erased"]["messages"]) == (200, contact, 1)


def test_a_key_reused_by_another_request_keeps_that_requests_record(configured):
    # Given a message whose Idempotency-Key now names another message (the key was used again after 24 hours)
    contact, key = new_contact(), f"reused-{secrets.token_hex(4)}"
    assert send(contact, key=key)[0] == 201
    digest = idempotency.digest("admin", key)
    table = get_settings().ledger_table
    client_ = raw_client()
    client_.update_item(
        TableName=table,
        Key={"pk": {"S": f"idempotency#{digest}"}, "sk": {"S": "-"}},
        UpdateExpression="SET message_id = :other",
        ExpressionAttributeValues={":other": {"S": "msg_of_another_request"}},
    )
    # When the contact is erased
    assert erase(contact)[1]["erased"]["idempotency_records"] == 0
    # Then the other request's record stays
    item = client_.get_item(TableName=table, Key={"pk": {"S": f"idempotency#{digest}"}, "sk": {"S": "-"}})
    assert item["Item"]["message_id"]["S"] == "msg_of_another_request"


@pytest.mark.parametrize(
    ("phone", "query", "expected"),
    [
        ("not-a-phone", {}, (400, "invalid_phone", "phone")),
        ("0612345679", {}, (400, "invalid_phone", "phone")),  # national, without a number to read it by
        ("+33612345679", {"number_id": "abc"}, (400, "invalid_request", "number_id")),
    ],
)
def test_an_erasure_of_no_phone_is_refused(gateway, phone, query, expected):
    assert refused(erase(phone, **query)) == expected


# ------------------------------------------------------------------------------------------------ retention
@pytest.fixture
def retention(monkeypatch) -> int:
    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    return 30


def expires_at(message_id: str) -> datetime | None:
    record = messages.get(message_id)
    assert record is not None
    return record.expires_at


def test_messages_leave_the_archive_after_the_retention_period(configured, sandbox, retention):
    contact = new_contact()
    _, sent = send(contact)
    received = inbound(sandbox, contact, "Merci")

    for message_id in (sent["message"]["id"], received.message_id):
        record = messages.get(message_id)
        assert record is not None
        assert record.expires_at is not None
        expected = datetime.fromisoformat(record.created_at) + timedelta(days=retention)
        assert abs(record.expires_at - expected) < timedelta(seconds=1)


def test_a_deferred_message_stays_at_least_a_day_past_its_not_after(configured, monkeypatch):
    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "1")
    get_settings.cache_clear()
    contact = new_contact()
    send(contact, TWO_SEGMENTS)
    not_after = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    status, waiting = send(contact, TWO_SEGMENTS, on_limit="defer", not_after=iso(not_after))

    assert status == 202
    assert expires_at(waiting["message"]["id"]) == not_after + timedelta(days=1)


def test_by_default_the_archive_keeps_every_message(configured):
    _, sent = send(new_contact())

    assert get_settings().message_retention_days == 0
    assert expires_at(sent["message"]["id"]) is None


# ------------------------------------------------------------------------------------------------ hostile input
NASTY = st.one_of(
    st.sampled_from(["", " ", "\x00", "\ud800", "\u202e2026-11", "../../etc", "%2B", "2026-11\n", "9" * 40, "١٢٣"]),
    st.text(max_size=40),
)
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def assert_contract(answer: tuple[int, dict[str, Any]]) -> None:
    status, body = answer
    assert status < 500, body
    if status >= 400:
        assert body["error"]["code"] in ("invalid_request", "invalid_phone", "not_found"), body  # not_found: no route


def not_a_phone(raw: str) -> bool:
    """Hostile phones that are no phone at all: a valid one would erase a contact of another test."""
    try:
        phone.parse(unquote(raw))
    except phone.InvalidPhoneNumber:
        return True
    return False


@EXAMPLES
@given(month=NASTY, number_id=NASTY)
def test_any_usage_query_gets_the_contracts_answer(gateway, month, number_id):
    assert_contract(get_usage(month=month, number_id=number_id))


@EXAMPLES
@given(raw_phone=NASTY.filter(not_a_phone), number_id=st.one_of(st.none(), NASTY))
def test_any_erasure_path_gets_the_contracts_answer(gateway, raw_phone, number_id):
    assert_contract(erase(raw_phone, **({"number_id": number_id} if number_id is not None else {})))
