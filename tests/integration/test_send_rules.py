"""The send rules against the DynamoDB emulator and the Aircall sandbox, over HTTP: compliance, quota windows, the
company's Aircall request budget (ours and what Aircall says), dry runs and request validation.

Every refusal is checked for what it must leave behind: nothing reserved (the ledger's counters are unchanged),
the request archived as `rejected` with its reason (rules and limits) or not at all (validation), and no send
reaching Aircall (the sandbox's request log)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from aircall_sms.domain import phone, timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest, SendRequest
from aircall_sms.domain.timeutil import iso, parse_time
from aircall_sms.errors import GatewayError
from aircall_sms.settings import get_settings
from aircall_sms.store import contacts, ledger, messages, numbers
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases import services
from aircall_sms.use_cases.callbacks import handle_callback
from aircall_sms.use_cases.send import send_message
from aircall_sms.use_cases.send.outcome import SendOutcome
from local_stack.dynamodb import client as aws_client

US_LOCAL = "100001"  # +1 424-416-2288
US_TOLL_FREE = "100002"  # +1 833-467-0142
FR_MOBILE = "100004"  # +33 6 12 34 56 78
FR_FIXED = "100005"  # +33 1 86 95 42 10
FR_FIXED_E164 = "+33186954210"
UK_FIXED = "100006"  # +44 20 3966 1234

FR_CONTACT = "+33612345679"
FR_OTHER_CONTACT = "+33612345680"
US_CONTACT = "+14244162290"
CA_CONTACT = "+14388132299"
GB_CONTACT = "+447400123456"

GSM_2_SEGMENTS = "a" * 161
GSM_4_SEGMENTS = "a" * 460
EVIDENCE = {"source": "web_form", "captured_at": "2026-11-01T10:00:00Z", "text": "Yes, send me offers"}


# ------------------------------------------------------------------------------------------------ helpers
@dataclass
class World:
    """What a test can observe of the gateway's effects: ledger counters, the archive, the sandbox's log."""

    dynamodb: Any
    sandbox_api: httpx.Client
    configured: set[str] = field(default_factory=set)
    seen_messages: set[str] = field(default_factory=set)

    def counters(self) -> dict[tuple[str, str], int]:
        """Every ledger counter (quota windows and the company's request budget) by (pk, sk)."""
        found = {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=get_settings().ledger_table):
            for item in page["Items"]:
                if "used" in item:
                    found[(item["pk"]["S"], item["sk"]["S"])] = int(item["used"]["N"])
        return found

    def quota(self, number_id: str, window: str = "hour") -> int:
        """`used` of the number's current `window` counter (0 when no counter exists)."""
        prefix = f"{window}#"
        used = [
            value
            for (pk, sk), value in self.counters().items()
            if pk == ledger.quota_pk(number_id) and sk.startswith(prefix)
        ]
        assert len(used) <= 1, f"several {window} windows charged: {used}"
        return used[0] if used else 0

    def company_requests(self) -> int:
        return sum(value for (pk, sk), value in self.counters().items() if pk == ledger.COMPANY)

    def aircall_state(self) -> dict[str, Any]:
        answer = self.dynamodb.get_item(
            TableName=get_settings().ledger_table,
            Key={"pk": {"S": ledger.COMPANY}, "sk": {"S": ledger.AIRCALL_STATE}},
            ConsistentRead=True,
        )
        return dict(answer.get("Item") or {})

    def message_ids(self) -> set[str]:
        ids: set[str] = set()
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=get_settings().messages_table, ProjectionExpression="id"
        ):
            ids.update(item["id"]["S"] for item in page["Items"])
        return ids

    def new_messages(self, since: set[str] | None = None) -> list[messages.MessageRecord]:
        """Archive records written since the test started (or since the ids `since` were read), oldest first."""
        known = self.seen_messages if since is None else since
        found = [messages.get(message_id) for message_id in self.message_ids() - known]
        return sorted((record for record in found if record is not None), key=lambda record: record.created_at)

    def aircall_sends(self) -> list[dict[str, Any]]:
        """The send requests that reached the sandbox (`/messages/send` or `/messages/native/send`)."""
        log = self.sandbox_api.get("/_sandbox/requests", params={"method": "POST"}).json()["requests"]
        return [entry for entry in log if entry["path"].endswith("/send")]

    def configure(
        self,
        number_id: str,
        *,
        registration: str = "none",
        limits: dict[str, int] | None = None,
    ) -> None:
        self.configured.add(number_id)
        number_use_cases.configure(
            ADMIN,
            number_id,
            NumberRequest.model_validate({"mode": "proxy", "registration": registration, "limits": limits}),
            request_callback_url="https://unused/webhooks/aircall",
        )


@pytest.fixture(scope="module")
def observer(emulator) -> Any:
    """One DynamoDB client for the module's observations (creating a client costs more than most calls)."""
    return aws_client("dynamodb", emulator.url)


@pytest.fixture
def world(gateway, observer, sandbox_api) -> Iterator[World]:
    observed = World(dynamodb=observer, sandbox_api=sandbox_api)
    observed.seen_messages = observed.message_ids()
    yield observed
    # The numbers table outlives the test: leave no configuration (limits, registration) to other modules.
    for number_id in observed.configured:
        numbers.delete(number_id)


def send(**fields: Any) -> SendOutcome:
    body = {"from": FR_FIXED, "to": FR_CONTACT, "text": "Bonjour !"} | fields
    return send_message(principal=ADMIN, request=SendRequest.model_validate(body))


def refused(**fields: Any) -> GatewayError:
    with pytest.raises(GatewayError) as raised:
        send(**fields)
    return raised.value


def freeze(at: datetime) -> None:
    """The gateway's clock stops at `at`; the sandbox keeps its own."""
    timeutil.freeze(at)


def this_hour_at(minute: int, second: int = 0) -> datetime:
    """A moment of the current UTC hour (the gateway's frozen clock stays near the sandbox's real one)."""
    return datetime.now(UTC).replace(minute=minute, second=second, microsecond=0)


def hour_end(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def set_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def assert_refused_and_archived(
    world: World, attempt: Callable[[], GatewayError], *, code: str, status: int, contact: str
) -> GatewayError:
    """`attempt` is refused with `code`: nothing reserved, no send reaching Aircall, archived as rejected."""
    counters, sends, known = world.counters(), len(world.aircall_sends()), world.message_ids()
    error = attempt()
    assert (error.code, error.status) == (code, status)
    assert world.counters() == counters, "a refused send reserved something"
    assert len(world.aircall_sends()) == sends, "a refused send reached Aircall"
    archived = world.new_messages(since=known)
    assert len(archived) == 1, f"the refused request is archived {len(archived)} times"
    record = archived[0]
    assert (record.status, record.contact, record.direction) == ("rejected", contact, "outbound")
    assert record.error is not None and record.error["code"] == code
    assert [change.status for change in record.status_history] == ["rejected"]
    return error


def assert_compliance_refusal(world: World, code: str, **fields: Any) -> GatewayError:
    contact = phone.parse(fields.get("to", FR_CONTACT)).e164
    return assert_refused_and_archived(world, lambda: refused(**fields), code=code, status=403, contact=contact)


def assert_sent(world: World, **fields: Any) -> dict[str, Any]:
    sends = len(world.aircall_sends())
    outcome = send(**fields)
    assert outcome.status_code == 201, outcome.body
    assert outcome.body["message"]["status"] == "queued"
    assert len(world.aircall_sends()) == sends + 1
    message: dict[str, Any] = outcome.body["message"]
    return message


# ------------------------------------------------------------------------------------------------ domestic only
def test_a_french_number_may_not_text_a_recipient_abroad(world, subtests):
    world.configure(FR_FIXED)
    for recipient, region in ((GB_CONTACT, "GB"), ("+14155550100", "US")):
        with subtests.test(to=recipient):
            error = assert_compliance_refusal(world, "not_domestic", to=recipient)
            assert error.details == {"from_region": "FR", "to_region": region}


def test_an_approved_us_number_may_text_the_us_and_canada(world):
    assert phone.parse(CA_CONTACT).region == "CA"
    world.configure(US_LOCAL, registration="approved")
    assert_sent(world, **{"from": US_LOCAL, "to": US_CONTACT, "text": "Hi"})
    message = assert_sent(world, **{"from": US_LOCAL, "to": CA_CONTACT, "text": "Hi"})
    assert (message["from"], message["to"]) == ("+14244162288", CA_CONTACT)


# ------------------------------------------------------------------------------------------------ registration
def test_a_us_local_number_that_is_not_approved_may_not_send(world, subtests):
    for registration in ("none", "pending"):
        with subtests.test(registration=registration):
            world.configure(US_LOCAL, registration=registration)
            error = assert_compliance_refusal(
                world, "number_not_registered", **{"from": US_LOCAL, "to": US_CONTACT, "text": "Hi"}
            )
            assert error.details == {"registration": registration}


def test_a_pending_toll_free_number_may_text_the_us_but_not_canada(world):
    world.configure(US_TOLL_FREE, registration="pending")
    assert_sent(world, **{"from": US_TOLL_FREE, "to": US_CONTACT, "text": "Hi"})
    assert_compliance_refusal(world, "number_not_registered", **{"from": US_TOLL_FREE, "to": CA_CONTACT, "text": "Hi"})


def test_an_approved_toll_free_number_may_text_canada(world):
    world.configure(US_TOLL_FREE, registration="approved")
    assert_sent(world, **{"from": US_TOLL_FREE, "to": CA_CONTACT, "text": "Hi"})


# ------------------------------------------------------------------------------------------------ French mobile lines
def test_a_french_mobile_line_refuses_automated_purposes(world, subtests):
    world.configure(FR_MOBILE)
    contacts.record_inbound(FR_CONTACT, number_id=FR_MOBILE, at=datetime.now(UTC), message_id="msg_in_test")
    for purpose in ("transactional", "marketing"):
        with subtests.test(purpose=purpose):
            error = assert_compliance_refusal(world, "conversational_only", **{"from": FR_MOBILE, "purpose": purpose})
            assert error.details == {"purpose": purpose}


def test_a_french_mobile_line_may_not_write_first_to_a_contact_who_never_wrote(world):
    world.configure(FR_MOBILE)
    error = assert_compliance_refusal(world, "conversational_only", **{"from": FR_MOBILE})
    assert error.details == {"window_hours": 24}


def test_a_french_mobile_line_may_answer_a_contact_who_wrote_within_the_window(world):
    world.configure(FR_MOBILE)
    wrote_at = datetime.now(UTC) - timedelta(hours=23)
    contacts.record_inbound(FR_CONTACT, number_id=FR_MOBILE, at=wrote_at, message_id="msg_in_test")
    assert_sent(world, **{"from": FR_MOBILE})


def test_an_inbound_message_delivered_by_aircalls_callback_opens_the_conversation(world):
    world.configure(FR_MOBILE)
    assert_compliance_refusal(world, "conversational_only", **{"from": FR_MOBILE})
    received = world.sandbox_api.post(
        "/_sandbox/inbound", json={"number_id": int(FR_MOBILE), "from": FR_CONTACT, "body": "Bonjour, une question"}
    ).json()
    # The sandbox posted the callback to CALLBACK_URL, where nothing listens in tests: hand its payload over.
    delivery = received["delivery"]
    assert delivery is not None and delivery["payload"]["event"] == "message.received"
    assert handle_callback(json.dumps(delivery["payload"])).result == "archived"
    world.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 5})
    assert_sent(world, **{"from": FR_MOBILE})


def test_a_contact_who_wrote_25_hours_ago_is_outside_the_conversation_window(world):
    world.configure(FR_MOBILE)
    wrote_at = datetime.now(UTC) - timedelta(hours=25)
    contacts.record_inbound(FR_CONTACT, number_id=FR_MOBILE, at=wrote_at, message_id="msg_in_test")
    assert_compliance_refusal(world, "conversational_only", **{"from": FR_MOBILE})


def test_the_conversation_window_lasts_conversation_window_hours(world, monkeypatch):
    set_setting(monkeypatch, "CONVERSATION_WINDOW_HOURS", "48")
    world.configure(FR_MOBILE)
    wrote_at = datetime.now(UTC) - timedelta(hours=25)
    contacts.record_inbound(FR_CONTACT, number_id=FR_MOBILE, at=wrote_at, message_id="msg_in_test")
    assert_sent(world, **{"from": FR_MOBILE})


def test_a_message_written_by_a_person_needs_no_open_conversation(world):
    world.configure(FR_MOBILE)
    message = assert_sent(world, **{"from": FR_MOBILE, "human_author": "Camille"})
    assert message["human_author"] == "Camille"


# ------------------------------------------------------------------------------------------------ opt-outs
@pytest.mark.parametrize(("number_id", "scope"), [(FR_FIXED, "number"), (None, "company")], ids=["number", "company"])
def test_a_contact_who_opted_out_is_refused(world, number_id, scope):
    world.configure(FR_FIXED)
    contacts.opt_out(FR_CONTACT, number_id=number_id, at=datetime.now(UTC), source="test")
    error = assert_compliance_refusal(world, "opted_out")
    assert error.details == {"scope": scope}


def test_an_opt_out_of_another_number_does_not_refuse(world):
    world.configure(FR_FIXED)
    contacts.opt_out(FR_CONTACT, number_id=FR_MOBILE, at=datetime.now(UTC), source="test")
    assert_sent(world)


def test_opting_back_in_restores_sending(world, subtests):
    world.configure(FR_FIXED)
    for number_id in (FR_FIXED, None):
        with subtests.test(scope=number_id or "company"):
            contacts.opt_out(FR_CONTACT, number_id=number_id, at=datetime.now(UTC), source="test")
            assert_compliance_refusal(world, "opted_out")
            assert contacts.opt_in(FR_CONTACT, number_id=number_id, removed_by="test", at=datetime.now(UTC))
            assert_sent(world)


# ------------------------------------------------------------------------------------------------ consent
def test_marketing_without_a_consent_is_refused(world):
    world.configure(FR_FIXED)
    error = assert_compliance_refusal(world, "consent_required", purpose="marketing")
    assert error.details == {"purpose": "marketing"}


def test_marketing_with_a_consent_for_the_number_or_for_every_number_is_sent(world, subtests):
    world.configure(FR_FIXED)
    for contact, number_id in ((FR_CONTACT, FR_FIXED), (FR_OTHER_CONTACT, None)):
        with subtests.test(scope=number_id or "company"):
            contacts.record_consent(
                contact, purpose="marketing", number_id=number_id, evidence=EVIDENCE, changed_by="test"
            )
            message = assert_sent(world, to=contact, purpose="marketing")
            assert message["purpose"] == "marketing"


def test_a_consent_for_another_number_only_does_not_allow_marketing(world):
    world.configure(FR_FIXED)
    contacts.record_consent(FR_CONTACT, purpose="marketing", number_id=FR_MOBILE, evidence=EVIDENCE, changed_by="test")
    assert_compliance_refusal(world, "consent_required", purpose="marketing")


# ------------------------------------------------------------------------------------------------ quota windows
def test_sends_are_admitted_until_the_hour_window_is_full_then_quota_exceeded(world, monkeypatch):
    now = this_hour_at(30)
    freeze(now)
    world.configure(FR_FIXED, limits={"hour": 3})
    for _ in range(3):
        assert_sent(world)
    assert world.quota(FR_FIXED) == 3
    error = assert_refused_and_archived(world, refused, code="quota_exceeded", status=429, contact=FR_CONTACT)
    assert error.details == {
        "window": "hour",
        "limit": 3,
        "used": 3,
        "segments": 1,
        "retry_after": 1800,
        "resets_at": iso(hour_end(now)),
    }
    assert error.headers == {"Retry-After": "1800"}
    assert (world.quota(FR_FIXED), world.quota(FR_FIXED, "day"), world.quota(FR_FIXED, "month")) == (3, 3, 3)


def test_a_multi_segment_message_counts_every_segment_and_must_fit_in_the_room_left(world):
    world.configure(FR_FIXED, limits={"hour": 3})
    message = assert_sent(world, text=GSM_2_SEGMENTS)
    assert message["segments"] == 2
    assert world.quota(FR_FIXED) == 2
    error = assert_refused_and_archived(
        world, lambda: refused(text=GSM_2_SEGMENTS), code="quota_exceeded", status=429, contact=FR_CONTACT
    )
    assert (error.details["used"], error.details["segments"]) == (2, 2)
    assert_sent(world, text="one segment still fits")
    assert world.quota(FR_FIXED) == 3


def test_a_message_with_more_segments_than_the_whole_limit_is_refused_on_a_fresh_window(world):
    world.configure(FR_FIXED, limits={"hour": 3})
    error = assert_refused_and_archived(
        world, lambda: refused(text=GSM_4_SEGMENTS), code="quota_exceeded", status=429, contact=FR_CONTACT
    )
    assert error.details["retry_after"] is None


def test_a_message_with_more_segments_than_the_whole_limit_is_refused_for_good_even_with_defer(world, subtests):
    world.configure(FR_FIXED, limits={"hour": 3})
    assert_sent(world)  # the window's counter exists (the fresh window is the test above)
    for on_limit in ("reject", "defer"):
        with subtests.test(on_limit=on_limit):
            error = assert_refused_and_archived(
                world,
                partial(refused, text=GSM_4_SEGMENTS, on_limit=on_limit),
                code="quota_exceeded",
                status=429,
                contact=FR_CONTACT,
            )
            assert (error.details["segments"], error.details["limit"], error.details["retry_after"]) == (4, 3, None)
            assert "Retry-After" not in error.headers
    assert world.quota(FR_FIXED) == 1


def test_on_limit_defer_defers_the_message_to_the_window_end_and_reserves_nothing(world, monkeypatch):
    now = this_hour_at(30)
    freeze(now)
    world.configure(FR_FIXED, limits={"hour": 3})
    for _ in range(3):
        assert_sent(world)
    counters, sends = world.counters(), len(world.aircall_sends())
    outcome = send(on_limit="defer")
    assert outcome.status_code == 202
    message = outcome.body["message"]
    assert (message["status"], message["aircall_id"]) == ("deferred", None)
    assert message["not_before"] == iso(hour_end(now))
    assert message["not_after"] == iso(now + timedelta(hours=24))
    assert (world.counters(), len(world.aircall_sends())) == (counters, sends)
    stored = messages.get(message["id"])
    assert stored is not None and (stored.status, stored.not_before) == ("deferred", iso(hour_end(now)))


def test_on_limit_defer_with_a_not_after_before_the_window_reopens_is_quota_exceeded(world, monkeypatch):
    now = this_hour_at(30)
    freeze(now)
    world.configure(FR_FIXED, limits={"hour": 3})
    for _ in range(3):
        assert_sent(world)
    not_after = (now + timedelta(minutes=10)).isoformat()
    error = assert_refused_and_archived(
        world,
        lambda: refused(on_limit="defer", not_after=not_after),
        code="quota_exceeded",
        status=429,
        contact=FR_CONTACT,
    )
    assert error.details["retry_after"] == 1800


def test_a_definite_aircall_refusal_is_aircall_error_and_gives_the_segments_back(world, subtests):
    world.configure(FR_FIXED, limits={"hour": 5})
    assert_sent(world)
    refusals = [
        ("SameDestinationAsSender", FR_FIXED_E164, None),
        ("SandboxFault", FR_CONTACT, {"status": 403, "path_contains": "/messages/send"}),
    ]
    for aircall_key, recipient, fault in refusals:
        with subtests.test(aircall_key=aircall_key):
            if fault:
                world.sandbox_api.post("/_sandbox/faults", json=fault).raise_for_status()
            sends, known = len(world.aircall_sends()), world.message_ids()
            error = refused(to=recipient, text=GSM_2_SEGMENTS)
            assert (error.code, error.status) == ("aircall_error", 502)
            assert error.details["aircall_key"] == aircall_key
            assert len(world.aircall_sends()) == sends + 1
            assert (world.quota(FR_FIXED), world.quota(FR_FIXED, "month")) == (1, 1)
            [record] = world.new_messages(since=known)
            assert record.status == "failed"
            assert record.error is not None and record.error["code"] == "aircall_error"


def test_a_timeout_after_the_request_left_is_aircall_timeout_and_keeps_the_segments(world, monkeypatch):
    world.configure(FR_FIXED, limits={"hour": 3})
    set_setting(monkeypatch, "AIRCALL_READ_TIMEOUT", "0.4")
    monkeypatch.setattr(services, "_client", None)  # a new Aircall client with the shorter timeout
    world.sandbox_api.post(
        "/_sandbox/faults", json={"latency_ms": 1000, "path_contains": "/messages/send", "mode": "after"}
    ).raise_for_status()
    error = refused(text=GSM_2_SEGMENTS)
    assert (error.code, error.status) == ("aircall_timeout", 504)
    assert world.quota(FR_FIXED) == 2
    [record] = world.new_messages()
    assert record.status == "unknown"
    assert record.error is not None and record.error["code"] == "aircall_timeout"
    # Aircall did send it; the sandbox logs the request once its slow answer is out (wait: no stray log entry).
    deadline = time.monotonic() + 5
    while not world.aircall_sends() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(world.aircall_sends()) == 1


# ------------------------------------------------------------------------------------------------ company budget
def test_the_company_budget_admits_its_requests_per_minute_then_rate_limited(world, monkeypatch):
    configured_at = this_hour_at(10, 30)
    freeze(configured_at)
    world.configure(FR_FIXED)  # two Aircall requests, in the minute before
    set_setting(monkeypatch, "AIRCALL_REQUESTS_PER_MINUTE", "3")
    freeze(configured_at + timedelta(minutes=1))
    for _ in range(3):
        assert_sent(world)
    error = assert_refused_and_archived(world, refused, code="rate_limited", status=429, contact=FR_CONTACT)
    assert error.headers == {"Retry-After": "30"}
    assert error.details == {"retry_after": 30, "resets_at": iso(configured_at + timedelta(minutes=1, seconds=30))}
    assert len(world.aircall_sends()) == 3


def test_on_limit_defer_defers_a_send_over_the_company_budget_to_the_next_minute(world, monkeypatch):
    configured_at = this_hour_at(10, 30)
    freeze(configured_at)
    world.configure(FR_FIXED)
    set_setting(monkeypatch, "AIRCALL_REQUESTS_PER_MINUTE", "3")
    freeze(configured_at + timedelta(minutes=1))
    for _ in range(3):
        assert_sent(world)
    counters = world.counters()
    outcome = send(on_limit="defer")
    assert outcome.status_code == 202
    assert outcome.body["message"]["status"] == "deferred"
    assert outcome.body["message"]["not_before"] == iso(configured_at + timedelta(minutes=1, seconds=30))
    assert world.counters() == counters
    assert len(world.aircall_sends()) == 3


def test_configuring_a_number_spends_the_company_budget(world, monkeypatch):
    set_setting(monkeypatch, "AIRCALL_REQUESTS_PER_MINUTE", "3")
    freeze(this_hour_at(20, 30))
    world.configure(FR_FIXED)  # GET the number, POST its configuration
    assert world.company_requests() == 2
    assert_sent(world)
    assert world.company_requests() == 3
    assert refused().code == "rate_limited"
    calls = len(world.sandbox_api.get("/_sandbox/requests").json()["requests"])
    with pytest.raises(GatewayError) as configuring:
        world.configure(FR_FIXED)
    assert configuring.value.code == "rate_limited"
    assert len(world.sandbox_api.get("/_sandbox/requests").json()["requests"]) == calls


# ------------------------------------------------------------------------------------------------ what Aircall says
def aircall_answers_429(world: World) -> datetime:
    """A send meets Aircall's 429; returns the moment the gateway now waits for (`blocked_until`)."""
    world.sandbox_api.post("/_sandbox/faults", json={"status": 429, "path_contains": "/messages/send"})
    error = refused(text=GSM_2_SEGMENTS)
    assert (error.code, error.status) == ("rate_limited", 429)
    assert int(error.headers["Retry-After"]) >= 1
    blocked_until = parse_time(world.aircall_state().get("blocked_until", {}).get("S"))
    assert blocked_until is not None and blocked_until > datetime.now(UTC)
    return blocked_until


def test_an_aircall_429_is_rate_limited_and_pauses_every_send_until_aircalls_reset(world, monkeypatch):
    world.configure(FR_FIXED, limits={"hour": 3})
    blocked_until = aircall_answers_429(world)
    assert world.quota(FR_FIXED) == 0  # the segments were given back
    [record] = world.new_messages()
    assert record.status == "rejected"
    assert record.error is not None and record.error["code"] == "rate_limited"
    sends = len(world.aircall_sends())
    freeze(blocked_until - timedelta(seconds=1))
    assert_refused_and_archived(world, refused, code="rate_limited", status=429, contact=FR_CONTACT)
    assert len(world.aircall_sends()) == sends  # refused without asking Aircall
    freeze(blocked_until)
    assert_sent(world)


def test_a_send_refused_while_aircall_pauses_is_told_to_retry_at_aircalls_reset(world, monkeypatch):
    world.configure(FR_FIXED)
    blocked_until = aircall_answers_429(world)
    freeze(blocked_until - timedelta(seconds=20))
    error = refused()
    assert error.code == "rate_limited"
    assert (error.details["retry_after"], error.headers) == (20, {"Retry-After": "20"})
    assert error.details["resets_at"] == iso(blocked_until)


def test_an_aircall_429_with_on_limit_defer_defers_the_message_to_aircalls_reset(world):
    world.configure(FR_FIXED, limits={"hour": 3})
    world.sandbox_api.post("/_sandbox/faults", json={"status": 429, "path_contains": "/messages/send"})
    outcome = send(on_limit="defer")
    assert outcome.status_code == 202
    message = outcome.body["message"]
    assert message["status"] == "deferred"
    blocked_until = parse_time(world.aircall_state()["blocked_until"]["S"])
    assert parse_time(message["not_before"]) == blocked_until
    assert world.quota(FR_FIXED) == 0
    stored = messages.get(message["id"])
    assert stored is not None and [change.status for change in stored.status_history] == ["unknown", "deferred"]


@pytest.mark.parametrize("rate_headers", ["on_429", "always"])
def test_aircall_saying_no_request_remains_pauses_sends_until_the_reset(world, sandbox_variant, rate_headers):
    # Aircall's rate headers come with its 429 (the reference: "when the rate limit has been reached"), and maybe on
    # every answer: either way the gateway learns the reset and stops calling Aircall until then.
    server = sandbox_variant(rate_headers=rate_headers)
    config = server.config
    with (
        httpx.Client(base_url=server.url, timeout=10) as control,
        httpx.Client(base_url=server.url, auth=(config.api_id, config.api_token)) as other_integration,
    ):
        # Start a fresh sandbox minute, so that Aircall's budget cannot reset under the test.
        next_minute = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        control.post("/_sandbox/clock", json={"set": iso(next_minute)}).raise_for_status()
        world.configure(FR_FIXED)
        remaining = control.get("/_sandbox/usage").json()["company"]["remaining"]
        for _ in range(remaining - 1):  # another integration of the company spends the budget
            other_integration.get("/v1/ping").raise_for_status()

        def sends_reaching_aircall() -> int:
            log = control.get("/_sandbox/requests", params={"method": "POST"}).json()["requests"]
            return sum(1 for entry in log if entry["path"].endswith("/send"))

        assert send().status_code == 201  # the last request of Aircall's minute
        if rate_headers == "on_429":  # nothing told the gateway: its next send meets Aircall's 429
            error = refused()
            assert (error.status, error.code) == (429, "rate_limited")
        blocked_until = parse_time(world.aircall_state().get("blocked_until", {}).get("S"))
        assert blocked_until == next_minute + timedelta(minutes=1)
        reached = sends_reaching_aircall()
        error = refused()
        assert (error.status, error.code) == (429, "rate_limited")
        assert sends_reaching_aircall() == reached, "a send went to Aircall before its reset"


# ------------------------------------------------------------------------------------------------ dry run
def dry_run(world: World, **fields: Any) -> dict[str, Any]:
    """A dry run's verdict, checking that it reserved, archived and sent nothing."""
    counters, sends, archived = world.counters(), len(world.aircall_sends()), world.message_ids()
    outcome = send(dry_run=True, **fields)
    assert outcome.status_code == 200
    assert world.counters() == counters, "a dry run reserved something"
    assert len(world.aircall_sends()) == sends, "a dry run reached Aircall"
    assert world.message_ids() == archived, "a dry run was archived"
    return outcome.body


def test_a_dry_run_of_an_allowed_send_reports_segments_encoding_and_the_quota_after_it(world, monkeypatch):
    now = this_hour_at(30)
    freeze(now)
    world.configure(FR_FIXED, limits={"hour": 5})
    assert_sent(world)
    verdict = dry_run(world, text="Votre colis arrive 😀 " + "a" * 60)
    assert (verdict["verdict"], verdict["reason"]) == ("allowed", None)
    assert (verdict["segments"], verdict["encoding"], verdict["non_gsm_characters"]) == (2, "UCS-2", ["😀"])
    quota = verdict["quota"]
    assert quota["number_id"] == int(FR_FIXED)
    assert quota["limits"]["hour"] == 5
    assert (quota["used"]["hour"], quota["remaining"]["hour"]) == (3, 2)  # one sent + this message's two
    assert quota["resets_at"]["hour"] == iso(hour_end(now))
    assert quota["company"]["used"] == 4  # the configuration's two requests, the send, this one
    assert world.quota(FR_FIXED) == 1


def test_a_dry_run_of_a_rule_breaking_send_is_rejected_with_the_rules_code(world, subtests):
    world.configure(FR_FIXED)
    world.configure(FR_MOBILE)
    contacts.opt_out(FR_OTHER_CONTACT, number_id=None, at=datetime.now(UTC), source="test")
    cases = [
        ("not_domestic", {"to": GB_CONTACT}),
        ("opted_out", {"to": FR_OTHER_CONTACT}),
        ("consent_required", {"purpose": "marketing"}),
        ("conversational_only", {"from": FR_MOBILE}),
    ]
    for reason, fields in cases:
        with subtests.test(reason=reason):
            verdict = dry_run(world, **fields)
            assert (verdict["verdict"], verdict["reason"]) == ("rejected", reason)


def test_a_dry_run_on_a_full_window_is_rejected_with_quota_exceeded(world):
    world.configure(FR_FIXED, limits={"hour": 3})
    assert_sent(world, text=GSM_2_SEGMENTS)
    verdict = dry_run(world, text=GSM_2_SEGMENTS)
    assert (verdict["verdict"], verdict["reason"]) == ("rejected", "quota_exceeded")
    assert verdict["quota"]["used"]["hour"] == 2


# ------------------------------------------------------------------------------------------------ validation
INVALID_REQUESTS: list[tuple[str, int, dict[str, Any]]] = [
    ("invalid_phone", 400, {"to": "12"}),
    ("invalid_phone", 400, {"to": "+33 6 12"}),
    ("empty_message", 400, {"text": ""}),
    ("empty_message", 400, {"text": None}),
    ("message_too_long", 400, {"text": "a" * 1601}),
    ("invalid_media", 400, {"media_urls": ["http://cdn.example.com/a.jpg"]}),
    ("invalid_media", 400, {"media_urls": [f"https://cdn.example.com/{n}.jpg" for n in range(11)]}),
    ("number_not_configured", 404, {"from": "999999"}),
    ("number_not_configured", 404, {"from": "+33 1 86 95 42 99"}),
    ("invalid_request", 400, {"not_after": "2020-01-01T00:00:00Z"}),
    ("invalid_request", 400, {"metadata": {"note": "x" * 4100}}),
]


def test_an_invalid_request_is_refused_with_its_code_and_leaves_no_trace(world, subtests):
    world.configure(FR_FIXED)
    for code, status, fields in INVALID_REQUESTS:
        with subtests.test(code=code, fields=json.dumps(fields)[:80]):
            counters = world.counters()
            error = refused(**fields)
            assert (error.code, error.status) == (code, status)
            assert world.counters() == counters
    assert world.aircall_sends() == []
    assert world.new_messages() == []


def test_a_text_of_exactly_1600_characters_and_metadata_of_4_kb_are_accepted(world):
    world.configure(UK_FIXED)  # a French number accepts at most 670
    metadata = {"note": "x" * (4096 - len('{"note": ""}'))}
    message = assert_sent(world, **{"from": UK_FIXED, "to": GB_CONTACT}, text="a" * 1600, metadata=metadata)
    assert message["segments"] == 11
    assert message["metadata"] == metadata


def test_a_french_number_refuses_a_text_over_670_characters_before_any_quota_is_touched(world, subtests):
    # Aircall caps a message from a French number at 670 characters (1,600 elsewhere).
    world.configure(FR_FIXED)
    world.configure(FR_MOBILE)
    for number_id, dry_run in ((FR_FIXED, False), (FR_FIXED, True), (FR_MOBILE, False), (FR_MOBILE, True)):
        with subtests.test(number_id=number_id, dry_run=dry_run):
            counters, sends, known = world.counters(), len(world.aircall_sends()), world.message_ids()
            error = refused(**{"from": number_id, "text": "a" * 671, "dry_run": dry_run})
            assert (error.status, error.code) == (400, "message_too_long")
            assert error.details == {"characters": 671, "limit": 670}
            assert "670" in error.message
            assert world.counters() == counters, "a text too long reserved something"
            assert len(world.aircall_sends()) == sends
            assert world.message_ids() == known


def test_a_french_number_sends_a_text_of_670_characters(world):
    world.configure(FR_FIXED)
    message = assert_sent(world, text="a" * 670)
    assert message["segments"] == 5
