"""The Aircall client against httpx.MockTransport: auth, paths, outcomes told apart, headers read."""

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest

from aircall_sms.clients.aircall import (
    AircallClient,
    AircallOutcomeUnknown,
    AircallRateLimited,
    AircallRefused,
    AircallUnreachable,
    Credentials,
    gateway_error,
)

BASIC = Credentials(api_id="id", api_token="secret-token")


def client_answering(handler, credentials=BASIC):
    seen = []

    def record(request):
        seen.append(request)
        return handler(request)

    client = AircallClient(
        "https://api.example", credentials, connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(record)
    )
    return client, seen


def test_a_proxy_send_posts_to_send_with_basic_auth_and_returns_aircalls_id():
    client, seen = client_answering(lambda _: httpx.Response(200, json={"id": "SM1", "status": "pending"}))
    sent = client.send_message("100004", to="+33612345679", body="Bonjour", native=False)
    assert (sent.aircall_id, sent.status) == ("SM1", "pending")
    request = seen[0]
    assert request.url.path == "/v1/numbers/100004/messages/send"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"id:secret-token").decode()
    assert json.loads(request.content) == {"to": "+33612345679", "body": "Bonjour"}


def test_an_agent_send_uses_native_send_with_bearer_auth_and_media():
    client, seen = client_answering(
        lambda _: httpx.Response(200, json={"id": 77, "status": "pending"}), Credentials(access_token="oauth")
    )
    sent = client.send_message("1", to="+14155550123", body=None, media_urls=["https://x/a.png"], native=True)
    assert sent.aircall_id == "77"
    assert seen[0].url.path == "/v1/numbers/1/messages/native/send"
    assert seen[0].headers["Authorization"] == "Bearer oauth"
    assert json.loads(seen[0].content) == {"to": "+14155550123", "mediaUrl": ["https://x/a.png"]}


def test_a_4xx_is_a_definite_refusal_with_aircalls_key():
    client, _ = client_answering(
        lambda _: httpx.Response(400, json={"key": "SameDestinationAsSender", "message": "same number"})
    )
    with pytest.raises(AircallRefused) as refused:
        client.send_message("1", to="+1", body="x", native=False)
    assert (refused.value.status, refused.value.key) == (400, "SameDestinationAsSender")
    assert gateway_error(refused.value).code == "aircall_error"


def test_a_429_names_the_reset_from_the_headers():
    reset = 1795615560
    client, _ = client_answering(
        lambda _: httpx.Response(
            429,
            headers={"X-AircallApi-Limit": "60", "X-AircallApi-Remaining": "0", "X-AircallApi-Reset": str(reset)},
        )
    )
    with pytest.raises(AircallRateLimited) as limited:
        client.send_message("1", to="+1", body="x", native=False)
    assert limited.value.reset_at == datetime.fromtimestamp(reset, UTC)
    assert limited.value.rate is not None and limited.value.rate.limit == 60
    error = gateway_error(limited.value)
    assert error.code == "rate_limited" and "Retry-After" in error.headers


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_leaves_the_outcome_unknown(status):
    client, _ = client_answering(lambda _: httpx.Response(status))
    with pytest.raises(AircallOutcomeUnknown):
        client.send_message("1", to="+1", body="x", native=False)


def test_a_read_timeout_leaves_the_outcome_unknown_and_maps_to_aircall_timeout():
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = client_answering(timeout)
    with pytest.raises(AircallOutcomeUnknown) as unknown:
        client.send_message("1", to="+1", body="x", native=False)
    assert gateway_error(unknown.value).code == "aircall_timeout"


def test_a_refused_connection_means_nothing_was_sent():
    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    client, _ = client_answering(refused)
    with pytest.raises(AircallUnreachable) as unreachable:
        client.send_message("1", to="+1", body="x", native=False)
    assert gateway_error(unreachable.value).details["sent"] is False


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json={"status": "pending"}),
        httpx.Response(200, json={"id": ""}),
    ],
)
def test_a_success_without_a_readable_message_id_is_an_unknown_outcome(answer):
    client, _ = client_answering(lambda _: answer)
    with pytest.raises(AircallOutcomeUnknown):
        client.send_message("1", to="+1", body="x", native=False)


def test_rate_headers_are_kept_from_every_answer():
    client, _ = client_answering(
        lambda _: httpx.Response(200, json={"id": "SM1"}, headers={"X-AircallApi-Remaining": "41"})
    )
    client.send_message("1", to="+1", body="x", native=False)
    assert client.last_rate is not None and client.last_rate.remaining == 41


def test_configuration_returns_the_token_and_sends_the_callback_url():
    client, seen = client_answering(lambda _: httpx.Response(200, json={"token": "tok", "type": "Public Api"}))
    assert client.configure_number("5", "https://gw/webhooks/aircall")["token"] == "tok"
    assert json.loads(seen[0].content) == {"callbackUrl": "https://gw/webhooks/aircall"}


def test_credentials_never_show_in_repr():
    assert "secret-token" not in repr(BASIC)
    with pytest.raises(ValueError, match="api_id"):
        Credentials.from_mapping({"api_id": "only"})
