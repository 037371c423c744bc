"""Events out: which DynamoDB stream records publish which EventBridge entries (`domain.events`, read out of the
records by `store.streams`, composed by `use_cases.publish_events.entries`)."""

import copy
import json
from datetime import UTC, datetime

import pytest

from aircall_sms.domain import events
from aircall_sms.settings import get_settings
from aircall_sms.store import streams
from aircall_sms.store.messages import MessageRecord, change
from aircall_sms.use_cases.publish_events import entries
from tests.support import load_event

MESSAGES_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/MessagesTable/stream/2026-11-26T09:00:00.000"
CONTACTS_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/ContactsTable/stream/2026-11-26T09:00:00.000"
WRITTEN_AT = 1795683600  # 2026-11-26T09:00:00Z


def archive(index):
    return load_event("events_archive_changes")["Records"][index]


def contact_change(index):
    return load_event("events_contact_changes")["Records"][index]


def outbound(status, history, **attributes):
    return MessageRecord(
        id="msg_01TEST",
        number_id="100005",
        sender="+14155550100",
        recipient="+14155550123",
        contact="+14155550123",
        direction="outbound",
        text="Your parcel is on its way.",
        purpose="transactional",
        segments=1,
        encoding="GSM-7",
        status=status,
        status_history=[
            change(step, datetime(2026, 11, 26, 9, 0, minute, tzinfo=UTC), "gateway")
            for minute, step in enumerate(history)
        ],
        created_at="2026-11-26T09:00:00.000Z",
        updated_at="2026-11-26T09:00:00.000Z",
        metadata={"order": 1042},
        **attributes,
    )


def stream_record(event_name, new=None, old=None, arn=MESSAGES_ARN, keys=None, written_at=WRITTEN_AT):
    change_ = {
        "Keys": keys or {"id": {"S": "msg_01TEST"}},
        "SequenceNumber": "1",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if written_at is not None:
        change_["ApproximateCreationDateTime"] = written_at
    if new is not None:
        change_["NewImage"] = new.serialize() if isinstance(new, MessageRecord) else new
    if old is not None:
        change_["OldImage"] = old.serialize() if isinstance(old, MessageRecord) else old
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "eventSourceARN": arn, "dynamodb": change_}


def details(record):
    return [(entry["DetailType"], json.loads(entry["Detail"])) for entry in entries(record)]


# ------------------------------------------------------------------------------------------ messages


def test_an_inbound_message_is_received_with_the_contracts_message_object():
    record = archive(0)

    ((detail_type, detail),) = details(record)

    assert detail_type == "message.received"
    assert detail == {"message": MessageRecord.from_raw_data(record["dynamodb"]["NewImage"]).to_api()}
    assert detail["message"]["direction"] == "inbound"
    assert detail["message"]["status"] == "received"


def test_an_inbound_help_message_also_asks_for_help():
    assert details(archive(1)) == [
        ("message.received", {"message": MessageRecord.from_raw_data(archive(1)["dynamodb"]["NewImage"]).to_api()}),
        (
            "contact.help_requested",
            {
                "contact": "+33612345679",
                "number_id": "100004",
                "message_id": "msg_in_0a2c4e6f8b1d3f5a7c9e0b2d4f",
                "at": "2026-11-26T09:01:00.000Z",
            },
        ),
    ]


@pytest.mark.parametrize("keyword", ["opt_out", "opt_in", None])
def test_other_inbound_messages_are_only_received(keyword):
    message = copy.deepcopy(archive(1))
    if keyword is None:
        del message["dynamodb"]["NewImage"]["keyword"]
    else:
        message["dynamodb"]["NewImage"]["keyword"] = {"S": keyword}

    assert [detail_type for detail_type, _ in details(message)] == ["message.received"]


def test_an_outbound_message_archived_is_a_status_change_from_nothing():
    message = outbound("unknown", ["unknown"])

    assert details(stream_record("INSERT", new=message)) == [
        ("message.status_changed", {"previous_status": None, "message": message.to_api()})
    ]


@pytest.mark.parametrize("status", ["rejected", "deferred"])
def test_an_outbound_message_archived_refused_or_deferred_says_so(status):
    ((detail_type, detail),) = details(stream_record("INSERT", new=outbound(status, [status])))

    assert (detail_type, detail["previous_status"], detail["message"]["status"]) == (
        "message.status_changed",
        None,
        status,
    )


def test_a_status_move_is_a_status_change_from_the_old_status():
    before = outbound("queued", ["unknown", "queued"], aircall_id="SM1")
    after = outbound("sent", ["unknown", "queued", "sent"], aircall_id="SM1", sent_at="2026-11-26T09:00:02.000Z")

    assert details(stream_record("MODIFY", new=after, old=before)) == [
        ("message.status_changed", {"previous_status": "queued", "message": after.to_api()})
    ]


def test_the_sample_archive_changes_publish_in_stream_order():
    published = [
        detail_type for record in load_event("events_archive_changes")["Records"] for detail_type, _ in details(record)
    ]

    assert published == [
        "message.received",
        "message.received",
        "contact.help_requested",
        "message.status_changed",
        "message.status_changed",
    ]


def test_a_modify_that_keeps_the_status_publishes_nothing():
    record = archive(4)
    assert record["eventName"] == "MODIFY"
    assert record["dynamodb"]["OldImage"]["status"] == record["dynamodb"]["NewImage"]["status"]

    assert entries(record) == []


def test_a_removed_message_publishes_nothing():
    # The TTL expiring a message (or an erasure) is not news for the customer's systems.
    assert archive(5)["eventName"] == "REMOVE"

    assert entries(archive(5)) == []
    assert entries(stream_record("REMOVE", old=outbound("delivered", ["delivered"]))) == []


def test_an_insert_without_its_new_image_cannot_be_published():
    record = stream_record("INSERT", new=None)

    with pytest.raises(ValueError, match="NewImage"):
        entries(record)


# ------------------------------------------------------------------------------------------ contacts


def test_an_opt_out_of_one_number_is_published_with_its_fields():
    assert details(contact_change(0)) == [
        (
            "contact.opted_out",
            {
                "contact": "+33612345679",
                "number_id": "100004",
                "at": "2026-11-26T09:03:00.000Z",
                "source": "keyword",
                "detail": "inbound message SM5e6f7a8b",
                "client_id": None,  # the contact's own STOP
            },
        )
    ]


def test_an_opt_out_of_every_number_has_no_number_id():
    assert details(contact_change(1)) == [
        (
            "contact.opted_out",
            {
                "contact": "+33612345679",
                "number_id": None,
                "at": "2026-11-26T09:04:00.000Z",
                "source": "api",
                "detail": None,
                "client_id": "key_01JDX0000000000000000CRM00",
            },
        )
    ]


def test_a_removed_opt_out_is_an_opt_in_at_the_time_of_the_removal():
    record = contact_change(3)

    ((detail_type, detail),) = details(record)

    assert detail_type == "contact.opted_in"
    assert detail == {
        "contact": "+33612345679",
        "number_id": "100004",
        "at": "2026-11-26T09:15:00.000Z",  # the record's ApproximateCreationDateTime
        "source": "keyword",
        "detail": "inbound message SM5e6f7a8b",
        "client_id": "admin",  # who removed it (`removed_by`), not who recorded it
    }


def test_a_consent_recorded_names_its_scope_and_the_key_that_recorded_it():
    assert details(contact_change(4)) == [
        (
            "contact.consent_recorded",
            {
                "contact": "+33612345679",
                "number_id": "100004",
                "purpose": "marketing",
                "source": "web_form",
                "captured_at": "2026-11-20T10:00:00.000Z",
                "client_id": "key_01JDX0000000000000000CRM00",
            },
        )
    ]


def test_a_consent_withdrawn_names_the_key_that_withdrew_it():
    ((detail_type, detail),) = details(contact_change(5))
    assert detail_type == "contact.consent_withdrawn"
    assert detail["number_id"] == "100004"
    assert detail["client_id"] == "admin"


def test_a_consent_write_that_changes_no_scope_publishes_nothing():
    record = copy.deepcopy(contact_change(4))
    record["eventName"] = "MODIFY"
    record["dynamodb"]["OldImage"] = copy.deepcopy(record["dynamodb"]["NewImage"])
    assert entries(record) == []


def test_an_opt_in_without_a_write_time_is_dated_now():
    record = copy.deepcopy(contact_change(3))
    del record["dynamodb"]["ApproximateCreationDateTime"]
    now = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)

    (entry,) = entries(record, now=now)

    assert json.loads(entry["Detail"])["at"] == "2026-11-27T10:30:00.000Z"
    assert entry["Time"] == now


def test_a_modified_opt_out_publishes_nothing():
    record = copy.deepcopy(contact_change(0))
    record["eventName"] = "MODIFY"
    record["dynamodb"]["OldImage"] = record["dynamodb"]["NewImage"]

    assert entries(record) == []


@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY", "REMOVE"])
@pytest.mark.parametrize("sort_key", ["conversation#100004", "consent#marketing"])
def test_other_contact_items_publish_nothing(event_name, sort_key):
    image = {
        "contact": {"S": "+33612345679"},
        "sk": {"S": sort_key},
        "last_inbound_at": {"S": "2026-11-26T09:00:00.000Z"},
    }
    record = stream_record(
        event_name,
        new=None if event_name == "REMOVE" else image,
        old=None if event_name == "INSERT" else image,
        arn=CONTACTS_ARN,
        keys={"contact": image["contact"], "sk": image["sk"]},
    )

    assert entries(record) == []


# ------------------------------------------------------------------------------------------ tables and entries


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:dynamodb:eu-west-1:123456789012:table/LedgerTable/stream/2026-11-26T09:00:00.000",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/MessagesTableOld/stream/2026-11-26T09:00:00.000",
        "arn:aws:kinesis:eu-west-1:123456789012:stream/MessagesTable",
        "",
    ],
)
def test_a_record_from_another_table_publishes_nothing(arn):
    record = stream_record("INSERT", new=outbound("unknown", ["unknown"]), arn=arn)

    assert streams.source_table(record) is None
    assert entries(record) == []


def test_tables_are_told_apart_by_the_names_in_the_settings(monkeypatch):
    monkeypatch.setenv("MESSAGES_TABLE", "gateway-prod-MessagesTable-1A2B3C")
    get_settings.cache_clear()
    arn = (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/gateway-prod-MessagesTable-1A2B3C/stream/2026-11-26T09:00:00.000"
    )

    assert streams.source_table({"eventSourceARN": arn}) == "messages"
    assert streams.source_table({"eventSourceARN": MESSAGES_ARN}) is None
    assert streams.source_table({"eventSourceARN": CONTACTS_ARN}) == "contacts"


def test_table_names_are_read_from_stream_and_table_arns():
    assert streams.table_name(MESSAGES_ARN) == "MessagesTable"
    assert streams.table_name("arn:aws:dynamodb:eu-west-1:123456789012:table/ContactsTable") == "ContactsTable"
    assert streams.table_name("arn:aws:sqs:eu-west-1:123456789012:queue") is None
    assert streams.table_name("not an arn") is None


def test_entries_name_the_source_the_bus_and_the_time_of_the_change(monkeypatch):
    monkeypatch.setenv("EVENT_BUS_NAME", "gateway-prod-aircall-sms")
    get_settings.cache_clear()

    (entry,) = entries(archive(0))

    assert entry["Source"] == "aircall-sms"
    assert entry["EventBusName"] == "gateway-prod-aircall-sms"
    assert entry["DetailType"] == "message.received"
    assert entry["Time"] == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert ": " not in entry["Detail"] and "Bonjour, mon rendez-vous" in entry["Detail"]  # compact, UTF-8


def test_without_a_configured_bus_the_default_bus_is_used(monkeypatch):
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    get_settings.cache_clear()

    assert {entry["EventBusName"] for entry in entries(archive(0))} == {"default"}


def test_a_write_time_from_a_boto3_client_is_a_datetime_already():
    record = copy.deepcopy(archive(0))
    record["dynamodb"]["ApproximateCreationDateTime"] = datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)

    (entry,) = entries(record)

    assert entry["Time"] == datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)


def test_an_erasure_event_carries_who_erased_and_never_the_contact():
    erasure = {"erasure_id": "era_1", "client_id": "admin", "at": "2026-11-26T09:30:00.000Z", "number_ids": None}
    detail_type, detail = events.erasure_event(erasure)
    assert detail_type == "contact.erased"
    assert detail == erasure


def test_the_eight_detail_types():
    assert events.DETAIL_TYPES == (
        "message.received",
        "message.status_changed",
        "contact.opted_out",
        "contact.opted_in",
        "contact.help_requested",
        "contact.consent_recorded",
        "contact.consent_withdrawn",
        "contact.erased",
    )
