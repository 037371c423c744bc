"""The variants of what the sandbox posts, one switch at a time: the envelope of proxy callbacks (event key,
status event name, `resource`, timestamp unit), and the message object of every callback and webhook (contact
fields, timestamp unit, inbound media field names, status words)."""

import re
from datetime import datetime

import pytest

US_LOCAL = 100001
RECIPIENT = "+14155550100"
STANDARD_WORDS = {"pending", "sent", "delivered", "failed", "received"}
MEDIA = [{"file_name": "a.jpg", "file_type": "image/jpeg", "presigned_url": "https://example.com/a.jpg"}]


def configure(running, receiver):
    running.api.post(f"/v1/numbers/{US_LOCAL}/messages/configuration", json={"callbackUrl": receiver.url})


def status_callbacks(running, receiver, count=2, **send):
    configure(running, receiver)
    response = running.api.post(f"/v1/numbers/{US_LOCAL}/messages/send", json={"to": RECIPIENT, "body": "hi"} | send)
    assert response.status_code == 200
    return receiver.wait_for(count)


def inbound_callback(running, receiver, **inbound):
    """The `message.received` callback of a new inbound message (posted synchronously by the control)."""
    configure(running, receiver)
    before = len(receiver.received)
    running.control.post("/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "YES"} | inbound)
    callback = receiver.wait_for(before + 1)[-1]
    assert callback["event"] == "message.received"
    return callback


# ------------------------------------------------------------------------------------------------ envelope
def test_the_event_key_override_names_a_webhook_style_event_event_name(start_sandbox, receiver):
    running = start_sandbox(callback_event_key="event_name")

    sent, _ = status_callbacks(running, receiver)

    assert sent["event_name"] == "message.status_updated"
    assert "event" not in sent


def test_the_event_key_override_names_a_callback_style_event_event(start_sandbox, receiver):
    running = start_sandbox(callback_style="callback", callback_event_key="event")

    sent, _ = status_callbacks(running, receiver)

    assert sent["event"] == "message.updated"
    assert "event_name" not in sent


def test_the_status_event_override_renames_status_events(start_sandbox, receiver):
    running = start_sandbox(callback_status_event="message.updated")

    sent, delivered = status_callbacks(running, receiver)

    assert sent["event"] == delivered["event"] == "message.updated"


def test_the_status_event_override_leaves_received_events_alone(start_sandbox, receiver):
    running = start_sandbox(callback_status_event="message.updated")

    assert inbound_callback(running, receiver)["event"] == "message.received"


def test_the_resource_field_can_be_omitted(start_sandbox, receiver):
    running = start_sandbox(callback_resource="omit")

    sent, _ = status_callbacks(running, receiver)

    assert set(sent) == {"event", "timestamp", "token", "data"}


def test_the_resource_field_can_be_forced_on_callback_style(start_sandbox, receiver):
    running = start_sandbox(callback_style="callback", callback_resource="include")

    sent, _ = status_callbacks(running, receiver)

    assert sent["resource"] == "message"


@pytest.mark.parametrize(
    ("unit", "check"),
    [
        ("seconds", lambda value: isinstance(value, int) and 10**9 < value < 10**11),
        ("milliseconds", lambda value: isinstance(value, int) and 10**12 < value < 10**14),
        ("iso8601", lambda value: re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value) is not None),
    ],
)
def test_the_envelope_timestamp_comes_in_the_chosen_unit(start_sandbox, receiver, unit, check):
    running = start_sandbox(callback_timestamp=unit)

    sent, _ = status_callbacks(running, receiver)

    assert check(sent["timestamp"]), sent["timestamp"]


def test_an_iso8601_envelope_timestamp_is_the_sandbox_clock_in_utc(start_sandbox, receiver):
    running = start_sandbox(callback_timestamp="iso8601")
    running.control.post("/_sandbox/clock", json={"set": "2030-01-02T03:04:05Z"})

    sent, _ = status_callbacks(running, receiver)

    moment = datetime.fromisoformat(sent["timestamp"].replace("Z", "+00:00"))
    assert abs(moment.timestamp() - 1_893_553_445) < 5


def test_account_webhooks_keep_the_webhook_envelope_whatever_the_overrides(start_sandbox, receiver):
    running = start_sandbox(
        callback_style="callback",
        callback_event_key="event_name",
        callback_resource="omit",
        callback_timestamp="iso8601",
    )
    running.control.post("/_sandbox/webhook", json={"url": receiver.url, "token": "webhook-token"})

    running.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})

    sent, delivered = receiver.wait_for(2)
    assert set(sent) == {"resource", "event", "timestamp", "token", "data"}
    assert (sent["event"], delivered["event"]) == ("message.sent", "message.status_updated")
    assert isinstance(sent["timestamp"], int)


# ------------------------------------------------------------------------------------------------ contact fields
def test_the_both_style_gives_the_contact_as_external_number_and_raw_digits(start_sandbox, receiver):
    running = start_sandbox(contact_style="both")

    sent, _ = status_callbacks(running, receiver)

    assert (sent["data"]["external_number"], sent["data"]["raw_digits"]) == (RECIPIENT, "14155550100")


def test_by_default_the_contact_comes_only_as_digits_without_plus(sandbox, receiver):
    running = sandbox

    sent, _ = status_callbacks(running, receiver)
    received = inbound_callback(running, receiver)

    for data in (sent["data"], received["data"]):
        assert data["raw_digits"] == "14155550100"
        assert "external_number" not in data
        assert "to" not in data


def test_the_external_number_style_gives_the_contact_only_in_e164(start_sandbox, receiver):
    running = start_sandbox(contact_style="external_number")

    sent, _ = status_callbacks(running, receiver)

    assert sent["data"]["external_number"] == RECIPIENT
    assert "raw_digits" not in sent["data"]


def test_the_control_view_keeps_every_contact_field_whatever_the_style(start_sandbox, receiver):
    running = start_sandbox(contact_style="raw_digits")
    status_callbacks(running, receiver)

    [message] = running.control.get("/_sandbox/messages").json()["messages"]

    assert (message["external_number"], message["raw_digits"]) == (RECIPIENT, "14155550100")


# ------------------------------------------------------------------------------------------------ data timestamps
def test_data_timestamps_are_epoch_milliseconds_by_default(sandbox, receiver):
    sent, _ = status_callbacks(sandbox, receiver)

    assert all(
        isinstance(sent["data"][name], int) and sent["data"][name] > 10**12 for name in ("created_at", "sent_at")
    )


def test_data_timestamps_can_be_unix_seconds(start_sandbox, receiver):
    running = start_sandbox(data_timestamps="seconds")

    sent, _ = status_callbacks(running, receiver)

    assert all(10**9 < sent["data"][name] < 10**11 for name in ("created_at", "sent_at", "updated_at"))


def test_data_timestamps_can_be_iso8601_and_an_absent_sent_at_stays_null(start_sandbox, receiver):
    running = start_sandbox(data_timestamps="iso8601")

    received = inbound_callback(running, receiver)

    assert received["data"]["created_at"].endswith("Z")
    datetime.fromisoformat(received["data"]["updated_at"].replace("Z", "+00:00"))
    assert received["data"]["sent_at"] is None


# ------------------------------------------------------------------------------------------------ inbound media
def test_inbound_media_comes_as_media_details_by_default(sandbox, receiver):
    data = inbound_callback(sandbox, receiver, media_details=MEDIA)["data"]

    assert data["media_details"] == MEDIA
    assert "media_url" not in data


def test_inbound_media_can_come_as_plain_media_url(start_sandbox, receiver):
    running = start_sandbox(inbound_media="media_url")

    data = inbound_callback(running, receiver, media_details=MEDIA)["data"]

    assert data["media_url"] == ["https://example.com/a.jpg"]
    assert "media_details" not in data


def test_inbound_media_can_come_under_both_names(start_sandbox, receiver):
    running = start_sandbox(inbound_media="both")

    data = inbound_callback(running, receiver, media_details=MEDIA)["data"]

    assert (data["media_details"], data["media_url"]) == (MEDIA, ["https://example.com/a.jpg"])


def test_the_inbound_control_answers_the_message_as_it_was_posted(start_sandbox, receiver):
    running = start_sandbox(inbound_media="media_url", contact_style="raw_digits")
    configure(running, receiver)

    outcome = running.control.post(
        "/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "YES", "media_details": MEDIA}
    ).json()

    assert outcome["message"] == receiver.wait_for(1)[0]["data"]


# ------------------------------------------------------------------------------------------------ status words
def test_the_unknown_final_mode_ends_a_message_with_a_word_outside_the_standard_ones(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_final")

    sent, final = status_callbacks(running, receiver)

    assert sent["data"]["status"] == "sent"
    assert final["event"] == "message.status_updated"
    assert final["data"]["status"] not in STANDARD_WORDS
    running.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 5})
    assert len(receiver.received) == 2


def test_the_unknown_extra_mode_announces_an_unknown_word_before_the_final_status(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_extra")

    statuses = [callback["data"]["status"] for callback in status_callbacks(running, receiver, count=3)]

    assert statuses[0] == "sent"
    assert statuses[1] not in STANDARD_WORDS
    assert statuses[2] == "delivered"


def test_the_unknown_extra_mode_keeps_a_scheduled_failure(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_extra")
    running.control.post("/_sandbox/failures", json={"next": 1})

    statuses = [callback["data"]["status"] for callback in status_callbacks(running, receiver, count=3)]

    assert statuses[2] == "failed"


def test_a_configured_unknown_word_is_used_as_it_is(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_final", unknown_status_word="undelivered")

    _, final = status_callbacks(running, receiver)

    assert final["data"]["status"] == "undelivered"


def test_without_a_configured_word_each_message_gets_a_fresh_unknown_word(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_final")
    configure(running, receiver)
    for _ in range(2):
        running.api.post(f"/v1/numbers/{US_LOCAL}/messages/send", json={"to": RECIPIENT, "body": "hi"})

    words = {callback["data"]["status"] for callback in receiver.wait_for(4)} - {"sent"}

    assert len(words) == 2


def test_the_unknown_word_is_the_messages_status_in_the_control_view(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_final", unknown_status_word="accepted")
    status_callbacks(running, receiver)
    running.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 5})

    [message] = running.control.get("/_sandbox/messages").json()["messages"]

    assert message["status"] == "accepted"
    assert [step["status"] for step in message["sandbox"]["status_history"]] == ["pending", "sent", "accepted"]


def test_an_unknown_status_word_reaches_the_account_webhook_too(start_sandbox, receiver):
    running = start_sandbox(status_words="unknown_final", unknown_status_word="carrier_hold")
    running.control.post("/_sandbox/webhook", json={"url": receiver.url})

    running.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})

    _, final = receiver.wait_for(2)
    assert (final["event"], final["data"]["status"]) == ("message.status_updated", "carrier_hold")
