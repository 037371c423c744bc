"""Timeouts that add up: the invocation's budget (domain.deadline) on a fake clock, the Aircall client's timeouts
taken from it (httpx.MockTransport sees each request's timeouts), DynamoDB attempts refused when a whole one no
longer fits, and the template's function timeouts checked against the sums docs/operations.md gives."""

from __future__ import annotations

import httpx
import pytest

from aircall_sms.clients.aircall import (
    MIN_READ_TIMEOUT,
    AircallClient,
    AircallNotStarted,
    Credentials,
    gateway_error,
)
from aircall_sms.domain import deadline
from aircall_sms.domain.deadline import MARGIN, Budget, CallTimeouts
from aircall_sms.errors import ServiceBusy
from aircall_sms.settings import Settings
from local_stack.template import functions
from tests.support import ROOT

API_GATEWAY_TIMEOUT = 29.0  # seconds: API Gateway's integration timeout (a REST API's default and maximum)
CONNECT, READ = 3.05, 10.0  # the Aircall defaults (AIRCALL_CONNECT_TIMEOUT, AIRCALL_READ_TIMEOUT)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def defaults() -> Settings:
    return Settings.from_environ(dict.fromkeys(REQUIRED, "x"))


REQUIRED = ("MESSAGES_TABLE", "NUMBERS_TABLE", "LEDGER_TABLE", "CONTACTS_TABLE", "CALLBACKS_TABLE", "KEYS_TABLE")


# ------------------------------------------------------------------------------------------- the arithmetic
def test_a_budget_ends_the_margin_before_lambdas_own_end_and_counts_down():
    clock = FakeClock()
    budget = Budget.from_remaining(15_000, clock=clock)
    assert budget.left() == pytest.approx(15 - MARGIN)
    clock.now += 4
    assert budget.left() == pytest.approx(11 - MARGIN)
    assert budget.fits(11 - MARGIN) and not budget.fits(11)


def test_a_call_gets_its_full_timeouts_when_they_fit_after_what_it_keeps():
    budget = Budget.from_remaining(20_000, clock=FakeClock())
    assert budget.call_timeouts(connect=CONNECT, read=READ, keep=3, min_read=2) == CallTimeouts(CONNECT, READ)


def test_the_read_timeout_shrinks_to_what_is_left_after_the_connect_and_what_is_kept():
    clock = FakeClock()
    budget = Budget.from_remaining(20_000, clock=clock)
    clock.now += 10  # 9.5 s left: 3 kept, 3.05 to connect, 3.45 to read
    timeouts = budget.call_timeouts(connect=CONNECT, read=READ, keep=3, min_read=2)
    assert timeouts is not None
    assert timeouts.connect == CONNECT
    assert timeouts.read == pytest.approx(3.45)
    # connect + read + what is kept end exactly at the budget's end, never after it
    assert timeouts.connect + timeouts.read + 3 == pytest.approx(budget.left())


def test_a_call_that_could_not_wait_min_read_for_its_answer_is_not_started():
    clock = FakeClock()
    budget = Budget.from_remaining(20_000, clock=clock)
    clock.now += (20 - MARGIN) - (3 + CONNECT + 2) + 0.01  # just under keep + connect + min_read left
    assert budget.call_timeouts(connect=CONNECT, read=READ, keep=3, min_read=2) is None
    clock.now -= 0.02
    assert budget.call_timeouts(connect=CONNECT, read=READ, keep=3, min_read=2) is not None


def test_a_budget_past_its_end_fits_nothing_and_a_negative_remaining_time_is_zero():
    budget = Budget.from_remaining(-5, clock=FakeClock())
    assert budget.left() == pytest.approx(-MARGIN)
    assert not budget.fits(0)


def test_the_invocation_budget_is_set_for_the_body_only_and_none_outside():
    assert deadline.current() is None
    with deadline.invocation(9_000) as budget:
        assert deadline.current() is budget
        assert budget is not None and budget.left() <= 9 - MARGIN
    assert deadline.current() is None
    with deadline.invocation(None):
        assert deadline.current() is None


def test_the_remaining_time_is_read_from_lambdas_context():
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 4321

    assert deadline.remaining_ms_of(Context()) == 4321
    assert deadline.remaining_ms_of(object()) is None
    assert deadline.remaining_ms_of(None) is None


# ------------------------------------------------------------------------------------------- the Aircall client
def aircall_seeing(seen: list[httpx.Request]) -> AircallClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "SM1", "status": "pending"})

    return AircallClient(
        "https://api.example",
        Credentials(api_id="id", api_token="token"),
        connect_timeout=CONNECT,
        read_timeout=READ,
        keep_after=3.0,
        transport=httpx.MockTransport(answer),
    )


def test_without_a_budget_the_client_uses_its_configured_timeouts():
    seen: list[httpx.Request] = []
    aircall_seeing(seen).send_message("1", to="+33612345679", body="Hi", native=False)
    timeout = seen[0].extensions["timeout"]
    assert (timeout["connect"], timeout["read"]) == (CONNECT, READ)


def test_in_an_invocation_the_clients_read_timeout_is_what_the_budget_leaves():
    seen: list[httpx.Request] = []
    client = aircall_seeing(seen)
    with deadline.invocation(
        12_000, clock=FakeClock()
    ):  # 11.5 s left: 3 kept after the call, 3.05 to connect -> 5.45 to read
        client.send_message("1", to="+33612345679", body="Hi", native=False)
    timeout = seen[0].extensions["timeout"]
    assert timeout["connect"] == CONNECT
    assert timeout["read"] == pytest.approx(12 - MARGIN - 3 - CONNECT)
    assert timeout["write"] == timeout["pool"] == CONNECT


def test_in_an_invocation_too_short_for_the_call_nothing_is_sent_and_the_answer_is_503():
    seen: list[httpx.Request] = []
    client = aircall_seeing(seen)
    too_short = int((MARGIN + 3 + CONNECT + MIN_READ_TIMEOUT) * 1000) - 1
    with deadline.invocation(too_short, clock=FakeClock()), pytest.raises(AircallNotStarted) as raised:
        client.send_message("1", to="+33612345679", body="Hi", native=False)
    assert seen == []  # the request never left
    error = gateway_error(raised.value)
    assert isinstance(error, ServiceBusy)
    assert (error.status, error.code, error.headers, error.details) == (
        503,
        "service_busy",
        {"Retry-After": "1"},
        {"sent": False},
    )


# ------------------------------------------------------------------------------------------- DynamoDB
def test_dynamodb_timeouts_and_retries_are_explicit_not_pynamodbs_15_and_30_seconds():
    settings = defaults()
    assert (settings.dynamodb_connect_timeout, settings.dynamodb_read_timeout) == (1.0, 2.0)
    assert settings.dynamodb_max_attempts == 3
    assert settings.dynamodb_attempt_seconds == 3.0


def test_the_shared_connection_uses_them_with_botocores_standard_retry_mode(monkeypatch):
    from aircall_sms.settings import get_settings
    from aircall_sms.store import base

    for name in REQUIRED:
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("DYNAMODB_READ_TIMEOUT", "1.5")
    get_settings.cache_clear()
    base.forget_connection()
    try:
        client = base.raw_client()
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (1.0, 1.5)
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        other = base.aws_client("secretsmanager").meta.config
        assert (other.connect_timeout, other.read_timeout, other.retries) == (1.0, 1.5, config.retries)
    finally:
        base.forget_connection()
        get_settings.cache_clear()


def test_a_dynamodb_attempt_that_would_not_fit_is_not_started(monkeypatch):
    """The shared client's `before-send` hook: with less than one whole attempt left, no request goes out and
    the caller gets ServiceBusy (503, Retry-After)."""
    from aircall_sms.settings import get_settings
    from aircall_sms.store import base

    for name in REQUIRED:
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    get_settings.cache_clear()
    base.forget_connection()
    sent: list[object] = []
    try:
        client = base.raw_client()

        def answer(request: object, **_: object) -> None:
            sent.append(request)
            raise AssertionError("an attempt without the time for it went out")

        client.meta.events.register_last("before-send.dynamodb", answer)
        with deadline.invocation(int((MARGIN + 3.0) * 1000) - 50), pytest.raises(ServiceBusy) as raised:
            client.get_item(TableName="x", Key={"pk": {"S": "a"}})
        assert raised.value.headers == {"Retry-After": "1"}
        assert sent == []
    finally:
        base.forget_connection()
        get_settings.cache_clear()


# ------------------------------------------------------------------------------------------- the template
def timeouts() -> dict[str, float]:
    return {logical_id: float(spec.timeout) for logical_id, spec in functions(ROOT / "template.yaml").items()}


def test_the_send_functions_timeout_holds_aircalls_timeouts_and_a_dynamodb_attempt_on_each_side():
    """A send: its reads and reservation (at least one whole DynamoDB attempt), Aircall's full connect and read
    timeouts, one whole attempt kept to record the outcome, and the margin; under API Gateway's timeout."""
    attempt = defaults().dynamodb_attempt_seconds
    needed = attempt + CONNECT + READ + attempt + MARGIN
    timeout = timeouts()["SendFunction"]
    assert needed <= timeout < API_GATEWAY_TIMEOUT


def test_the_manage_functions_timeout_holds_two_aircall_calls_of_put_numbers():
    """PUT /numbers: the number read, Aircall's GET of the number, `configuring` stored, Aircall's configuration
    (its read shortened to what is left, at least MIN_READ_TIMEOUT), the final write, the margin."""
    attempt = defaults().dynamodb_attempt_seconds
    needed = attempt + (CONNECT + READ) + attempt + (CONNECT + MIN_READ_TIMEOUT) + attempt + MARGIN
    timeout = timeouts()["ManageFunction"]
    assert needed <= timeout < API_GATEWAY_TIMEOUT
