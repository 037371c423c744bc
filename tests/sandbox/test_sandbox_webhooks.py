"""Aircall's Webhooks API in the sandbox (docs/aircall-reference.md §3.1): registering, reading, editing and
removing account webhooks, and the message events of numbers in agent conversation posted to each webhook that
listens to them, with its own token; proxy-mode numbers never appear in webhooks."""

from __future__ import annotations

import re

US_LOCAL = 100001
CANADA = 100003
RECIPIENT = "+14155550100"
MESSAGE_EVENTS = ["message.sent", "message.status_updated", "message.received"]


def register(running, url, events=MESSAGE_EVENTS, name="gateway"):
    answer = running.api.post("/v1/webhooks", json={"url": url, "custom_name": name, "events": events})
    assert answer.status_code == 201, answer.text
    return answer.json()["webhook"]


def drain(running):
    assert running.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 5}).json()["drained"]


def test_a_registered_webhook_is_answered_as_aircall_documents_it(sandbox, receiver):
    webhook = register(sandbox, receiver.url)
    assert set(webhook) == {
        "webhook_id", "direct_link", "created_at", "url", "active", "events", "token", "custom_name"
    }  # fmt: skip
    assert re.fullmatch(r"[0-9a-f-]{36}", webhook["webhook_id"])
    assert webhook["direct_link"].endswith(f"/v1/webhooks/{webhook['webhook_id']}")
    assert (webhook["url"], webhook["active"], webhook["events"]) == (receiver.url, True, MESSAGE_EVENTS)
    assert webhook["token"] and webhook["created_at"].endswith("Z")
    assert sandbox.api.get(f"/v1/webhooks/{webhook['webhook_id']}").json() == {"webhook": webhook}
    listed = sandbox.api.get("/v1/webhooks").json()
    assert listed["webhooks"] == [webhook] and listed["meta"]["total"] == 1


def test_a_native_send_and_a_reply_reach_the_webhook_with_its_token(sandbox, receiver):
    webhook = register(sandbox, receiver.url)
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})
    sandbox.control.post("/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "thanks"})
    drain(sandbox)
    events = receiver.wait_for(3)
    assert sorted(event["event"] for event in events) == sorted(MESSAGE_EVENTS)
    assert {event["token"] for event in events} == {webhook["token"]}
    assert all(event["resource"] == "message" and event["data"]["number"]["id"] == US_LOCAL for event in events)
    received = next(event for event in events if event["event"] == "message.received")
    # The strict default: the contact as raw digits only, as in a callback.
    assert (received["data"]["raw_digits"], received["data"]["body"]) == (RECIPIENT.lstrip("+"), "thanks")


def test_a_webhook_gets_only_the_events_it_listens_to(sandbox, receiver):
    register(sandbox, receiver.url, events=["message.received"])
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})
    sandbox.control.post("/_sandbox/inbound", json={"number_id": CANADA, "from": "+15145550199", "body": "Salut"})
    drain(sandbox)
    assert [event["event"] for event in receiver.wait_for(1)] == ["message.received"]
    assert len(receiver.received) == 1


def test_every_listening_webhook_gets_the_event_and_an_empty_list_means_every_event(sandbox, receiver):
    first = register(sandbox, receiver.url, events=[], name="all")
    second = register(sandbox, receiver.url, events=["message.received"], name="replies")
    sandbox.control.post("/_sandbox/inbound", json={"number_id": CANADA, "from": "+15145550199", "body": "Salut"})
    drain(sandbox)
    assert sorted(event["token"] for event in receiver.wait_for(2)) == sorted([first["token"], second["token"]])


def test_proxy_mode_numbers_never_appear_in_webhooks(sandbox, receiver):
    register(sandbox, receiver.url, events=[])
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/configuration", json={})
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/send", json={"to": RECIPIENT, "body": "hi"})
    sandbox.control.post("/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "hi"})
    drain(sandbox)
    assert receiver.received == []


def test_a_webhook_is_edited_and_removed(sandbox, receiver):
    webhook = register(sandbox, receiver.url, events=["message.received"])
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    added = sandbox.api.put(path, params={"events_action": "add"}, json={"events": ["message.sent"]})
    assert added.json()["webhook"]["events"] == ["message.received", "message.sent"]
    removed = sandbox.api.put(path, params={"events_action": "remove"}, json={"events": ["message.received"]})
    assert removed.json()["webhook"]["events"] == ["message.sent"]
    renamed = sandbox.api.put(path, json={"custom_name": "renamed"}).json()["webhook"]
    assert (renamed["custom_name"], renamed["token"]) == ("renamed", webhook["token"])
    assert sandbox.api.delete(path).status_code == 204
    assert sandbox.api.get(path).status_code == 404
    assert sandbox.api.delete(path).json()["key"] == "NotFound"
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})
    drain(sandbox)
    assert receiver.received == []


def test_bad_registrations_are_refused_as_aircall_refuses_them(sandbox):
    for body in (
        {},
        {"url": "http://example.com/hook"},
        {"url": "https://example.com/hook", "events": "message.received"},
        {"url": "https://example.com/hook", "events": ["not an event"]},
        {"url": "https://example.com/hook", "custom_name": ""},
    ):
        answer = sandbox.api.post("/v1/webhooks", json=body)
        assert (answer.status_code, answer.json()["key"]) == (400, "InvalidPayload"), body


def test_a_company_has_at_most_a_hundred_webhooks(start_sandbox):
    sandbox = start_sandbox(requests_per_minute=1000)
    for _ in range(100):
        assert sandbox.api.post("/v1/webhooks", json={"url": "https://example.com/hook"}).status_code == 201
    assert sandbox.api.post("/v1/webhooks", json={"url": "https://example.com/hook"}).status_code == 400
    assert sandbox.api.get("/v1/webhooks", params={"per_page": 50, "page": 2}).json()["meta"]["count"] == 50


def test_the_webhooks_api_needs_credentials(sandbox):
    import httpx

    assert httpx.get(f"{sandbox.url}/v1/webhooks").status_code == 401
