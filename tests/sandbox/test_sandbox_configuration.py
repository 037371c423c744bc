"""Proxy-mode number configuration: POST / GET / DELETE /v1/numbers/{id}/messages/configuration."""

import re

import pytest

CONFIGURATION = "/v1/numbers/100001/messages/configuration"


def test_configuring_a_number_issues_a_token_for_its_callbacks(api):
    response = api.post(CONFIGURATION, json={"callbackUrl": "https://example.com/aircall"})

    assert response.status_code == 200
    body = response.json()
    assert body["callbackUrl"] == "https://example.com/aircall"
    assert body["type"] == "Public Api"
    assert re.fullmatch(r"[0-9a-f]{32}", body["token"])


def test_a_configuration_without_a_callback_url_has_a_null_one(api):
    without_body = api.post(CONFIGURATION)
    with_null = api.post("/v1/numbers/100002/messages/configuration", json={"callbackUrl": None})

    assert without_body.status_code == 200
    assert without_body.json()["callbackUrl"] is None
    assert with_null.json()["callbackUrl"] is None


def test_posting_again_updates_the_callback_url_and_keeps_the_token(api):
    first = api.post(CONFIGURATION, json={"callbackUrl": "https://example.com/one"}).json()

    second = api.post(CONFIGURATION, json={"callbackUrl": "https://example.com/two"}).json()

    assert second["token"] == first["token"]
    assert second["callbackUrl"] == "https://example.com/two"
    assert api.get(CONFIGURATION).json() == second


def test_reading_an_unconfigured_number_is_404(api):
    response = api.get(CONFIGURATION)

    assert response.status_code == 404
    assert response.json()["key"] == "NotFound"


def test_deleting_forgets_the_token_and_a_new_configuration_gets_a_new_one(api):
    first = api.post(CONFIGURATION, json={"callbackUrl": "https://example.com/aircall"}).json()

    deleted = api.delete(CONFIGURATION)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(CONFIGURATION).status_code == 404
    assert api.delete(CONFIGURATION).status_code == 404
    again = api.post(CONFIGURATION, json={"callbackUrl": "https://example.com/aircall"}).json()
    assert again["token"] != first["token"]


def test_an_unknown_number_cannot_be_configured(api):
    for method in ("POST", "GET", "DELETE"):
        response = api.request(method, "/v1/numbers/424242/messages/configuration")
        assert response.status_code == 404, method
        assert response.json()["key"] == "NotFound"


def test_a_callback_url_must_be_an_http_url(api):
    response = api.post(CONFIGURATION, json={"callbackUrl": "ftp://example.com"})

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"


def test_a_number_without_sms_cannot_be_configured(api):
    response = api.post("/v1/numbers/100007/messages/configuration", json={"callbackUrl": "https://example.com"})

    assert response.status_code == 403
    assert response.json()["key"] == "ForbiddenException"


def test_an_http_callback_url_is_refused_because_aircall_requires_https(start_sandbox):
    running = start_sandbox(allow_http_loopback_callbacks=False)

    response = running.api.post(CONFIGURATION, json={"callbackUrl": "http://example.com/aircall"})

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"
    assert "https://" in response.json()["message"]
    assert running.api.get(CONFIGURATION).status_code == 404


def test_without_the_allowance_even_a_loopback_http_callback_url_is_refused(start_sandbox):
    running = start_sandbox(allow_http_loopback_callbacks=False)

    response = running.api.post(CONFIGURATION, json={"callbackUrl": "http://127.0.0.1:3000/webhooks/aircall"})

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:3000/webhooks/aircall", "http://127.9.9.9/cb", "http://localhost:8080/cb", "http://[::1]:80/cb"],
)
def test_the_loopback_allowance_lets_plain_http_through_to_a_loopback_host(start_sandbox, url):
    running = start_sandbox(allow_http_loopback_callbacks=True)

    response = running.api.post(CONFIGURATION, json={"callbackUrl": url})

    assert response.status_code == 200
    assert response.json()["callbackUrl"] == url


@pytest.mark.parametrize("url", ["http://example.com/cb", "http://10.0.0.7/cb", "http://127.0.0.1.example.com/cb"])
def test_the_loopback_allowance_still_refuses_plain_http_to_any_other_host(start_sandbox, url):
    running = start_sandbox(allow_http_loopback_callbacks=True)

    response = running.api.post(CONFIGURATION, json={"callbackUrl": url})

    assert response.status_code == 400
    assert "loopback" in response.json()["message"]


@pytest.mark.parametrize("url", ["https://", "https:///path", "example.com/cb", 42])
def test_a_callback_url_without_a_host_or_scheme_is_refused(api, url):
    response = api.post(CONFIGURATION, json={"callbackUrl": url})

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"


def test_the_account_webhook_needs_https_too(start_sandbox):
    running = start_sandbox(allow_http_loopback_callbacks=False)

    refused = running.control.post("/_sandbox/webhook", json={"url": "http://127.0.0.1:3000/hook"})
    accepted = running.control.post("/_sandbox/webhook", json={"url": "https://example.com/hook"})

    assert refused.status_code == 400
    assert "https://" in refused.json()["error"]
    assert accepted.status_code == 200
