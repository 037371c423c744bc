"""What one archive change counts in the monthly usage (each counter counts something that happens at most once
to a message), the report built from the counters, and the UsageFunction's answer to a stream batch."""

from datetime import UTC, datetime

import pytest

from aircall_sms.domain.prices import PriceTable
from aircall_sms.domain.usage_counts import Counts, counts_of, report_item
from aircall_sms.store import month_counters
from aircall_sms.store.messages import MessageRecord, change
from tests.support import FakeContext, load_event, load_handler

MESSAGES_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/MessagesTable/stream/2026-11-26T09:00:00.000"
AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def country(contact):
    return {"+33": "FR", "+1": "US"}[contact[:3] if contact.startswith("+33") else contact[:2]]


def image(status, *, direction="outbound", aircall_id=None, history=(), segments=2, updated="2026-11-26T09:00:01.000Z"):
    return MessageRecord(
        id="msg_1",
        aircall_id=aircall_id,
        number_id="100005",
        sender="+33186954210",
        recipient="+33612345679",
        contact="+33612345679",
        direction=direction,
        text="x",
        segments=segments,
        status=status,
        status_history=[change(step, AT, "test") for step in (*history, status)],
        created_at="2026-11-26T09:00:00.000Z",
        updated_at=updated,
    ).serialize()


def record(event_name, new=None, old=None, sequence="1"):
    change_ = {"SequenceNumber": sequence, "Keys": {"id": {"S": "msg_1"}}}
    if new is not None:
        change_["NewImage"] = new
    if old is not None:
        change_["OldImage"] = old
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventSourceARN": MESSAGES_ARN,
        "dynamodb": change_,
    }


def increments(stream_record):
    counted = counts_of(stream_record, country)
    return counted.increments if counted else {}


def test_an_outbound_message_counts_once_aircall_took_it_by_the_contacts_country():
    accepted = record("MODIFY", image("queued", aircall_id="SM1", history=["unknown"]), image("unknown"))

    assert counts_of(accepted, country) == Counts(
        number_id="100005",
        month="2026-11",
        increments={"outbound_messages": 1, "outbound_segments": 2, "segments#outbound#FR": 2},
    )


def test_later_moves_of_an_accepted_message_count_nothing_but_a_failure():
    sent = image("sent", aircall_id="SM1", history=["unknown", "queued"])
    queued = image("queued", aircall_id="SM1", history=["unknown"])
    failed = image("failed", aircall_id="SM1", history=["unknown", "queued", "sent"])

    assert increments(record("MODIFY", sent, queued)) == {}
    assert increments(record("MODIFY", failed, sent)) == {"failed": 1}
    assert increments(record("MODIFY", failed, failed)) == {}


def test_a_message_archived_unknown_counts_nothing_until_its_outcome_is_known():
    assert increments(record("INSERT", image("unknown"))) == {}


def test_an_inbound_message_counts_when_archived_and_a_message_is_at_least_one_segment():
    received = image("received", direction="inbound", aircall_id="SM2", segments=0)

    assert increments(record("INSERT", received)) == {
        "inbound_messages": 1,
        "inbound_segments": 1,
        "segments#inbound#FR": 1,
    }


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        (image("rejected"), None, {"rejected": 1}),
        (image("deferred"), None, {"deferred": 1}),
        (image("rejected", history=["deferred"]), image("deferred"), {"rejected": 1}),
        (image("expired", history=["deferred"]), image("deferred"), {"expired": 1}),
        (image("failed", history=["unknown"]), image("unknown"), {"failed": 1}),
        # back in the queue after Aircall's 429: it had waited already
        (image("deferred", history=["deferred", "unknown"]), image("unknown", history=["deferred"]), {}),
    ],
)
def test_outcomes_count_when_a_message_reaches_them(new, old, expected):
    assert increments(record("INSERT" if old is None else "MODIFY", new, old)) == expected


def test_a_change_counts_in_the_utc_month_it_happened():
    insert = record("INSERT", image("deferred", updated="2026-12-01T00:00:00.000Z"))
    expiry = record(
        "MODIFY",
        image("expired", history=["deferred"], updated="2026-12-01T00:00:00.000Z"),
        image("deferred"),
    )

    assert counts_of(insert, country) == Counts("100005", "2026-11", {"deferred": 1})  # created_at
    assert counts_of(expiry, country) == Counts("100005", "2026-12", {"expired": 1})  # updated_at


def test_removals_count_nothing_usage_is_history():
    assert counts_of(record("REMOVE", old=image("delivered", aircall_id="SM1")), country) is None


def test_the_report_lists_every_counter_and_estimates_the_cost_by_country():
    prices = PriceTable.from_json('{"currency": "EUR", "countries": {"FR": {"outbound": 0.07, "inbound": 0.01}}}')
    counters = {
        "outbound_messages": 3,
        "outbound_segments": 4,
        "segments#outbound#FR": 3,
        "segments#outbound#BE": 1,
        "inbound_messages": 2,
        "inbound_segments": 2,
        "segments#inbound#FR": 2,
        "rejected": 1,
    }

    item = report_item("100005", counters, prices)

    assert item == {
        "number_id": 100005,
        "outbound": {"messages": 3, "segments": 4, "segments_by_country": {"BE": 1, "FR": 3}},
        "inbound": {"messages": 2, "segments": 2, "segments_by_country": {"FR": 2}},
        "rejected": 1,
        "deferred": 0,
        "expired": 0,
        "failed": 0,
        "media": {"files": 0, "bytes": 0},
        "estimated_cost": {
            "currency": "EUR",
            "outbound": 0.21,
            "inbound": 0.02,
            "total": 0.23,
            "unpriced_segments": 1,
        },
    }
    assert report_item("100005", {}, None)["estimated_cost"] is None


# ------------------------------------------------------------------------------------------------ the function
@pytest.fixture
def counted(monkeypatch):
    """count_once replaced by a list: (event id, counts); `fail_on` event ids raise."""
    calls = []
    fail_on: set[str] = set()

    def count_once(event_id, counts, now):
        if event_id in fail_on:
            raise ConnectionError("DynamoDB unreachable")
        calls.append((event_id, counts))
        return True

    monkeypatch.setattr(month_counters, "count_once", count_once)
    return calls, fail_on


def test_the_usage_function_counts_the_sample_batch(counted):
    calls, _ = counted
    answer = load_handler("usage").lambda_handler(load_event("usage_archive_changes"), FakeContext())

    assert answer == {"batchItemFailures": []}
    # two inbound messages archived, one outbound message taken by Aircall; the rest counts nothing
    assert [sorted(counts.increments) for _, counts in calls] == [
        ["inbound_messages", "inbound_segments", "segments#inbound#FR"],
        ["inbound_messages", "inbound_segments", "segments#inbound#FR"],
        ["outbound_messages", "outbound_segments", "segments#outbound#FR"],
    ]


def test_a_record_that_cannot_be_counted_is_retried_with_every_later_one(counted):
    _, fail_on = counted
    event = load_event("usage_archive_changes")
    fail_on.add(event["Records"][1]["eventID"])

    answer = load_handler("usage").lambda_handler(event, FakeContext())

    assert answer == {
        "batchItemFailures": [
            {"itemIdentifier": record["dynamodb"]["SequenceNumber"]} for record in event["Records"][1:]
        ]
    }


def test_records_of_another_table_count_nothing(counted):
    calls, _ = counted
    event = load_event("usage_archive_changes")
    for stream_record in event["Records"]:
        stream_record["eventSourceARN"] = MESSAGES_ARN.replace("MessagesTable", "OtherTable")

    assert load_handler("usage").lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert calls == []
