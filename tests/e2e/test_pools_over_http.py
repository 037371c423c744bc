"""A sender pool over real HTTP through the local stack: the French mobile line of a pool is passed over until
the contact writes to it (the sandbox delivers the reply as Aircall's callback), then it answers the thread."""

from __future__ import annotations

FR_MOBILE, FR_FIXED = 100004, 100005
CONTACT = "+33612345688"  # written to by no other test of the suite


def test_a_pool_answers_from_the_line_the_contact_wrote_to(stack, api, aircall):
    # Given a pool of a French mobile line and a French fixed line
    for number_id in (FR_MOBILE, FR_FIXED):
        assert api.put(f"/numbers/{number_id}", json={"mode": "proxy"}).status_code in (200, 201)
    created = api.put("/pools/fr-e2e", json={"number_ids": [FR_MOBILE, FR_FIXED]})
    assert created.status_code in (200, 201), created.text
    # When the gateway writes first: the mobile line may not start a thread, the fixed line sends
    first = api.post("/messages", json={"from": "pool:fr-e2e", "to": CONTACT, "text": "Bonjour !"})
    assert first.status_code == 201, first.text
    assert first.json()["message"]["sender"] == {"pool_id": "fr-e2e", "number_id": str(FR_FIXED), "reason": "most_room"}
    # And the contact then writes to the mobile line
    reply = aircall.post("/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": CONTACT, "body": "Merci"})
    assert reply.status_code in (200, 201), reply.text
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    # Then the pool answers from the mobile line, and the dry run says so beforehand
    dry = api.post("/messages", json={"from": "pool:fr-e2e", "to": CONTACT, "text": "Avec plaisir.", "dry_run": True})
    assert dry.status_code == 200 and dry.json()["sender"]["number_id"] == str(FR_MOBILE), dry.text
    answer = api.post("/messages", json={"from": "pool:fr-e2e", "to": CONTACT, "text": "Avec plaisir."})
    assert answer.status_code == 201, answer.text
    message = answer.json()["message"]
    assert (message["number_id"], message["sender"]["reason"]) == (str(FR_MOBILE), "sticky_thread")
    assert api.get(f"/messages/{message['id']}").json()["message"]["sender"]["reason"] == "sticky_thread"
    assert api.delete("/pools/fr-e2e").status_code == 200
