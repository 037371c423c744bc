"""Agent mode end to end through the local stack: configuring a number in agent mode registers an account webhook
with Aircall (the sandbox's Webhooks API) for the message events; a message sent in agent mode is delivered in the
archive and the contact's reply is archived, both through that webhook, authenticated by its token; the webhook's
events about other numbers are acknowledged and ignored; the last agent-mode number leaving removes the webhook."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local_stack.dynamodb import client

CANADA = 100003  # +1 438-813-2200
TOLL_FREE = 100002  # configured by no suite
CONTACT = "+15145550123"  # written to by no other test of the suite


@pytest.fixture
def aircall_api(stack):
    """Aircall's own API on the sandbox (as the gateway calls it), with the stack's credentials."""
    config = stack.sandbox_config
    with httpx.Client(base_url=f"{stack.aircall_url}/v1", auth=(config.api_id, config.api_token), timeout=15) as http:
        yield http


@pytest.fixture
def agent_number(stack, api, aircall):
    answer = api.put(f"/numbers/{CANADA}", json={"mode": "agent", "registration": "approved"})
    assert answer.status_code in (200, 201), answer.text
    yield answer.json()
    api.delete(f"/numbers/{CANADA}")


def webhooks(aircall_api) -> list[dict[str, Any]]:
    return list(aircall_api.get("/webhooks").json()["webhooks"])


def drain(aircall) -> None:
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()


def deliveries(aircall) -> list[dict[str, Any]]:
    return list(aircall.get("/_sandbox/callbacks").json()["callbacks"])


def test_agent_mode_registers_one_webhook_for_the_message_events(stack, agent_number, aircall_api):
    # Then Aircall has one webhook, pointed at the gateway's callback URL, for the three message events
    [webhook] = webhooks(aircall_api)
    assert webhook["url"] == stack.callback_url
    assert sorted(webhook["events"]) == ["message.received", "message.sent", "message.status_updated"]
    assert agent_number["number"]["mode"] == "agent"
    assert "warning" not in agent_number  # the Aircall apps keep SMS on an agent-mode number
    # And a second agent-mode number reuses it
    assert stack_put(stack, TOLL_FREE, "agent").status_code in (200, 201)
    try:
        assert [hook["webhook_id"] for hook in webhooks(aircall_api)] == [webhook["webhook_id"]]
    finally:
        httpx.delete(f"{stack.api_url}/numbers/{TOLL_FREE}", headers={"x-api-key": stack.api_key})
    assert len(webhooks(aircall_api)) == 1  # still there: CANADA is in agent mode


def stack_put(stack, number_id: int, mode: str) -> httpx.Response:
    return httpx.put(
        f"{stack.api_url}/numbers/{number_id}", json={"mode": mode}, headers={"x-api-key": stack.api_key}, timeout=15
    )


def test_a_send_in_agent_mode_is_delivered_and_the_reply_archived(stack, api, aircall, agent_number):
    # When a message is sent from the agent-mode number
    sent = api.post("/messages", json={"from": CANADA, "to": CONTACT, "text": "Your order is ready"})
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    # And Aircall's webhook reports it sent and delivered, and the contact answers
    drain(aircall)
    reply = aircall.post("/_sandbox/inbound", json={"number_id": CANADA, "from": CONTACT, "body": "Thanks!"})
    assert reply.status_code == 200, reply.text
    drain(aircall)
    # Then every event went through the webhook and was taken
    events = [d for d in deliveries(aircall) if d["target"] == "webhook"]
    assert sorted(d["event"] for d in events) == ["message.received", "message.sent", "message.status_updated"]
    assert all(d["status_code"] == 200 for d in events), events
    # And the archive shows the message delivered, step by step, and the reply received
    read = api.get(f"/messages/{message['id']}").json()["message"]
    assert read["status"] == "delivered"
    assert [step["status"] for step in read["status_history"]][-2:] == ["sent", "delivered"]
    assert [step["source"] for step in read["status_history"]][-2:] == ["callback", "callback"]
    inbound = api.get("/messages", params={"number_id": str(CANADA), "contact": CONTACT, "direction": "inbound"})
    assert [item["text"] for item in inbound.json()["items"]] == ["Thanks!"]


def test_a_stop_through_the_webhook_opts_the_contact_out(stack, api, aircall, agent_number):
    contact = "+15145550124"
    aircall.post("/_sandbox/inbound", json={"number_id": CANADA, "from": contact, "body": "STOP"})
    drain(aircall)
    refused = api.post("/messages", json={"from": CANADA, "to": contact, "text": "Hello"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "opted_out")


def test_the_webhooks_events_about_other_numbers_are_acknowledged_and_ignored(stack, api, aircall, agent_number):
    # Given a number the gateway does not serve, in agent conversation at Aircall, whose messages the account
    # webhook reports too; and a message an agent sent from the Aircall apps on the agent-mode number
    before = api.get("/messages", params={"number_id": str(TOLL_FREE)}).json()["items"]
    aircall.post("/_sandbox/inbound", json={"number_id": TOLL_FREE, "from": "+14155550177", "body": "hi"})
    config = stack.sandbox_config
    from_the_app = httpx.post(
        f"{stack.aircall_url}/v1/numbers/{CANADA}/messages/native/send",
        json={"to": CONTACT, "body": "Written in the Aircall app"},
        auth=(config.api_id, config.api_token),
    )
    assert from_the_app.status_code == 200, from_the_app.text
    drain(aircall)
    # Then Aircall gets 200 for every event (a webhook that fails is retried, then disabled)
    events = [d for d in deliveries(aircall) if d["target"] == "webhook"]
    assert len(events) == 3 and all(d["status_code"] == 200 for d in events), events
    # And nothing was archived, and nothing waits for the reconciliation sweep
    assert api.get("/messages", params={"number_id": str(TOLL_FREE)}).json()["items"] == before
    dynamodb = client("dynamodb", stack.dynamodb_url)
    waiting = dynamodb.scan(
        TableName=stack.tables["CallbacksTable"],
        FilterExpression="attribute_exists(pending) AND number_id = :number",
        ExpressionAttributeValues={":number": {"S": str(CANADA)}},
    )["Items"]
    assert waiting == []


def test_an_event_with_another_token_is_refused(stack, agent_number, aircall):
    event = {
        "resource": "message",
        "event": "message.received",
        "timestamp": 1795737400,
        "token": "not-the-webhooks-token",
        "data": {"id": "SMforged", "direction": "inbound", "external_number": CONTACT, "body": "hi",
                 "number": {"id": CANADA}},
    }  # fmt: skip
    answer = httpx.post(stack.callback_url, json=event, timeout=15)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "unauthorized")


def test_the_last_agent_mode_number_leaving_removes_the_webhook(stack, api, aircall, aircall_api):
    assert api.put(f"/numbers/{CANADA}", json={"mode": "agent"}).status_code in (200, 201)
    assert len(webhooks(aircall_api)) == 1
    # When the number goes to proxy mode, then back to agent, then is removed
    assert api.put(f"/numbers/{CANADA}", json={"mode": "proxy"}).status_code == 200
    assert webhooks(aircall_api) == []
    assert aircall_api.get(f"/numbers/{CANADA}/messages/configuration").status_code == 200
    assert api.put(f"/numbers/{CANADA}", json={"mode": "agent"}).status_code == 200
    assert aircall_api.get(f"/numbers/{CANADA}/messages/configuration").status_code == 404
    assert len(webhooks(aircall_api)) == 1
    assert api.delete(f"/numbers/{CANADA}").status_code == 200
    # Then Aircall keeps no webhook of the gateway
    assert webhooks(aircall_api) == []
