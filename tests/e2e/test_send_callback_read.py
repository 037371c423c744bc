"""One send end to end: configure a number, send, let the sandbox's callbacks come back, read the archive."""

import httpx
import pytest

from local_stack.dynamodb import client

FR_MOBILE = 100004


def archived_items(stack):
    dynamodb = client("dynamodb", stack.dynamodb_url)
    return dynamodb.scan(TableName=stack.tables["MessagesTable"], Select="COUNT")["Count"]


def configure(api, number_id=FR_MOBILE, mode="proxy"):
    answer = api.put(f"/numbers/{number_id}", json={"mode": mode})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_health_answers_without_an_api_key(stack):
    answer = httpx.get(f"{stack.api_url}/health")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}])
def test_a_missing_or_wrong_key_is_401_in_the_contracts_shape(stack, headers):
    answer = httpx.post(f"{stack.api_url}/messages", json={}, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_a_message_is_sent_its_callbacks_arrive_and_the_archive_shows_it_delivered(stack, api, aircall):
    # Given a French mobile line configured in proxy mode
    configured = configure(api)
    assert "can no longer send or receive SMS" in configured["warning"]
    # When a message is sent from it
    answer = api.post(
        "/messages", json={"from": FR_MOBILE, "to": "06 12 34 56 79", "text": "Bonjour !", "human_author": "Camille"}
    )
    assert answer.status_code == 201, answer.text
    sent = answer.json()["message"]
    assert (sent["status"], sent["to"]) == ("queued", "+33612345679")
    # And the sandbox posts its status callbacks to the gateway
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    # Then the archive shows the message delivered, with every step
    read = api.get(f"/messages/{sent['id']}")
    assert read.status_code == 200
    message = read.json()["message"]
    assert message["status"] == "delivered"
    assert [step["status"] for step in message["status_history"]] == ["unknown", "queued", "sent", "delivered"]
    assert [step["source"] for step in message["status_history"]][2:] == ["callback", "callback"]


def test_a_scheduled_delivery_failure_ends_failed(stack, api, aircall):
    configure(api)
    aircall.post("/_sandbox/failures", json={"to": "+33612345670"}).raise_for_status()
    sent = api.post(
        "/messages", json={"from": FR_MOBILE, "to": "+33612345670", "text": "x", "human_author": "Camille"}
    ).json()["message"]
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    message = api.get(f"/messages/{sent['id']}").json()["message"]
    assert message["status"] == "failed"
    assert message["error"]["code"] == "delivery_failed"


def test_an_inbound_reply_is_archived(stack, api, aircall):
    configure(api)
    reply = aircall.post("/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": "+33612345679", "body": "Merci"})
    assert reply.status_code in (200, 201), reply.text
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    deliveries = aircall.get("/_sandbox/callbacks").json()
    outcomes = deliveries.get("callbacks", deliveries)
    assert any(d.get("event", "").endswith("received") and d.get("status_code") == 200 for d in outcomes), outcomes


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "invalid_request"),
        ("{}", "invalid_request"),
        ('{"from": 100004, "to": "+33612345679"}', "empty_message"),
    ],
)
def test_bad_requests_get_their_code_and_write_nothing(stack, api, body, code):
    configure(api)
    before = archived_items(stack)
    answer = api.post("/messages", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert archived_items(stack) == before


def test_a_forged_callback_token_is_refused_and_writes_nothing(stack, api):
    configure(api)
    before = archived_items(stack)
    forged = {
        "event": "message.received",
        "token": "forged",
        "data": {"id": "SMx", "body": "STOP", "external_number": "+33612345679", "number": {"id": FR_MOBILE}},
    }
    answer = httpx.post(f"{stack.api_url}/webhooks/aircall", json=forged)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert archived_items(stack) == before
