"""The archive's lists over real HTTP through the local stack: a conversation sent and answered is listed as its
thread (the contact URL-encoded, as a client sends it), and exported as JSON Lines whose pages are continued by
the X-Next-Cursor header; `/messages/export` is its own route, not a message id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

FR_FIXED = 100005  # +33 1 86 95 42 10
CONTACT = "+33145678944"  # written to by no other test of the suite


def test_a_conversation_is_listed_as_its_thread_and_exported_in_pages(stack, api, aircall):
    # Given a message sent from a configured number and the contact's answer
    started = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert api.put(f"/numbers/{FR_FIXED}", json={"mode": "proxy"}).status_code in (200, 201)
    sent = api.post("/messages", json={"from": FR_FIXED, "to": CONTACT, "text": "Bonjour !"})
    assert sent.status_code == 201, sent.text
    reply = aircall.post("/_sandbox/inbound", json={"number_id": FR_FIXED, "from": CONTACT, "body": "Merci"})
    assert reply.status_code in (200, 201), reply.text
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    # When the thread is listed
    thread = api.get(f"/messages?number_id={FR_FIXED}&contact=%2B{CONTACT[1:]}")
    # Then it holds both, the answer first
    assert thread.status_code == 200, thread.text
    listed = thread.json()
    assert [item["direction"] for item in listed["items"]] == ["inbound", "outbound"]
    assert listed["items"][1]["id"] == sent.json()["message"]["id"]
    assert listed["next_cursor"] is None
    # And the export from before the send gives them oldest first, one page at a time
    first = api.get("/messages/export", params={"since": started, "limit": "1"})
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/x-ndjson"
    exported = [json.loads(line) for line in first.text.splitlines()]
    cursor = first.headers.get("x-next-cursor")
    while cursor:
        page = api.get("/messages/export", params={"since": started, "limit": "1", "cursor": cursor})
        assert page.status_code == 200, page.text
        exported += [json.loads(line) for line in page.text.splitlines()]
        cursor = page.headers.get("x-next-cursor")
    mine = [message["id"] for message in exported if CONTACT in (message["from"], message["to"])]
    assert mine == [item["id"] for item in reversed(listed["items"])]
