"""Proxy-mode number configuration: POST / GET / DELETE /v1/numbers/{id}/messages/configuration."""

import re

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
