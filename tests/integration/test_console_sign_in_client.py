"""The console's OAuth client id, found in the user pool as deployed (the template cannot hand it to the function
without a dependency cycle): ListUserPoolClients on the emulator's Cognito, the client named "console"."""

from __future__ import annotations

import pytest

from aircall_sms.use_cases import sign_in
from local_stack.dynamodb import client
from tests.support import reset_gateway_caches

pytestmark = pytest.mark.integration


@pytest.fixture
def pool(emulator, monkeypatch):
    cognito = client("cognito-idp", emulator.url)
    pool_id = cognito.create_user_pool(PoolName="aircall-sms-gateway-console")["UserPool"]["Id"]
    for name in ("another-app", "console"):
        cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, GenerateSecret=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", emulator.url)
    monkeypatch.setenv("SIGN_IN_USER_POOL_ID", pool_id)
    monkeypatch.setenv("SIGN_IN_CLIENT_ID", "")
    reset_gateway_caches()
    yield cognito, pool_id
    reset_gateway_caches()


def test_the_console_client_is_the_pool_s_client_named_console(pool):
    cognito, pool_id = pool
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    expected = next(found["ClientId"] for found in clients if found["ClientName"] == "console")
    assert sign_in.console_client_id() == expected


def test_a_given_client_id_wins_and_no_pool_is_read(pool, monkeypatch):
    monkeypatch.setenv("SIGN_IN_CLIENT_ID", "given-client")
    monkeypatch.setenv("SIGN_IN_USER_POOL_ID", "eu-west-1_doesnotexist")
    sign_in.console_client_id.cache_clear()
    assert sign_in.console_client_id() == "given-client"


def test_a_pool_without_a_console_client_gives_no_client_id(pool, monkeypatch):
    cognito, _ = pool
    empty = cognito.create_user_pool(PoolName="empty")["UserPool"]["Id"]
    monkeypatch.setenv("SIGN_IN_USER_POOL_ID", empty)
    sign_in.console_client_id.cache_clear()
    assert sign_in.console_client_id() == ""
