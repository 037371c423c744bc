"""Authentication: Basic (api_id:api_token) and Bearer (access token) on every /v1 route; controls are open.
As measured against Aircall: 401 only when no credentials come, 403 {"message": "Forbidden"} for wrong ones."""

import json

import pytest

API_ID = "sandbox-api-id"
API_TOKEN = "sandbox-api-token"
ACCESS_TOKEN = "sandbox-oauth-token"


def test_basic_auth_with_the_default_credentials_pings(api):
    response = api.get("/v1/ping")

    assert response.status_code == 200
    assert response.json() == {"ping": "pong"}


def test_bearer_auth_with_the_access_token_pings(sandbox):
    response = sandbox.control.get("/v1/ping", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"})

    assert response.status_code == 200
    assert response.json() == {"ping": "pong"}


def test_a_request_without_credentials_is_401_unauthorized(sandbox):
    response = sandbox.control.get("/v1/numbers")

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_wrong_api_token_is_403_forbidden(sandbox):
    response = sandbox.control.get("/v1/numbers", auth=(API_ID, "wrong"))

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_a_wrong_api_id_is_403_forbidden(sandbox):
    response = sandbox.control.get("/v1/numbers", auth=("someone-else", API_TOKEN))

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_a_wrong_bearer_token_is_403_forbidden(sandbox):
    response = sandbox.control.get("/v1/ping", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


@pytest.mark.parametrize("header", ["Basic not-base64!", "Token abc", "Bearer", ""], ids=repr)
def test_an_authorization_header_that_cannot_be_read_is_403_forbidden(sandbox, header):
    response = sandbox.control.get("/v1/ping", headers={"Authorization": header})

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_missing_credentials_are_401_on_every_v1_route(sandbox):
    for method, path in [
        ("GET", "/v1/ping"),
        ("GET", "/v1/numbers/100001"),
        ("POST", "/v1/numbers/100001/messages/configuration"),
        ("POST", "/v1/numbers/100001/messages/native/send"),
        ("GET", "/v1/does-not-exist"),
    ]:
        assert sandbox.control.request(method, path).status_code == 401, path


def test_custom_credentials_replace_the_defaults(start_sandbox):
    running = start_sandbox(api_id="my-id", api_token="my-token", access_token="my-oauth")

    assert running.control.get("/v1/ping", auth=("my-id", "my-token")).status_code == 200
    assert running.control.get("/v1/ping", headers={"Authorization": "Bearer my-oauth"}).status_code == 200
    assert running.control.get("/v1/ping", auth=(API_ID, API_TOKEN)).status_code == 403


def test_the_request_log_names_the_scheme_but_never_the_credentials(sandbox, control):
    sandbox.control.get("/v1/ping", auth=(API_ID, API_TOKEN))
    sandbox.control.get("/v1/ping", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"})
    sandbox.control.get("/v1/ping", auth=(API_ID, "a-wrong-secret"))

    log = control.get("/_sandbox/requests").json()["requests"]

    assert [(entry["auth_scheme"], entry["status"]) for entry in log] == [
        ("basic", 200),
        ("bearer", 200),
        ("basic", 403),
    ]
    text = json.dumps(log)
    for secret in (API_TOKEN, ACCESS_TOKEN, "a-wrong-secret"):
        assert secret not in text


def test_controls_need_no_auth(control):
    response = control.get("/_sandbox/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_an_unknown_v1_route_is_404_in_aircall_shape(api):
    response = api.get("/v1/calls")

    assert response.status_code == 404
    assert response.json()["key"] == "NotFound"
