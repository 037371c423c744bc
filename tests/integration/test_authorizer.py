"""The client key authorizer against the emulator: the admin key from Secrets Manager, client keys from KeysTable
by digest, revocation, the per-instance cache (a warm authorizer reads nothing), the handler's answer to API
Gateway, and that no key of any shape gets anything but a 401."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircall_sms.domain.access import ADMIN_PRINCIPAL
from aircall_sms.domain.requests import KeyRequest
from aircall_sms.errors import Unauthorized
from aircall_sms.store.base import raw_client
from aircall_sms.use_cases import authorize, client_keys
from local_stack.dynamodb import client
from tests.support import FakeContext, load_event, load_handler

ADMIN_KEY = "sample-admin-key"  # the sample event's (events/authorizer_request.json)
ADMIN_SECRET = "aircall-sms-gateway/admin-key"  # the setting's default name


@pytest.fixture
def keys(gateway, emulator, monkeypatch):
    secrets = client("secretsmanager", emulator.url)
    try:
        secrets.create_secret(Name=ADMIN_SECRET, SecretString=ADMIN_KEY)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=ADMIN_SECRET, SecretString=ADMIN_KEY)
    monkeypatch.setenv("AUTHORIZER_CACHE_SECONDS", "0")
    authorize.forget()
    yield gateway
    authorize.forget()


def make_key(*scopes: str, numbers: list[int] | None = None) -> str:
    body = {"name": "test", "scopes": list(scopes), "number_ids": numbers}
    return str(client_keys.create_key(ADMIN_PRINCIPAL, KeyRequest.model_validate(body))["key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def reads_of(operation):
    """How many DynamoDB requests `operation()` made (botocore's own event, on the gateway's client)."""
    calls: list[str] = []
    events = raw_client().meta.events
    handler = events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        operation()
    finally:
        events.unregister("before-call.dynamodb", handler)
    return calls


def test_the_admin_key_is_read_from_secrets_manager(keys):
    assert authorize.authorize({"x-api-key": ADMIN_KEY}) == ADMIN_PRINCIPAL


def test_a_client_key_stands_for_its_scopes_and_numbers(keys):
    key = make_key("send", "read", numbers=[100004])
    principal = authorize.authorize(bearer(key))
    assert principal.client_id == key.split(".", 1)[0]
    assert principal.scopes == frozenset({"send", "read"})
    assert principal.number_ids == frozenset({"100004"})


def test_only_the_digest_of_a_key_is_stored(keys, emulator):
    key = make_key("read")
    secret = key.split(".", 1)[1]
    (item,) = [
        item
        for item in client("dynamodb", emulator.url).scan(TableName="KeysTable")["Items"]
        if item["key_id"]["S"] == key.split(".", 1)[0]
    ]
    assert secret not in json.dumps(item)
    assert item["secret_sha256"]["S"] != secret


def test_a_revoked_key_is_refused(keys):
    key = make_key("read")
    client_keys.revoke_key(ADMIN_PRINCIPAL, key.split(".", 1)[0])
    with pytest.raises(Unauthorized):
        authorize.authorize(bearer(key))


def test_a_warm_authorizer_answers_a_known_key_without_reading_dynamodb_until_its_cache_expires(keys, monkeypatch):
    monkeypatch.setenv("AUTHORIZER_CACHE_SECONDS", "300")
    from aircall_sms.settings import get_settings

    get_settings.cache_clear()
    key = make_key("read")
    assert reads_of(lambda: authorize.authorize(bearer(key))) == ["GetItem"]
    assert reads_of(lambda: authorize.authorize(bearer(key))) == []
    # A revocation is seen once the cached decision expires (here: the instance forgets it)
    client_keys.revoke_key(ADMIN_PRINCIPAL, key.split(".", 1)[0])
    assert authorize.authorize(bearer(key)).client_id == key.split(".", 1)[0]
    authorize.forget()
    with pytest.raises(Unauthorized):
        authorize.authorize(bearer(key))


def test_a_key_with_a_tampered_secret_is_refused(keys):
    key = make_key("read")
    tampered = key[:-1] + ("B" if key.endswith("A") else "A")
    with pytest.raises(Unauthorized):
        authorize.authorize(bearer(tampered))


def test_the_handler_allows_the_stage_for_a_valid_key_and_refuses_anything_else_with_unauthorized(keys):
    handler = load_handler("authorizer")
    event = load_event("authorizer_request")
    answer = handler.lambda_handler(event, FakeContext())
    assert answer["principalId"] == "admin"
    assert answer["context"] == {"client_id": "admin", "scopes": "admin", "number_ids": "*"}
    assert answer["policyDocument"]["Statement"][0]["Resource"].endswith(":abc123/v1/*/*")
    forged = load_event("authorizer_request", headers={"Authorization": "Bearer forged"})
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.lambda_handler(forged, FakeContext())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.one_of(
        st.text(max_size=700),
        st.from_regex(r"key_[0-9A-HJKMNP-TV-Z]{26}\.[A-Za-z0-9_-]{43}", fullmatch=True),
        st.binary(max_size=100).map(lambda raw: raw.decode("latin-1")),
    ),
    header=st.sampled_from(["x-api-key", "Authorization"]),
)
def test_no_key_of_any_shape_gets_anything_but_a_401(keys, key, header):
    value = f"Bearer {key}" if header == "Authorization" else key
    with pytest.raises(Unauthorized):
        authorize.authorize({header: value})
