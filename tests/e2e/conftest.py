"""The whole local stack over real HTTP: front -> handlers -> moto server; handlers -> Aircall sandbox ->
callbacks -> front -> handlers. Started once for the suite on ephemeral ports."""

from __future__ import annotations

import httpx
import pytest

from aircall_sandbox import SandboxConfig
from local_stack.stack import LocalStack
from tests.support import reset_gateway_caches

SUITE_REQUESTS_PER_MINUTE = 600


@pytest.fixture(scope="session")
def stack():
    reset_gateway_caches()
    # The stack's callback URL is its front: plain HTTP on loopback, which only this allowance lets through.
    # The suite is many stories of one company run back to back, faster than any company sends: the company's
    # Aircall budget (Aircall's 60 requests a minute, in the gateway and the sandbox alike) is raised for it, so a
    # story does not get 429 for the stories before it. The budget itself is proven where it is the subject
    # (tests/integration: the reservation, the dispatcher's pacing, Aircall's 429; bench/limiter_race.py).
    config = SandboxConfig(
        callback_delay_ms=20, allow_http_loopback_callbacks=True, requests_per_minute=SUITE_REQUESTS_PER_MINUTE
    )
    overrides = {"AircallRequestsPerMinute": str(SUITE_REQUESTS_PER_MINUTE)}
    with LocalStack(
        dynamodb_port=0, aircall_port=0, api_port=0, sandbox_config=config, parameter_overrides=overrides
    ) as running:
        reset_gateway_caches()
        yield running
    reset_gateway_caches()


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=15) as http:
        yield http


@pytest.fixture
def aircall(stack):
    """The sandbox's control routes."""
    with httpx.Client(base_url=stack.aircall_url, timeout=15) as http:
        http.post("/_sandbox/reset").raise_for_status()
        yield http


@pytest.fixture(autouse=True)
def held_to_policies(request):
    """The suite's stack holds each function to its role's policy in template.yaml (local_stack/iam.py): a call
    refused during a test fails it, even where the handler swallowed the refusal."""
    if "stack" not in request.fixturenames:
        yield
        return
    denials = request.getfixturevalue("stack").access_denials
    start = len(denials)
    yield
    refused = denials.since(start)
    assert not refused, "template.yaml does not allow: " + "; ".join(str(denial) for denial in refused)
