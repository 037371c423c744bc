"""The sandbox's answers and events parse as Aircall's objects, with an Aircall model written from the public
reference alone (`aircall_reference.py`), which forbids any field Aircall does not list."""

import json

import pytest

from tests.sandbox.aircall_reference import (
    Configuration,
    MessageCallback,
    MessageWebhook,
    NumberAnswer,
    NumberList,
    SentMessage,
)

SEED_IDS = (100001, 100002, 100003, 100004, 100005, 100006, 100007)
US_LOCAL = 100001
RECIPIENT = "+14155550100"


def configure(running, callback_url):
    return running.api.post(f"/v1/numbers/{US_LOCAL}/messages/configuration", json={"callbackUrl": callback_url})


@pytest.mark.parametrize("number_id", SEED_IDS)
def test_each_seed_number_parses_as_aircalls_number_object(api, number_id):
    response = api.get(f"/v1/numbers/{number_id}")

    number = NumberAnswer.model_validate_json(response.text).number

    assert number.id == number_id


def test_the_number_list_parses_as_aircalls_list_with_its_meta(api):
    listed = NumberList.model_validate_json(api.get("/v1/numbers", params={"per_page": 500}).text)

    assert [number.id for number in listed.numbers] == list(SEED_IDS)
    assert listed.meta.per_page == 50


def test_a_configuration_parses_as_aircalls_configuration(api):
    response = api.post(f"/v1/numbers/{US_LOCAL}/messages/configuration", json={"callbackUrl": "https://e.com/cb"})

    assert Configuration.model_validate_json(response.text).callbackUrl == "https://e.com/cb"


def test_a_proxy_send_answer_parses_as_aircalls_message_object(api):
    configure_answer = api.post(f"/v1/numbers/{US_LOCAL}/messages/configuration", json={})
    assert configure_answer.status_code == 200

    response = api.post(f"/v1/numbers/{US_LOCAL}/messages/send", json={"to": "+13023063029", "body": "hi"})

    sent = SentMessage.model_validate_json(response.text)
    assert (sent.status, sent.raw_digits) == ("pending", "13023063029")
    assert sent.number.time_zone == "America/Los_Angeles"


def test_an_mms_send_answer_parses_as_aircalls_message_object(api):
    response = api.post(
        f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "mediaUrl": ["https://e.com/a.png"]}
    )

    assert SentMessage.model_validate_json(response.text).media_url == ["https://e.com/a.png"]


def test_status_webhooks_parse_as_aircalls_message_events(sandbox, receiver):
    configure(sandbox, receiver.url)
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/send", json={"to": RECIPIENT, "body": "hi"})
    receiver.wait_for(2)

    events = [MessageWebhook.model_validate_json(item["body"]) for item in receiver.received]

    assert [event.data.status for event in events] == ["sent", "delivered"]
    assert {event.data.number.e164_digits for event in events} == {"+14244162288"}


def test_status_callbacks_in_callback_style_parse_as_aircalls_proxy_callbacks(start_sandbox, receiver):
    running = start_sandbox(callback_style="callback")
    configure(running, receiver.url)
    running.api.post(f"/v1/numbers/{US_LOCAL}/messages/send", json={"to": RECIPIENT, "body": "hi"})
    receiver.wait_for(2)

    events = [MessageCallback.model_validate_json(item["body"]) for item in receiver.received]

    assert [event.event_name for event in events] == ["message.updated", "message.updated"]


def test_an_inbound_mms_parses_as_aircalls_message_event(sandbox, receiver):
    configure(sandbox, receiver.url)
    media = [{"file_name": "a.jpg", "file_type": "image/jpeg", "presigned_url": "https://e.com/a.jpg"}]
    sandbox.control.post(
        "/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "look", "media_details": media}
    )
    receiver.wait_for(1)

    event = MessageWebhook.model_validate_json(receiver.received[0]["body"])

    assert (event.event, event.data.direction, event.data.sent_at) == ("message.received", "inbound", None)
    assert event.data.media_details[0].presigned_url == "https://e.com/a.jpg"


def test_the_reference_model_refuses_a_field_aircall_does_not_send(api):
    """The model is strict: the sandbox's own `sms_enabled` (shown by the controls) would not parse."""
    number = api.get(f"/v1/numbers/{US_LOCAL}").json()
    number["number"]["sms_enabled"] = True

    with pytest.raises(ValueError, match="sms_enabled"):
        NumberAnswer.model_validate_json(json.dumps(number))


def test_an_agent_mode_send_and_its_webhook_events_parse_as_aircalls_objects(sandbox, receiver):
    # Given an account webhook for the message events (agent mode reports through it, not a callback URL)
    events = ["message.sent", "message.status_updated", "message.received"]
    created = sandbox.api.post("/v1/webhooks", json={"url": receiver.url, "custom_name": "gw", "events": events})
    assert created.status_code == 201, created.text

    # When a number in agent conversation sends, and the contact replies
    response = sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})
    sandbox.control.post("/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "thanks"})
    assert sandbox.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 5}).json()["drained"]

    # Then the send answer is Aircall's Message object, with the whole nested Number (created_at, time_zone, ...)
    sent = SentMessage.model_validate_json(response.text)
    assert (sent.number.time_zone, sent.raw_digits) == ("America/Los_Angeles", RECIPIENT.lstrip("+"))
    # and every webhook event is Aircall's message event, its number with `e164_digits`
    parsed = [MessageWebhook.model_validate_json(item["body"]) for item in receiver.received]
    assert sorted(event.event for event in parsed) == sorted(events)
    assert {event.data.number.e164_digits for event in parsed} == {"+14244162288"}
