"""Integration fixtures: the DynamoDB emulator (moto server over HTTP, tables created from template.yaml) and
the Aircall sandbox over HTTP, both started once per session; the use cases run in-process against them."""

from __future__ import annotations

import functools
import json
import os

import httpx
import pytest

from aircall_sandbox import SandboxConfig, SandboxServer
from local_stack.dynamodb import DynamoDBEmulator, client, create_tables
from local_stack.stack import create_bucket
from local_stack.template import STACK_NAME, table_specs
from tests import support
from tests.support import ROOT, reset_gateway_caches

SECRET_NAME = "aircall-sms-gateway/aircall-credentials"
MEDIA_BUCKET = "aircall-sms-gateway-test-media"
EVENT_BUS = f"{STACK_NAME}-aircall-sms"  # the template's bus, as the local stack names it: the roles allow that one


@pytest.fixture(scope="session")
def emulator():
    with DynamoDBEmulator(port=0) as running:
        create_tables(running.url, table_specs(ROOT / "template.yaml"))
        create_bucket(client("s3", running.url), MEDIA_BUCKET)
        client("events", running.url).create_event_bus(Name=EVENT_BUS)
        yield running


@pytest.fixture(scope="session")
def sandbox():
    # The gateway's CALLBACK_URL here is plain HTTP on loopback, which Aircall (and a strict sandbox) refuses.
    with SandboxServer(SandboxConfig(callback_delay_ms=10, allow_http_loopback_callbacks=True)) as server:
        yield server


@pytest.fixture(scope="session")
def _credentials_secret(emulator, sandbox):
    config = sandbox.config
    client("secretsmanager", emulator.url).create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"api_id": config.api_id, "api_token": config.api_token})
    )


@pytest.fixture
def gateway(emulator, sandbox, _credentials_secret, monkeypatch):
    """The gateway's environment pointed at the emulator and the sandbox, with every cache reset."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", emulator.url)  # an erasure publishes contact.erased
    monkeypatch.setenv("EVENT_BUS_NAME", EVENT_BUS)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", emulator.url)  # inbound MMS files
    monkeypatch.setenv("MEDIA_BUCKET", MEDIA_BUCKET)
    monkeypatch.setenv("AIRCALL_API_BASE_URL", sandbox.url)
    monkeypatch.setenv("AIRCALL_CREDENTIALS_SECRET", SECRET_NAME)
    monkeypatch.setenv("AIRCALL_READ_TIMEOUT", "2")
    monkeypatch.setenv("CALLBACK_URL", "http://127.0.0.1:9/webhooks/aircall")
    # No quiet hours unless a test sets its own (the defaults would make a marketing send depend on the hour the
    # suite runs at); tests/integration/test_quiet_hours.py sets them.
    monkeypatch.setenv("QUIET_HOURS_JSON", "{}")
    reset_gateway_caches()
    _empty_tables(emulator.url, ("LedgerTable", "ContactsTable", "CallbacksTable"))
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    yield sandbox
    httpx.delete(f"{sandbox.url}/_sandbox/faults")
    reset_gateway_caches()


@pytest.fixture
def sandbox_variant(gateway, monkeypatch):
    """Start another sandbox with `SandboxConfig` overrides (one of Aircall's documented variants) and point the
    gateway at it, as `gateway` points it at the session's sandbox (the same default credentials)."""
    started: list[SandboxServer] = []

    def start(**overrides):
        settings = {"callback_delay_ms": 10, "allow_http_loopback_callbacks": True} | overrides
        server = SandboxServer(SandboxConfig(**settings)).start()
        started.append(server)
        monkeypatch.setenv("AIRCALL_API_BASE_URL", server.url)
        reset_gateway_caches()
        return server

    yield start
    for server in started:
        server.stop()
    reset_gateway_caches()


def _empty_tables(url, tables):
    """Quota counters, budgets, idempotency records, contact facts and recorded callbacks start empty in every
    test (the archive and the numbers keep their items: their ids never collide)."""
    dynamodb = _dynamodb(url)
    for table in tables:
        key_names = [key["AttributeName"] for key in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                dynamodb.delete_item(TableName=table, Key={name: item[name] for name in key_names})


@functools.cache
def _dynamodb(url):
    """One client per emulator for the per-test cleanup (creating a botocore client costs more than the cleanup)."""
    return client("dynamodb", url)


@pytest.fixture
def sandbox_api(sandbox):
    """An httpx client for the sandbox's control routes."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as http:
        yield http


def callback_token(sandbox, number_id: int) -> str:
    return support.callback_token(sandbox.url, sandbox.config.api_id, sandbox.config.api_token, number_id)


os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def held_to_policies():
    """Handlers invoked through `support.invoke`, and blocks run `support.as_function(...)`, are held to their
    role's policy in template.yaml, as in AWS: a grant missing there fails the test that needed it."""
    support.POLICIES.held = True
    start = len(support.POLICIES.denials)
    yield
    support.POLICIES.held = False
    refused = support.POLICIES.denials.since(start)
    assert not refused, "template.yaml does not allow: " + "; ".join(str(denial) for denial in refused)
