"""Sending: proxy (`/messages/send`, configured numbers) and agent conversation (`/messages/native/send`)."""

import re

import pytest

PROXY_SEND = "/v1/numbers/{}/messages/send"
NATIVE_SEND = "/v1/numbers/{}/messages/native/send"
US_RECIPIENT = "+14155550100"


@pytest.fixture
def configured(api):
    """Number 100001 in proxy mode (no callback URL: these tests look at answers, not callbacks)."""
    api.post("/v1/numbers/100001/messages/configuration", json={})
    return 100001


def test_a_proxy_send_answers_the_pending_message_at_top_level(sandbox, api, configured):
    response = api.post(PROXY_SEND.format(configured), json={"to": US_RECIPIENT, "body": "Your code is 1234"})

    assert response.status_code == 200
    message = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["id"])
    assert message["status"] == "pending"
    assert message["direction"] == "outbound"
    assert message["direct_link"] == f"{sandbox.url}/v1/numbers/100001/messages/{message['id']}"
    assert message["body"] == "Your code is 1234"
    assert message["raw_digits"] == "14155550100"
    assert message["media_url"] == []
    for stamp in ("created_at", "sent_at", "updated_at"):
        assert isinstance(message[stamp], int)
        assert message[stamp] > 1_600_000_000_000  # epoch milliseconds


def test_the_send_answer_carries_neither_to_nor_external_number(api, configured):
    message = api.post(PROXY_SEND.format(configured), json={"to": US_RECIPIENT, "body": "hi"}).json()

    assert "to" not in message
    assert "external_number" not in message


def test_the_compatibility_switch_adds_to_and_external_number_to_the_send_answer(start_sandbox):
    running = start_sandbox(send_response_contact=True)

    message = running.api.post(NATIVE_SEND.format(100001), json={"to": US_RECIPIENT, "body": "hi"}).json()

    assert message["to"] == message["external_number"] == US_RECIPIENT


def test_the_send_answer_embeds_the_whole_number_object(sandbox, api, configured):
    message = api.post(PROXY_SEND.format(configured), json={"to": US_RECIPIENT, "body": "hi"}).json()

    assert message["number"] == api.get("/v1/numbers/100001").json()["number"]
    assert message["number"]["time_zone"] == "America/Los_Angeles"
    assert message["number"]["created_at"] == "2024-03-04T09:12:45.000Z"


def test_timestamps_follow_the_sandbox_clock(api, control, configured):
    control.post("/_sandbox/clock", json={"set": "2030-01-02T03:04:05Z"})

    message = api.post(PROXY_SEND.format(configured), json={"to": US_RECIPIENT, "body": "hi"}).json()

    assert abs(message["created_at"] - 1_893_553_445_000) < 5_000


def test_a_native_send_works_on_an_unconfigured_number_and_takes_an_agent(api, control):
    response = api.post(NATIVE_SEND.format(100003), json={"to": "+15145550199", "body": "Bonjour", "agentId": 42})

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    [stored] = control.get("/_sandbox/messages").json()["messages"]
    assert stored["sandbox"]["route"] == "native"
    assert stored["sandbox"]["agent_id"] == 42


def test_a_proxy_send_on_an_unconfigured_number_is_line_is_not_native(api):
    response = api.post(PROXY_SEND.format(100001), json={"to": US_RECIPIENT, "body": "hi"})

    assert response.status_code == 403
    assert response.json()["key"] == "LineIsNotNativeException"


def test_a_native_send_on_a_configured_number_is_line_is_not_native(api, configured):
    response = api.post(NATIVE_SEND.format(configured), json={"to": US_RECIPIENT, "body": "hi"})

    assert response.status_code == 403
    assert response.json()["key"] == "LineIsNotNativeException"


@pytest.mark.parametrize(
    "payload",
    [
        {"body": "no recipient"},
        {"to": "4155550100", "body": "not E.164"},
        {"to": "+1 415 555 0100", "body": "spaces"},
        {"to": 14155550100, "body": "a number, not a string"},
        {"to": US_RECIPIENT},
        {"to": US_RECIPIENT, "body": ""},
        {"to": US_RECIPIENT, "body": 12},
        {"to": US_RECIPIENT, "body": "x" * 1601},
        {"to": US_RECIPIENT, "body": "hi", "agentId": "seven"},
    ],
    ids=["no-to", "national", "spaces", "int-to", "no-body", "empty-body", "int-body", "too-long", "agent-id"],
)
def test_an_invalid_payload_is_400_invalid_payload(api, payload):
    response = api.post(NATIVE_SEND.format(100001), json=payload)

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"
    assert response.json()["message"]


def test_a_body_that_is_not_json_is_invalid_payload(api):
    response = api.post(NATIVE_SEND.format(100001), content=b"to=+14155550100", headers={"Content-Type": "text/plain"})

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"


def test_1600_characters_is_the_longest_body(api, control):
    response = api.post(NATIVE_SEND.format(100001), json={"to": US_RECIPIENT, "body": "x" * 1600})

    assert response.status_code == 200
    [stored] = control.get("/_sandbox/messages").json()["messages"]
    assert stored["sandbox"]["segments"] == 11
    assert stored["sandbox"]["encoding"] == "GSM-7"


@pytest.mark.parametrize("field", ["mediaUrl", "media_url"])
def test_media_is_accepted_under_either_name_and_echoed_as_media_url(api, field):
    urls = ["https://example.com/a.png", "https://example.com/b.jpg"]

    response = api.post(NATIVE_SEND.format(100001), json={"to": US_RECIPIENT, field: urls})

    assert response.status_code == 200
    assert response.json()["media_url"] == urls
    assert response.json()["body"] == ""


@pytest.mark.parametrize(
    "media",
    [
        {"mediaUrl": ["https://example.com/a.png"], "media_url": ["https://example.com/a.png"]},
        {"mediaUrl": [f"https://example.com/{index}.png" for index in range(11)]},
        {"mediaUrl": "https://example.com/a.png"},
        {"mediaUrl": ["not a url"]},
    ],
    ids=["both-names", "eleven", "not-a-list", "not-a-url"],
)
def test_bad_media_is_invalid_payload(api, media):
    response = api.post(NATIVE_SEND.format(100001), json={"to": US_RECIPIENT, "body": "look"} | media)

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"


def test_media_on_a_number_without_mms_is_invalid_payload(api):
    response = api.post(
        NATIVE_SEND.format(100004), json={"to": "+33698765432", "body": "photo", "mediaUrl": ["https://e.com/a.png"]}
    )

    assert response.status_code == 400
    assert "MMS" in response.json()["message"]


def test_sending_to_the_sending_number_is_same_destination_as_sender(api):
    response = api.post(NATIVE_SEND.format(100004), json={"to": "+33612345678", "body": "moi"})

    assert response.status_code == 400
    assert response.json()["key"] == "SameDestinationAsSender"


def test_a_number_without_sms_cannot_send(api):
    response = api.post(NATIVE_SEND.format(100007), json={"to": US_RECIPIENT, "body": "hi"})

    assert response.status_code == 403
    assert response.json()["key"] == "ForbiddenException"


def test_sending_from_an_unknown_number_is_404(api):
    for path in (PROXY_SEND, NATIVE_SEND):
        response = api.post(path.format(31337), json={"to": US_RECIPIENT, "body": "hi"})
        assert response.status_code == 404
        assert response.json()["key"] == "NotFound"


def test_the_request_log_ties_each_send_to_its_message(api, control, configured):
    message = api.post(PROXY_SEND.format(configured), json={"to": US_RECIPIENT, "body": "hi"}).json()

    sends = control.get("/_sandbox/requests", params={"path_contains": "/messages/send"}).json()["requests"]

    assert [(entry["method"], entry["status"], entry["message_id"]) for entry in sends] == [
        ("POST", 200, message["id"])
    ]
    assert sends[0]["json"] == {"to": US_RECIPIENT, "body": "hi"}


def test_the_send_answer_is_pending_even_when_the_status_moves_on_at_once(start_sandbox):
    running = start_sandbox(callback_delay_ms=0)

    answers = [running.api.post(NATIVE_SEND.format(100001), json={"to": US_RECIPIENT, "body": "hi"}) for _ in range(10)]

    assert {answer.json()["status"] for answer in answers} == {"pending"}


@pytest.mark.parametrize("number_id", [100004, 100005], ids=["fr-mobile", "fr-fixed"])
def test_with_the_french_limit_a_french_number_refuses_a_text_over_670_characters(start_sandbox, number_id):
    running = start_sandbox(french_length_limit=True)

    response = running.api.post(NATIVE_SEND.format(number_id), json={"to": "+33698765432", "body": "x" * 671})

    assert response.status_code == 400
    assert response.json() == {
        "key": "InvalidPayload",
        "message": "'body' must be at most 670 characters on French numbers, got 671",
    }
    assert running.control.get("/_sandbox/messages").json()["messages"] == []


def test_with_the_french_limit_670_characters_is_the_longest_french_text(start_sandbox):
    running = start_sandbox(french_length_limit=True)

    response = running.api.post(NATIVE_SEND.format(100004), json={"to": "+33698765432", "body": "x" * 670})

    assert response.status_code == 200


def test_a_refused_french_text_counts_no_segment(start_sandbox):
    running = start_sandbox(french_length_limit=True)

    running.api.post(NATIVE_SEND.format(100004), json={"to": "+33698765432", "body": "x" * 700})

    usage = {number["number_id"]: number for number in running.control.get("/_sandbox/usage").json()["numbers"]}
    assert usage[100004]["used"] == {"month": 0, "day": 0, "hour": 0}


def test_the_french_limit_leaves_numbers_of_other_countries_at_1600_characters(start_sandbox):
    running = start_sandbox(french_length_limit=True)

    response = running.api.post(NATIVE_SEND.format(100006), json={"to": "+447911123456", "body": "x" * 1600})

    assert response.status_code == 200


def test_without_the_french_limit_a_french_number_sends_up_to_1600_characters(start_sandbox):
    api = start_sandbox(french_length_limit=False).api
    response = api.post(NATIVE_SEND.format(100004), json={"to": "+33698765432", "body": "x" * 1600})

    assert response.status_code == 200
