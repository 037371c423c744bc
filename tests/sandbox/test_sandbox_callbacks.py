"""Callbacks: status steps posted to a proxy number's callbackUrl (two envelope styles), the account webhook
for agent-conversation numbers, scheduled delivery failures, retries and inbound simulation."""

import time

import pytest

US_LOCAL = 100001
RECIPIENT = "+14155550100"


def configure(running, callback_url, number_id=US_LOCAL):
    return running.api.post(
        f"/v1/numbers/{number_id}/messages/configuration", json={"callbackUrl": callback_url}
    ).json()["token"]


def proxy_send(running, to=RECIPIENT, number_id=US_LOCAL):
    response = running.api.post(f"/v1/numbers/{number_id}/messages/send", json={"to": to, "body": "hi"})
    assert response.status_code == 200
    return response.json()


def drain(running):
    response = running.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 5})
    assert response.json() == {"drained": True, "pending": 0}


def test_a_proxy_send_is_followed_by_sent_then_delivered_webhook_style(sandbox, receiver):
    token = configure(sandbox, receiver.url)
    message = proxy_send(sandbox)

    sent, delivered = receiver.wait_for(2)

    for callback in (sent, delivered):
        assert set(callback) == {"resource", "event", "timestamp", "token", "data"}
        assert callback["resource"] == "message"
        assert callback["event"] == "message.status_updated"
        assert callback["token"] == token
        assert callback["data"]["id"] == message["id"]
        assert callback["data"]["direction"] == "outbound"
        assert callback["data"]["raw_digits"] == RECIPIENT.lstrip("+")
        assert callback["data"]["number"]["id"] == US_LOCAL
        assert abs(callback["timestamp"] - time.time()) < 60  # UNIX seconds
    assert [sent["data"]["status"], delivered["data"]["status"]] == ["sent", "delivered"]
    assert delivered["data"]["updated_at"] >= sent["data"]["updated_at"]


def test_callback_style_names_the_event_event_name_with_millisecond_timestamps(start_sandbox, receiver):
    running = start_sandbox(callback_style="callback")
    token = configure(running, receiver.url)
    proxy_send(running)

    sent, delivered = receiver.wait_for(2)

    assert set(sent) == {"resource", "event_name", "timestamp", "token", "data"}
    assert sent["event_name"] == delivered["event_name"] == "message.updated"
    assert sent["token"] == token
    assert abs(sent["timestamp"] / 1000 - time.time()) < 60  # epoch milliseconds
    assert [sent["data"]["status"], delivered["data"]["status"]] == ["sent", "delivered"]


def test_each_delivery_attempt_is_recorded_with_its_outcome(sandbox, receiver):
    configure(sandbox, receiver.url)
    message = proxy_send(sandbox)
    drain(sandbox)

    attempts = sandbox.control.get("/_sandbox/callbacks", params={"message_id": message["id"]}).json()

    assert [(item["event"], item["status_code"], item["ok"], item["attempt"]) for item in attempts["callbacks"]] == [
        ("message.status_updated", 200, True, 1),
        ("message.status_updated", 200, True, 1),
    ]
    assert attempts["callbacks"][0]["url"] == receiver.url
    assert attempts["callbacks"][0]["target"] == "callback"
    assert attempts["pending"] == 0
    statuses = [
        entry["status"]
        for entry in sandbox.control.get("/_sandbox/messages").json()["messages"][0]["sandbox"]["status_history"]
    ]
    assert statuses == ["pending", "sent", "delivered"]


def test_a_failure_scheduled_for_a_recipient_ends_in_failed(sandbox, receiver):
    configure(sandbox, receiver.url)
    sandbox.control.post("/_sandbox/failures", json={"to": "+14155550111"})

    proxy_send(sandbox, to="+14155550111")
    proxy_send(sandbox, to="+14155550111")

    drain(sandbox)
    finals = [item["json"]["data"]["status"] for item in receiver.received if item["json"]["data"]["status"] != "sent"]
    assert finals == ["failed", "delivered"]


def test_failures_scheduled_for_the_next_sends_end_in_failed(sandbox, receiver):
    configure(sandbox, receiver.url)
    scheduled = sandbox.control.post("/_sandbox/failures", json={"next": 2})
    assert scheduled.json() == {"next": 2, "to": {}}

    for _ in range(3):
        proxy_send(sandbox)

    drain(sandbox)
    statuses = {message["status"] for message in sandbox.control.get("/_sandbox/messages").json()["messages"][:2]}
    assert statuses == {"failed"}
    assert sandbox.control.get("/_sandbox/messages").json()["messages"][2]["status"] == "delivered"
    assert sandbox.control.get("/_sandbox/failures").json() == {"next": 0, "to": {}}


def test_webhook_style_retries_a_failed_delivery(sandbox, receiver):
    receiver.scripted_statuses = [500]  # the first arrival, the `sent` event, fails once
    configure(sandbox, receiver.url)
    proxy_send(sandbox)
    drain(sandbox)

    attempts = sandbox.control.get("/_sandbox/callbacks").json()["callbacks"]

    # Webhooks are unordered: the `delivered` event may overtake the retry of `sent`.
    by_status = sorted((item["payload"]["data"]["status"], item["attempt"], item["status_code"]) for item in attempts)
    assert by_status == [("delivered", 1, 200), ("sent", 1, 500), ("sent", 2, 200)]
    assert len(receiver.wait_for(3)) == 3


def test_webhook_style_gives_up_after_the_configured_retries(start_sandbox, receiver):
    running = start_sandbox(webhook_retries=2)
    receiver.scripted_statuses = [500] * 10
    configure(running, receiver.url)
    proxy_send(running)
    drain(running)

    attempts = running.control.get("/_sandbox/callbacks").json()["callbacks"]

    by_status = sorted((item["payload"]["data"]["status"], item["attempt"], item["ok"]) for item in attempts)
    assert by_status == [(status, attempt, False) for status in ("delivered", "sent") for attempt in (1, 2, 3)]


def test_callback_style_never_retries(start_sandbox, receiver):
    running = start_sandbox(callback_style="callback")
    receiver.scripted_statuses = [500]
    configure(running, receiver.url)
    proxy_send(running)
    drain(running)

    attempts = running.control.get("/_sandbox/callbacks").json()["callbacks"]

    assert [(item["attempt"], item["status_code"], item["ok"]) for item in attempts] == [
        (1, 500, False),
        (1, 200, True),
    ]


def test_an_unreachable_callback_url_is_recorded_as_an_error(start_sandbox):
    running = start_sandbox(webhook_retries=0)
    configure(running, "http://127.0.0.1:9/unreachable")
    proxy_send(running)
    drain(running)

    attempts = running.control.get("/_sandbox/callbacks").json()["callbacks"]

    assert len(attempts) == 2
    assert all(item["status_code"] is None and item["error"] and not item["ok"] for item in attempts)


def test_a_slow_receiver_times_out(start_sandbox, receiver):
    running = start_sandbox(callback_timeout_s=0.1, webhook_retries=0)
    receiver.delay_s = 0.3
    configure(running, receiver.url)
    proxy_send(running)
    drain(running)

    attempts = running.control.get("/_sandbox/callbacks").json()["callbacks"]

    assert "Timeout" in attempts[0]["error"]


def test_a_configuration_without_callback_url_gets_no_callbacks(sandbox):
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/configuration", json={})
    proxy_send(sandbox)
    drain(sandbox)

    assert sandbox.control.get("/_sandbox/callbacks").json()["callbacks"] == []
    assert sandbox.control.get("/_sandbox/messages").json()["messages"][0]["status"] == "delivered"


def test_native_sends_are_announced_to_the_account_webhook(sandbox, receiver):
    registered = sandbox.control.post("/_sandbox/webhook", json={"url": receiver.url, "token": "webhook-token"})
    assert registered.json() == {"url": receiver.url, "token": "webhook-token"}

    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})

    sent, delivered = receiver.wait_for(2)
    assert (sent["event"], sent["data"]["status"]) == ("message.sent", "sent")
    assert (delivered["event"], delivered["data"]["status"]) == ("message.status_updated", "delivered")
    assert sent["token"] == delivered["token"] == "webhook-token"


def test_native_sends_without_a_webhook_post_nothing(sandbox):
    sandbox.api.post(f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": RECIPIENT, "body": "hi"})
    drain(sandbox)

    assert sandbox.control.get("/_sandbox/callbacks").json()["callbacks"] == []


def test_an_inbound_message_reaches_the_proxy_callback_url(sandbox, receiver):
    token = configure(sandbox, receiver.url)
    media = [{"file_name": "a.jpg", "file_type": "image/jpeg", "presigned_url": "https://example.com/a.jpg"}]

    response = sandbox.control.post(
        "/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "YES", "media_details": media}
    )

    assert response.status_code == 200
    outcome = response.json()
    assert outcome["delivery"]["ok"] is True
    assert outcome["delivery"]["status_code"] == 200
    [callback] = receiver.wait_for(1)
    assert callback["event"] == "message.received"
    assert callback["token"] == token
    data = callback["data"]
    assert data == outcome["message"]
    assert (data["direction"], data["status"], data["raw_digits"]) == ("inbound", "received", RECIPIENT.lstrip("+"))
    assert data["body"] == "YES"
    assert data["media_details"] == media
    assert data["raw_digits"] == "14155550100"


def test_an_inbound_message_in_callback_style(start_sandbox, receiver):
    running = start_sandbox(callback_style="callback")
    configure(running, receiver.url)

    running.control.post("/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "STOP"})

    [callback] = receiver.wait_for(1)
    assert callback["event_name"] == "message.received"
    assert callback["timestamp"] > 1_600_000_000_000


def test_an_inbound_message_on_a_native_number_goes_to_the_account_webhook(sandbox, receiver):
    sandbox.control.post("/_sandbox/webhook", json={"url": receiver.url, "token": "webhook-token"})

    outcome = sandbox.control.post(
        "/_sandbox/inbound", json={"number_id": 100003, "from": "+15145550199", "body": "Salut"}
    ).json()

    assert outcome["delivery"]["target"] == "webhook"
    [callback] = receiver.wait_for(1)
    assert (callback["event"], callback["token"]) == ("message.received", "webhook-token")


def test_an_inbound_message_with_nowhere_to_go_is_kept_undelivered(sandbox):
    outcome = sandbox.control.post("/_sandbox/inbound", json={"number_id": US_LOCAL, "from": RECIPIENT, "body": "hi"})

    assert outcome.status_code == 200
    assert outcome.json()["delivery"] is None
    assert (
        sandbox.control.get("/_sandbox/messages", params={"direction": "inbound"}).json()["messages"][0]["body"] == "hi"
    )


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"number_id": 999, "from": RECIPIENT, "body": "hi"}, 404),
        ({"number_id": US_LOCAL, "from": "4155550100", "body": "hi"}, 400),
        ({"number_id": US_LOCAL, "from": RECIPIENT}, 400),
        ({"number_id": US_LOCAL, "from": RECIPIENT, "body": "hi", "media_details": [{"file_name": "a"}]}, 400),
        ({"number_id": 100007, "from": RECIPIENT, "body": "hi"}, 400),
    ],
    ids=["unknown-number", "bad-from", "empty", "bad-media", "no-sms"],
)
def test_a_bad_inbound_simulation_is_refused(sandbox, payload, status):
    response = sandbox.control.post("/_sandbox/inbound", json=payload)

    assert response.status_code == status
    assert response.json()["error"]


def test_drain_answers_504_when_the_queue_does_not_empty_in_time(start_sandbox, receiver):
    running = start_sandbox(callback_delay_ms=1_000)
    configure(running, receiver.url)
    proxy_send(running)

    response = running.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 0.05})

    assert response.status_code == 504
    assert response.json()["drained"] is False
