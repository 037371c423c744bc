"""The send path and Aircall's callbacks against the DynamoDB emulator and the Aircall sandbox, over HTTP."""

import json

import pytest

from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest, SendRequest
from aircall_sms.errors import AircallError, AircallTimeout, NumberNotConfigured, Unauthorized
from aircall_sms.store import messages, numbers
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import handle_callback
from aircall_sms.use_cases.send import send_message
from tests.integration.conftest import callback_token

FR_MOBILE = 100004
US_LOCAL = 100001


def configure(number_id=FR_MOBILE, mode="proxy", registration="none"):
    return number_use_cases.configure(
        ADMIN,
        str(number_id),
        NumberRequest(mode=mode, registration=registration),
        request_callback_url="https://unused/webhooks/aircall",
    )


def send(**fields):
    body = {"from": str(FR_MOBILE), "to": "06 12 34 56 79", "text": "Bonjour !", "human_author": "Camille"} | fields
    return send_message(principal=ADMIN, request=SendRequest.model_validate(body))


def status_callback(sandbox, aircall_id, status, number_id=FR_MOBILE, **extra):
    payload = {
        "resource": "message",
        "event": "message.status_updated",
        "timestamp": 1795701912,
        "token": callback_token(sandbox, number_id),
        "data": {"id": aircall_id, "status": status, "number": {"id": number_id}},
    } | extra
    return handle_callback(json.dumps(payload))


def test_configuring_a_number_in_proxy_mode_stores_only_a_digest_of_the_callback_token(gateway, sandbox_api):
    answer = configure()
    assert answer.warning and "can no longer send or receive SMS" in answer.warning
    record = numbers.get(str(FR_MOBILE))
    assert record is not None
    assert (record.e164, record.region, record.kind, record.mode) == ("+33612345678", "FR", "mobile", "proxy")
    token = callback_token(gateway, FR_MOBILE)
    assert token not in json.dumps(record.attribute_values, default=str)
    assert record.callback_url == "http://127.0.0.1:9/webhooks/aircall"


def test_a_send_from_a_configured_number_reaches_aircall_and_is_archived_as_queued(gateway, sandbox_api):
    configure()
    outcome = send()
    assert outcome.status_code == 201
    message = outcome.body["message"]
    assert (message["status"], message["to"], message["from"]) == ("queued", "+33612345679", "+33612345678")
    assert message["aircall_id"] and message["segments"] == 1 and message["encoding"] == "GSM-7"
    sent = sandbox_api.get("/_sandbox/messages").json()
    assert any(m["id"] == message["aircall_id"] for m in sent.get("messages", sent))
    stored = messages.get(message["id"])
    assert stored is not None and stored.status == "queued"
    assert [change["status"] for change in message["status_history"]] == ["unknown", "queued"]


def test_an_unconfigured_sender_is_number_not_configured_and_nothing_is_archived(gateway):
    with pytest.raises(NumberNotConfigured):
        send(**{"from": "+33186954210"})


def test_an_aircall_refusal_archives_the_message_as_failed_with_aircalls_key(gateway):
    configure()
    with pytest.raises(AircallError) as refused:
        send(to="+33612345678")  # the number itself: Aircall answers SameDestinationAsSender
    assert refused.value.details["aircall_key"] == "SameDestinationAsSender"


def test_a_timeout_after_the_request_left_leaves_the_status_unknown(gateway, sandbox_api):
    configure()
    sandbox_api.post(
        "/_sandbox/faults", json={"latency_ms": 3000, "count": 1, "path_contains": "/messages/send", "mode": "after"}
    )
    with pytest.raises(AircallTimeout):
        send()
    sent = sandbox_api.get("/_sandbox/messages").json()
    assert len(sent.get("messages", sent)) == 1  # Aircall did send it: the gateway must not retry


def test_status_callbacks_move_forward_and_duplicates_or_late_ones_change_nothing(gateway):
    configure()
    message = send().body["message"]
    assert status_callback(gateway, message["aircall_id"], "delivered").result == "updated"
    # The same delivery again is recognised as such; the same status in another envelope changes nothing.
    assert status_callback(gateway, message["aircall_id"], "delivered").result == "duplicate"
    assert status_callback(gateway, message["aircall_id"], "delivered", timestamp=1795701999).result == "unchanged"
    assert status_callback(gateway, message["aircall_id"], "sent").result == "unchanged"
    stored = messages.get(message["id"])
    assert stored is not None and stored.status == "delivered"
    assert [change.status for change in stored.status_history] == ["unknown", "queued", "delivered"]


def test_a_forged_token_is_refused_and_nothing_changes(gateway):
    configure()
    message = send().body["message"]
    payload = {
        "event": "message.status_updated",
        "token": "forged",
        "data": {"id": message["aircall_id"], "status": "failed", "number": {"id": FR_MOBILE}},
    }
    with pytest.raises(Unauthorized):
        handle_callback(json.dumps(payload))
    stored = messages.get(message["id"])
    assert stored is not None and stored.status == "queued"


def test_an_inbound_message_is_archived_once_even_when_redelivered(gateway):
    configure()
    payload = json.dumps(
        {
            "event_name": "message.received",
            "timestamp": 1795701912000,
            "token": callback_token(gateway, FR_MOBILE),
            "data": {
                "id": "SMinbound1",
                "status": "received",
                "body": "Oui merci",
                "external_number": "+33612345679",
                "media_details": [
                    {"file_name": "a.jpg", "file_type": "image/jpeg", "presigned_url": "https://m/a.jpg"}
                ],
                "created_at": 1795701912000,
                "number": {"id": FR_MOBILE},
            },
        }
    )
    first, again = handle_callback(payload), handle_callback(payload)
    assert (first.result, again.result) == ("archived", "duplicate")
    stored = messages.get(first.message_id or "")
    assert stored is not None
    assert (stored.direction, stored.contact, stored.text, stored.media_urls) == (
        "inbound",
        "+33612345679",
        "Oui merci",
        ["https://m/a.jpg"],
    )
    assert stored.created_at == "2026-11-26T14:05:12.000Z"


def test_an_agent_mode_number_sends_in_the_agent_conversation(gateway, sandbox_api):
    configure(US_LOCAL, mode="agent", registration="approved")
    outcome = send(**{"from": "+1 424-416-2288", "to": "(424) 416-2290", "text": "Hi"})
    assert outcome.status_code == 201
    paths = [r["path"] for r in sandbox_api.get("/_sandbox/requests").json().get("requests", [])]
    assert any(path.endswith("/messages/native/send") for path in paths)
