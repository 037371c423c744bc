"""Events out through the local stack: changes written to the emulator's tables reach the EventsFunction through
the stream pollers, and what it publishes on the template's bus is readable from `published_events()` and
`GET /_local/events`."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import httpx
import pytest

from aircall_sms.store import contacts
from aircall_sms.store.messages import MessageRecord, change
from local_stack.stack import LocalStack
from tests.support import reset_gateway_caches

pytestmark = pytest.mark.integration

BUS = "aircall-sms-gateway-local-aircall-sms"
AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack():
    reset_gateway_caches()
    with LocalStack(dynamodb_port=0, aircall_port=0, api_port=0) as running:
        reset_gateway_caches()
        yield running
    reset_gateway_caches()


def inbound(message_id: str, contact: str, text: str, keyword: str | None = None) -> MessageRecord:
    return MessageRecord(
        id=message_id,
        aircall_id=f"SM-{message_id}",
        number_id="100004",
        sender=contact,
        recipient="+33612345670",
        contact=contact,
        direction="inbound",
        text=text,
        media_urls=[],
        segments=1,
        encoding="GSM-7",
        status="received",
        status_history=[change("received", AT, "callback", "message.received")],
        created_at="2026-11-26T09:00:00.000Z",
        updated_at="2026-11-26T09:00:00.100Z",
        keyword=keyword,
    )


def events_about(events, contact):
    return [event for event in events if contact in str(event["detail"])]


def test_the_bus_exists_under_the_name_the_functions_get(stack):
    buses = {bus["Name"] for bus in stack.client("events").list_event_buses()["EventBuses"]}

    assert BUS in buses
    assert os.environ["EVENT_BUS_NAME"] == BUS


def test_an_inbound_message_and_an_opt_out_are_published_in_order(stack):
    # Given an inbound HELP message archived and the contact opting out of every number, then back in
    contact = "+33612345601"
    message = inbound("msg_in_events_1", contact, "HELP", keyword="help")
    stack.client("dynamodb").put_item(TableName=stack.tables["MessagesTable"], Item=message.serialize())
    contacts.opt_out(contact, number_id=None, at=AT, source="api", detail="asked by phone", client_id="key_crm")
    contacts.opt_in(contact, number_id=None, removed_by="admin", at=AT)

    # When the stream pollers have handed every change to the EventsFunction
    stack.drain_streams(10)
    published = events_about(stack.published_events(), contact)

    # Then the message and the opt-out are on the bus with the contract's details
    assert {event["source"] for event in published} == {"aircall-sms"}
    by_type = {event["detail_type"]: event["detail"] for event in published}
    assert sorted(by_type) == [
        "contact.help_requested",
        "contact.opted_in",
        "contact.opted_out",
        "message.received",
    ]
    assert by_type["message.received"] == {"message": message.to_api()}
    assert by_type["contact.help_requested"] == {
        "contact": contact,
        "number_id": "100004",
        "message_id": "msg_in_events_1",
        "at": "2026-11-26T09:00:00.000Z",
    }
    assert by_type["contact.opted_out"] == {
        "contact": contact,
        "number_id": None,
        "at": "2026-11-26T09:00:00.000Z",
        "source": "api",
        "detail": "asked by phone",
        "client_id": "key_crm",  # the key that recorded it
    }
    assert by_type["contact.opted_in"]["number_id"] is None
    assert by_type["contact.opted_in"]["source"] == "api"
    assert by_type["contact.opted_in"]["client_id"] == "admin"  # the key that removed it
    # Each table's events keep their order (the two streams are read side by side)
    contact_types = [event["detail_type"] for event in published if event["detail_type"].startswith("contact.opted")]
    assert contact_types == ["contact.opted_out", "contact.opted_in"]


def test_a_stop_keyword_opt_out_is_published_once(stack):
    # The gateway's STOP path creates the opt-out with an UpdateItem, which moto records as two INSERTs.
    contact = "+33612345602"
    client = stack.client("dynamodb")
    client.update_item(
        TableName=stack.tables["ContactsTable"],
        Key={"contact": {"S": contact}, "sk": {"S": "optout#100004"}},
        UpdateExpression="SET #scope = :scope, #at = :at, #source = :source",
        ExpressionAttributeNames={"#scope": "scope", "#at": "at", "#source": "source"},
        ExpressionAttributeValues={
            ":scope": {"S": "100004"},
            ":at": {"S": "2026-11-26T09:05:00.000Z"},
            ":source": {"S": "keyword"},
        },
    )

    stack.drain_streams(10)

    published = events_about(stack.published_events(), contact)
    assert [(event["detail_type"], event["detail"]["at"], event["detail"]["source"]) for event in published] == [
        ("contact.opted_out", "2026-11-26T09:05:00.000Z", "keyword")
    ]


def test_changes_that_are_not_news_publish_nothing(stack):
    contact = "+33612345603"
    contacts.record_inbound(contact, number_id="100004", at=AT, message_id="msg_in_events_3")
    stack.client("dynamodb").put_item(
        TableName=stack.tables["MessagesTable"],
        Item=inbound("msg_in_events_3", contact, "Merci").serialize(),
    )
    stack.client("dynamodb").delete_item(TableName=stack.tables["MessagesTable"], Key={"id": {"S": "msg_in_events_3"}})

    stack.drain_streams(10)

    assert [event["detail_type"] for event in events_about(stack.published_events(), contact)] == ["message.received"]


def test_get_local_events_answers_the_published_events_without_an_api_key(stack):
    contact = "+33612345604"
    contacts.opt_out(contact, number_id="100004", at=AT, source="api")

    answer = httpx.get(f"{stack.api_url}/_local/events", timeout=15)

    assert answer.status_code == 200
    events = answer.json()["events"]
    assert events == stack.published_events()
    assert [event["detail_type"] for event in events_about(events, contact)] == ["contact.opted_out"]


def test_other_methods_on_the_local_route_are_not_routes(stack):
    answer = httpx.post(f"{stack.api_url}/_local/events", timeout=15)

    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")  # the template's answer
