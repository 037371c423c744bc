"""The company request budget: a fixed window per sandbox-clock minute, shared by every /v1 request."""

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

RATE_HEADERS = ("X-AircallApi-Limit", "X-AircallApi-Remaining", "X-AircallApi-Reset")


@pytest.fixture
def small_budget(start_sandbox):
    # The `always` variant: rate headers on every answer, so each test can read the budget (by default they come
    # only with a 429, as the reference says; see the on_429 tests below).
    running = start_sandbox(requests_per_minute=5, rate_headers="always")
    # Start at the top of a minute so no window boundary falls inside the test.
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})
    return running


def test_every_response_carries_the_limit_the_remaining_count_and_the_reset(small_budget):
    responses = [small_budget.api.get("/v1/ping") for _ in range(3)]

    assert [response.headers["X-AircallApi-Limit"] for response in responses] == ["5", "5", "5"]
    assert [response.headers["X-AircallApi-Remaining"] for response in responses] == ["4", "3", "2"]
    reset = int(responses[0].headers["X-AircallApi-Reset"])
    now = small_budget.control.get("/_sandbox/clock").json()["epoch_ms"] / 1000
    assert reset == math.floor(now / 60) * 60 + 60


def test_the_request_over_budget_is_429_and_consumes_nothing(small_budget):
    for _ in range(5):
        assert small_budget.api.get("/v1/ping").status_code == 200

    refused = [small_budget.api.get("/v1/ping") for _ in range(3)]

    assert {response.status_code for response in refused} == {429}
    assert refused[0].json()["key"] == "TooManyRequests"
    assert refused[0].headers["X-AircallApi-Remaining"] == "0"
    assert int(refused[0].headers["X-AircallApi-Reset"]) % 60 == 0
    company = small_budget.control.get("/_sandbox/usage").json()["company"]
    assert company == {"limit": 5, "used": 5, "remaining": 0, "reset": int(refused[0].headers["X-AircallApi-Reset"])}


def test_every_endpoint_shares_the_budget(small_budget):
    api = small_budget.api
    api.get("/v1/numbers")
    api.post("/v1/numbers/100001/messages/configuration", json={})
    api.get("/v1/numbers/100001/messages/configuration")
    api.post("/v1/numbers/100001/messages/send", json={"to": "+14155550100", "body": "hi"})
    api.get("/v1/unknown-route")

    assert api.get("/v1/ping").status_code == 429


def test_the_budget_comes_back_when_the_minute_turns(small_budget):
    for _ in range(5):
        small_budget.api.get("/v1/ping")
    assert small_budget.api.get("/v1/ping").status_code == 429

    small_budget.control.post("/_sandbox/clock", json={"advance_seconds": 60})

    response = small_budget.api.get("/v1/ping")
    assert response.status_code == 200
    assert response.headers["X-AircallApi-Remaining"] == "4"


def test_authentication_failures_consume_no_budget(small_budget):
    for _ in range(10):
        assert small_budget.control.get("/v1/ping", auth=("sandbox-api-id", "wrong")).status_code == 403
        assert small_budget.control.get("/v1/ping").status_code == 401

    assert small_budget.api.get("/v1/ping").headers["X-AircallApi-Remaining"] == "4"


def test_controls_consume_no_budget(small_budget):
    for _ in range(10):
        small_budget.control.get("/_sandbox/usage")

    assert small_budget.api.get("/v1/ping").headers["X-AircallApi-Remaining"] == "4"


def test_in_on_429_mode_only_the_refusal_carries_the_headers(start_sandbox):
    running = start_sandbox(requests_per_minute=1, rate_headers="on_429")
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})

    admitted = running.api.get("/v1/ping")
    refused = running.api.get("/v1/ping")

    assert admitted.status_code == 200
    assert not any(header in admitted.headers for header in RATE_HEADERS)
    assert refused.status_code == 429
    assert all(header in refused.headers for header in RATE_HEADERS)


def test_concurrent_requests_never_exceed_the_budget(start_sandbox):
    running = start_sandbox(requests_per_minute=10)
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: running.api.get("/v1/ping").status_code, range(30)))

    assert sorted(statuses) == [200] * 10 + [429] * 20


def test_in_on_429_mode_an_injected_429_carries_the_headers_too(start_sandbox):
    running = start_sandbox(rate_headers="on_429")
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})
    running.control.post("/_sandbox/faults", json={"status": 429})

    refused = running.api.get("/v1/ping")

    assert refused.status_code == 429
    assert refused.headers["X-AircallApi-Reset"] == str(1_773_136_860)  # 2026-03-10T10:01:00Z


def test_rejected_credentials_carry_no_rate_headers(small_budget):
    forbidden = small_budget.control.get("/v1/ping", auth=("sandbox-api-id", "wrong"))
    unauthorized = small_budget.control.get("/v1/ping")

    for response in (forbidden, unauthorized):
        assert not any(header in response.headers for header in RATE_HEADERS)


def test_the_reset_header_is_in_unix_seconds_by_default(small_budget):
    response = small_budget.api.get("/v1/ping")

    assert response.headers["X-AircallApi-Reset"] == str(1_773_136_860)


def test_the_reset_header_can_be_in_milliseconds(start_sandbox):
    running = start_sandbox(rate_reset_unit="milliseconds", rate_headers="always")
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})

    response = running.api.get("/v1/ping")

    assert response.headers["X-AircallApi-Reset"] == str(1_773_136_860_000)
