"""A missing or malformed Aircall credentials secret, over HTTP through the local stack: every route that calls
Aircall answers 503 `aircall_credentials_missing` with what to do (never a bare 5xx), nothing is archived or
reserved, and the secret's content never shows. The local stack keeps the secret in the emulator's Secrets
Manager, as a deployment does: the tests delete or corrupt it there, then let the gateway read it again (as a
new Lambda instance, or the cache's expiry, would)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from aws_lambda_powertools.utilities import parameters

from aircall_sms.use_cases import services
from local_stack.dynamodb import client

UK_OFFICE = 100006  # +44 20 3966 1234
UK_CONTACT = "+447400123461"  # written to by no other test of the suite


def forget_cached_credentials() -> None:
    parameters.clear_caches()
    services._client = None


@pytest.fixture
def secrets(stack) -> Iterator[object]:
    """The emulator's Secrets Manager; the stack's credentials are put back afterwards."""
    secretsmanager = client("secretsmanager", stack.dynamodb_url)
    good = secretsmanager.get_secret_value(SecretId=stack.secret_name)["SecretString"]
    yield secretsmanager
    try:
        secretsmanager.put_secret_value(SecretId=stack.secret_name, SecretString=good)
    except secretsmanager.exceptions.ResourceNotFoundException:
        secretsmanager.create_secret(Name=stack.secret_name, SecretString=good)
    forget_cached_credentials()


def delete(stack, secretsmanager) -> None:
    secretsmanager.delete_secret(SecretId=stack.secret_name, ForceDeleteWithoutRecovery=True)


def not_json(stack, secretsmanager) -> None:
    secretsmanager.put_secret_value(SecretId=stack.secret_name, SecretString="api_id=abc api_token=xyz")


def without_token(stack, secretsmanager) -> None:
    secretsmanager.put_secret_value(SecretId=stack.secret_name, SecretString=json.dumps({"api_id": "abc"}))


BREAKAGES: dict[str, Callable[..., None]] = {"deleted": delete, "not JSON": not_json, "no token": without_token}


def archived(stack) -> int:
    dynamodb = client("dynamodb", stack.dynamodb_url)
    return int(dynamodb.scan(TableName=stack.tables["MessagesTable"], Select="COUNT")["Count"])


def assert_credentials_missing(answer: httpx.Response, secret_name: str) -> None:
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "aircall_credentials_missing"
    assert secret_name in error["message"]
    assert "api_id" in error["message"] and "make deploy" in error["message"]
    assert error["details"]["secret"] == secret_name
    # What the broken secret held is never echoed.
    assert "xyz" not in answer.text


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_every_route_that_calls_aircall_says_the_credentials_are_missing(stack, api, aircall, secrets, breakage):
    # Given a number configured while the credentials were good, then the secret broken
    assert api.put(f"/numbers/{UK_OFFICE}", json={"mode": "proxy"}).status_code in (200, 201)
    quota_before = api.get(f"/numbers/{UK_OFFICE}/quota").json()
    archived_before = archived(stack)
    BREAKAGES[breakage](stack, secrets)
    forget_cached_credentials()
    aircall_calls_before = len(aircall.get("/_sandbox/requests").json()["requests"])
    # When each route that calls Aircall is asked
    sent = api.post("/messages", json={"from": UK_OFFICE, "to": UK_CONTACT, "text": "Hello"})
    configured = api.put(f"/numbers/{UK_OFFICE}", json={"mode": "proxy"})
    removed = api.delete(f"/numbers/{UK_OFFICE}")
    listed = api.get("/aircall/numbers")
    # Then each says what is wrong and what to do
    for answer in (sent, configured, removed, listed):
        assert_credentials_missing(answer, stack.secret_name)
    # And nothing was archived, reserved, removed, or asked of Aircall
    assert archived(stack) == archived_before
    assert api.get(f"/numbers/{UK_OFFICE}/quota").json()["used"] == quota_before["used"]
    assert api.get(f"/numbers/{UK_OFFICE}").status_code == 200
    assert len(aircall.get("/_sandbox/requests").json()["requests"]) == aircall_calls_before


def test_a_dry_run_needs_no_credentials(stack, api, secrets):
    # A dry run calls nobody: it still answers while the secret is gone.
    assert api.put(f"/numbers/{UK_OFFICE}", json={"mode": "proxy"}).status_code in (200, 201)
    delete(stack, secrets)
    forget_cached_credentials()
    answer = api.post("/messages", json={"from": UK_OFFICE, "to": UK_CONTACT, "text": "Hello", "dry_run": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "allowed", answer.text


def test_the_gateway_works_again_once_the_secret_is_put_back(stack, api, secrets):
    good = secrets.get_secret_value(SecretId=stack.secret_name)["SecretString"]
    not_json(stack, secrets)
    forget_cached_credentials()
    assert api.put(f"/numbers/{UK_OFFICE}", json={"mode": "proxy"}).status_code == 503
    secrets.put_secret_value(SecretId=stack.secret_name, SecretString=good)
    forget_cached_credentials()
    assert api.put(f"/numbers/{UK_OFFICE}", json={"mode": "proxy"}).status_code in (200, 201)
