"""Usage, erasure and the API's documentation over real HTTP through the local stack: a message sent and answered
is counted by the UsageFunction (the stack's poller on the archive's stream, as Lambda's event source mapping)
and reported by GET /usage; DELETE /contacts/{phone} erases it; /openapi.json answers with the API key, as every
route but the webhook, /health and the pages, and refuses without it; /docs, its page, is open."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

FR_FIXED = 100005  # +33 1 86 95 42 10
CONTACT = "+33145678955"  # written to by no other test of the suite


def test_a_conversation_is_counted_in_the_months_usage_and_erased_with_its_contact(stack, api, aircall):
    # Given a message sent and the contact's answer, and the stream's changes handed to the UsageFunction
    month = datetime.now(UTC).strftime("%Y-%m")
    before = api.get("/usage", params={"month": month, "number_id": str(FR_FIXED)}).json()["items"][0]
    assert api.put(f"/numbers/{FR_FIXED}", json={"mode": "proxy"}).status_code in (200, 201)
    sent = api.post("/messages", json={"from": FR_FIXED, "to": CONTACT, "text": "Bonjour !"})
    assert sent.status_code == 201, sent.text
    reply = aircall.post("/_sandbox/inbound", json={"number_id": FR_FIXED, "from": CONTACT, "body": "Merci"})
    assert reply.status_code in (200, 201), reply.text
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    stack.drain_streams()
    # When the month's usage of the number is read
    usage = api.get("/usage", params={"month": month, "number_id": str(FR_FIXED)})
    # Then it counts one message more each way
    assert usage.status_code == 200, usage.text
    after = usage.json()["items"][0]
    assert after["outbound"]["messages"] == before["outbound"]["messages"] + 1
    assert after["inbound"]["messages"] == before["inbound"]["messages"] + 1
    # And erasing the contact deletes both messages and what Aircall's callbacks recorded about them
    erased = api.delete(f"/contacts/%2B{CONTACT[1:]}")
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["messages"] == 2
    assert erased.json()["erased"]["callbacks"] >= 1
    assert api.get(f"/messages?contact=%2B{CONTACT[1:]}").json()["items"] == []
    # ...while the usage stays: it is history
    assert api.get("/usage", params={"month": month, "number_id": str(FR_FIXED)}).json()["items"][0] == after


def test_the_document_answers_with_the_api_key_and_refuses_without_it_while_its_page_is_open(stack, api):
    document = api.get("/openapi.json")
    with httpx.Client(base_url=stack.api_url, timeout=15) as anonymous:
        page = anonymous.get("/docs")
        refused = [anonymous.get(path) for path in ("/openapi.json", "/usage")]

    assert document.status_code == 200
    assert "/usage" in document.json()["paths"]
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert '"/usage"' not in page.text  # the page holds no document: it fetches it with the key typed in
    assert [(answer.status_code, answer.json()["error"]["code"]) for answer in refused] == [(401, "unauthorized")] * 2
