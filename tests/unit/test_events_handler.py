"""The EventsFunction: stream batches to PutEvents calls of at most 10 entries and 256 KiB, and the records to retry
(`batchItemFailures`) when a record cannot be mapped or EventBridge refuses or fails."""

import copy
import json
from datetime import UTC, datetime

import pytest

from aircall_sms.store.messages import MessageRecord, change
from aircall_sms.use_cases import publish_events, services
from tests.support import FakeContext, load_event, load_handler

MESSAGES_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/MessagesTable/stream/2026-11-26T09:00:00.000"


class FakeEventBridge:
    """Records PutEvents calls; `refuse` holds the DetailType+message ids to refuse, `fail_calls` the call numbers
    (1-based) that raise."""

    def __init__(self, refuse=(), fail_calls=()):
        self.calls = []
        self.refuse = set(refuse)
        self.fail_calls = set(fail_calls)

    def put_events(self, Entries):  # noqa: N803 - boto3 spells it so
        self.calls.append(copy.deepcopy(Entries))
        if len(self.calls) in self.fail_calls:
            raise ConnectionError("EventBridge unreachable")
        assert len(Entries) <= 10
        # EventBridge refuses a whole request over 256 KiB (ValidationException), its entries counted so:
        assert sum(aws_entry_size(entry) for entry in Entries) <= 256 * 1024, "PutEvents request over 256 KiB"
        results = []
        for entry in Entries:
            if message_id(entry) in self.refuse:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": f"event-{len(self.calls)}-{len(results)}"})
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedEntryCount": failed, "Entries": results}

    @property
    def published(self):
        return [message_id(entry) for call in self.calls for entry in call]


def aws_entry_size(entry):
    """EventBridge's own rule ("Calculating PutEvents event entry size"), written out independently here."""
    size = 14 if entry.get("Time") else 0
    size += len(entry["Source"].encode()) + len(entry["DetailType"].encode())
    size += len(entry.get("Detail", "").encode())
    return size + sum(len(resource.encode()) for resource in entry.get("Resources", []))


def message_id(entry):
    return (json.loads(entry["Detail"]).get("message") or {}).get("id")


@pytest.fixture
def event_bridge(monkeypatch):
    fake = FakeEventBridge()
    monkeypatch.setattr(services, "event_bridge", lambda: fake)
    return fake


def outbound_insert(index, text="Your parcel is on its way."):
    message = MessageRecord(
        id=f"msg_{index:02d}",
        number_id="100005",
        sender="+14155550100",
        recipient="+14155550123",
        contact="+14155550123",
        direction="outbound",
        text=text,
        status="unknown",
        status_history=[change("unknown", datetime(2026, 11, 26, 9, 0, tzinfo=UTC), "gateway")],
        created_at="2026-11-26T09:00:00.000Z",
        updated_at="2026-11-26T09:00:00.000Z",
    )
    return {
        "eventName": "INSERT",
        "eventSourceARN": MESSAGES_ARN,
        "dynamodb": {
            "ApproximateCreationDateTime": 1795683600,
            "Keys": {"id": {"S": message.id}},
            "NewImage": message.serialize(),
            "SequenceNumber": f"{1000 + index}",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def handle(records):
    return load_handler("events").lambda_handler({"Records": records}, FakeContext())


def sequence_numbers(indexes):
    return [{"itemIdentifier": f"{1000 + index}"} for index in indexes]


def test_every_record_published_leaves_nothing_to_retry(event_bridge):
    answer = handle([outbound_insert(index) for index in range(12)])

    assert answer == {"batchItemFailures": []}
    assert [len(call) for call in event_bridge.calls] == [10, 2]
    assert event_bridge.published == [f"msg_{index:02d}" for index in range(12)]


def test_calls_are_cut_by_bytes_as_eventbridge_counts_them_as_well_as_by_count(event_bridge):
    # 20,000 "é" are 20,000 characters but 40,000 UTF-8 bytes: ten such entries fit 256 Ki characters, not bytes.
    records = [outbound_insert(index, text="é" * 20_000) for index in range(10)]

    answer = handle(records)

    assert answer == {"batchItemFailures": []}
    assert [len(call) for call in event_bridge.calls] == [6, 4]
    assert event_bridge.published == [f"msg_{index:02d}" for index in range(10)]


def test_an_entry_is_sized_as_eventbridge_sizes_it():
    entry = {
        "Source": "aircall-sms",
        "EventBusName": "a-bus-name-that-does-not-count",
        "DetailType": "message.sent",
        "Detail": '{"text":"é"}',
        "Time": datetime(2026, 11, 26, tzinfo=UTC),
        "Resources": ["arn:aws:x"],
    }
    assert publish_events.entry_size(entry) == aws_entry_size(entry) == 14 + 11 + 12 + 13 + 9
    assert publish_events.entry_size({**entry, "Time": None}) == aws_entry_size(entry) - 14


def test_an_entry_too_large_for_any_request_goes_alone_and_its_neighbours_still_share_calls():
    small = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    huge = {"Source": "s", "DetailType": "d", "Detail": "x" * (256 * 1024)}
    pending = [(0, small), (1, huge), (2, small), (3, small)]

    assert [[index for index, _ in call] for call in publish_events.calls(pending)] == [[0], [1], [2, 3]]


def test_entries_of_several_records_share_a_call(event_bridge):
    samples = load_event("events_archive_changes")["Records"] + load_event("events_contact_changes")["Records"]

    answer = handle(samples)

    assert answer == {"batchItemFailures": []}
    assert [len(call) for call in event_bridge.calls] == [10]
    assert [entry["DetailType"] for entry in event_bridge.calls[0]] == [
        "message.received",
        "message.received",
        "contact.help_requested",
        "message.status_changed",
        "message.status_changed",
        "contact.opted_out",
        "contact.opted_out",
        "contact.opted_in",
        "contact.consent_recorded",
        "contact.consent_withdrawn",
    ]


def test_a_batch_that_publishes_nothing_never_creates_the_client(monkeypatch):
    def no_client():
        raise AssertionError("no entry, no EventBridge client")

    monkeypatch.setattr(services, "event_bridge", no_client)
    records = load_event("events_archive_changes")["Records"][4:]  # a MODIFY keeping the status, a REMOVE

    assert handle(records) == {"batchItemFailures": []}


def test_a_refused_entry_fails_its_record_and_every_later_one(event_bridge):
    # Given EventBridge refusing the event of the 4th record
    event_bridge.refuse = {"msg_03"}

    answer = handle([outbound_insert(index) for index in range(15)])

    # Then Lambda retries from that record (it retries from the lowest sequence number anyway), and the later
    # calls were not made: they would be published twice
    assert answer == {"batchItemFailures": sequence_numbers(range(3, 15))}
    assert len(event_bridge.calls) == 1


def test_a_refusal_in_a_later_call_keeps_the_earlier_calls_published(event_bridge):
    event_bridge.refuse = {"msg_12"}

    answer = handle([outbound_insert(index) for index in range(25)])

    assert answer == {"batchItemFailures": sequence_numbers(range(12, 25))}
    assert [len(call) for call in event_bridge.calls] == [10, 10]


def test_a_failed_call_fails_all_its_records_and_the_later_ones(event_bridge):
    event_bridge.fail_calls = {2}

    answer = handle([outbound_insert(index) for index in range(25)])

    assert answer == {"batchItemFailures": sequence_numbers(range(10, 25))}
    assert len(event_bridge.calls) == 2


def test_a_record_that_cannot_be_mapped_fails_from_there_and_the_earlier_ones_are_published(event_bridge, caplog):
    records = [outbound_insert(index) for index in range(4)]
    del records[2]["dynamodb"]["NewImage"]  # an INSERT without its image

    answer = handle(records)

    assert answer == {"batchItemFailures": sequence_numbers([2, 3])}
    assert event_bridge.published == ["msg_00", "msg_01"]
    (logged,) = [
        record for record in caplog.records if record.getMessage() == "stream record could not be mapped to events"
    ]
    assert (logged.sequence_number, logged.event_name, logged.table) == ("1002", "INSERT", "MessagesTable")
    # The record is named, not shown: no image (phone numbers, texts) reaches the log, masked or not.
    assert not any("4155550123" in str(vars(record)) for record in caplog.records)


def test_an_answer_without_a_result_for_an_entry_counts_it_as_refused(monkeypatch):
    class Truncating(FakeEventBridge):
        def put_events(self, Entries):  # noqa: N803 - boto3 spells it so
            answer = super().put_events(Entries)
            return {"FailedEntryCount": 0, "Entries": answer["Entries"][:-1]}

    monkeypatch.setattr(services, "event_bridge", lambda: Truncating())

    assert handle([outbound_insert(index) for index in range(3)]) == {"batchItemFailures": sequence_numbers([2])}


def test_metrics_count_published_and_failed_events(event_bridge, capsys):
    event_bridge.refuse = {"msg_01"}

    handle([outbound_insert(index) for index in range(3)])

    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics, "the handler flushes its metrics"
    assert (metrics[-1]["EventsPublished"], metrics[-1]["EventsFailed"]) == ([2.0], [1.0])


def test_an_empty_event_is_an_empty_answer(event_bridge):
    assert load_handler("events").lambda_handler({}, FakeContext()) == {"batchItemFailures": []}
    assert event_bridge.calls == []
