"""Events out end to end: a send and Aircall's callbacks for it reach the event bus as status changes, in order;
an inbound reply as a received message."""

import httpx

FR_MOBILE = 100004


def configure(api, number_id=FR_MOBILE):
    answer = api.put(f"/numbers/{number_id}", json={"mode": "proxy"})
    assert answer.status_code in (200, 201), answer.text


def published_about(stack, message_id):
    stack.drain_streams(10)
    return [
        event for event in stack.published_events() if (event["detail"].get("message") or {}).get("id") == message_id
    ]


def test_a_send_and_its_callbacks_publish_every_status_change_in_order(stack, api, aircall):
    # Given a configured number
    configure(api)
    # When a message is sent and Aircall's callbacks for it arrive
    answer = api.post(
        "/messages", json={"from": FR_MOBILE, "to": "06 12 34 56 79", "text": "Bonjour !", "human_author": "Camille"}
    )
    assert answer.status_code == 201, answer.text
    message_id = answer.json()["message"]["id"]
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()

    # Then the bus received one status change per step, in order, each with the message as it was then
    published = published_about(stack, message_id)
    assert {(event["source"], event["detail_type"]) for event in published} == {
        ("aircall-sms", "message.status_changed")
    }
    steps = [(event["detail"]["previous_status"], event["detail"]["message"]["status"]) for event in published]
    assert steps == [(None, "unknown"), ("unknown", "queued"), ("queued", "sent"), ("sent", "delivered")]
    last = published[-1]["detail"]["message"]
    assert last == api.get(f"/messages/{message_id}").json()["message"]
    assert [step["status"] for step in last["status_history"]] == ["unknown", "queued", "sent", "delivered"]


def test_an_inbound_reply_is_published_as_received(stack, api, aircall):
    configure(api)
    reply = aircall.post("/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": "+33612345678", "body": "Merci !"})
    assert reply.status_code in (200, 201), reply.text
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    stack.drain_streams(10)

    received = [
        event["detail"]["message"]
        for event in stack.published_events()
        if event["detail_type"] == "message.received" and event["detail"]["message"]["from"] == "+33612345678"
    ]

    assert [(message["direction"], message["status"], message["text"]) for message in received] == [
        ("inbound", "received", "Merci !")
    ]


def test_the_published_events_are_served_at_local_events(stack):
    answer = httpx.get(f"{stack.api_url}/_local/events", timeout=15)

    assert answer.status_code == 200
    served = answer.json()["events"]
    assert served, "the earlier tests published events"
    assert stack.published_events()[: len(served)] == served  # later callbacks may have added more since
