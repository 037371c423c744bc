"""Sender pools through the manage and send functions (API Gateway events, in-process) against the DynamoDB
emulator and the Aircall sandbox over HTTP: the pool routes and their error codes, then sends from "pool:<id>":
the sticky thread, the most room, the share cap, the French mobile rule, a lost race, a full pool (429 and
deferral), dry runs, idempotent replays and keys limited to numbers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.domain.timeutil import iso, parse_time, utcnow
from aircall_sms.settings import get_settings
from aircall_sms.store import contacts, ledger, messages, numbers
from aircall_sms.store.transactions import Plan, transact
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.send import pool as pool_send
from tests.support import invoke, load_event, with_body

US_LOCAL, US_OTHER, CA_LOCAL = "100001", "100002", "100003"
FR_MOBILE, FR_FIXED, UK_FIXED = "100004", "100005", "100006"
US_CONTACT = "+14244162290"
FR_CONTACT = "+33612345679"
ADMIN_CONTEXT = {"client_id": "admin", "scopes": "admin", "number_ids": "*", "principalId": "admin"}


# ------------------------------------------------------------------------------------------------ helpers
def configure(number_id: str, *, hour: int = 10, registration: str = "approved") -> None:
    number_use_cases.configure(
        ADMIN,
        number_id,
        NumberRequest(mode="proxy", registration=registration, limits={"hour": hour}),  # type: ignore[arg-type]
        request_callback_url="https://unused/webhooks/aircall",
    )


def pool_route(
    method: str, pool_id: str | None, body: Any = None, *, context: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    event = load_event("manage_put_number_proxy")
    resource = "/pools" if pool_id is None else "/pools/{id}"
    event.update(
        resource=resource,
        path="/pools" if pool_id is None else f"/pools/{pool_id}",
        httpMethod=method,
        pathParameters=None if pool_id is None else {"id": pool_id},
    )
    event["requestContext"].update(resourcePath=resource, httpMethod=method, authorizer=context or ADMIN_CONTEXT)
    return invoke("manage", with_body(event, None if body is None else body))


def put_pool(pool_id: str, number_ids: list[Any], **options: Any) -> tuple[int, dict[str, Any]]:
    return pool_route("PUT", pool_id, {"number_ids": number_ids}, **options)


def send(
    sender: str, *, to: str = US_CONTACT, key: str | None = None, context: dict[str, str] | None = None, **fields: Any
) -> tuple[int, dict[str, Any]]:
    event = load_event("send_message")
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Idempotency-Key", None)
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
        event["multiValueHeaders"]["Idempotency-Key"] = [key]
    event["requestContext"]["authorizer"] = context or ADMIN_CONTEXT
    body = {"from": sender, "to": to, "text": "Your order has shipped."} | fields
    return invoke("send", with_body(event, body))


def charge(number_id: str, segments: int) -> None:
    """Use `segments` of every window of the number, as earlier sends from it would have."""
    record = numbers.get(number_id)
    assert record is not None
    plan = Plan()
    for window in number_windows(record, utcnow()):
        plan.add(ledger.window_charge(number_id, window, segments))
    assert not transact(plan)


def hour_used(number_id: str) -> int:
    record = numbers.get(number_id)
    assert record is not None
    window = next(window for window in number_windows(record, utcnow()) if window.name == "hour")
    item = ledger.LedgerItem.get(ledger.quota_pk(number_id), ledger.window_sk(window.name, window.key))
    return int(item.used or 0)


def contact_wrote(contact: str, number_id: str, *, hours_ago: float = 1) -> None:
    contacts.record_inbound(
        contact, number_id=number_id, at=utcnow() - timedelta(hours=hours_ago), message_id="msg_inbound"
    )


def aircall_senders(sandbox_api: httpx.Client) -> list[str]:
    log = sandbox_api.get("/_sandbox/requests", params={"method": "POST"}).json()["requests"]
    return [entry["path"].split("/")[-3] for entry in log if entry["path"].endswith("/send")]


def sender_of(answer: tuple[int, dict[str, Any]]) -> tuple[str, str]:
    message = answer[1]["message"]
    assert message["sender"]["number_id"] == message["number_id"]
    return message["number_id"], message["sender"]["reason"]


@pytest.fixture
def us_pool(gateway: Any) -> str:
    configure(US_LOCAL)
    configure(US_OTHER)
    assert put_pool("us-support", [int(US_LOCAL), US_OTHER])[0] == 201
    return "pool:us-support"


# ------------------------------------------------------------------------------------------------ the routes
def test_a_pool_is_created_read_listed_replaced_and_deleted(gateway: Any) -> None:
    configure(US_LOCAL)
    configure(US_OTHER)
    status, body = put_pool("us-support", [int(US_LOCAL)])
    assert status == 201 and body["pool"]["number_ids"] == [int(US_LOCAL)]
    status, body = put_pool("us-support", [US_LOCAL, int(US_OTHER)])
    assert status == 200 and body["pool"]["number_ids"] == [int(US_LOCAL), int(US_OTHER)]
    assert pool_route("GET", "us-support")[1]["pool"]["number_ids"] == [int(US_LOCAL), int(US_OTHER)]
    assert [pool["id"] for pool in pool_route("GET", None)[1]["items"]] == ["us-support"]
    assert pool_route("DELETE", "us-support") == (200, {"deleted": True, "id": "us-support"})
    assert pool_route("GET", "us-support")[1]["error"]["code"] == "pool_not_found"
    assert pool_route("DELETE", "us-support")[0] == 404
    assert send("pool:us-support")[1]["error"]["code"] == "pool_not_found"


@pytest.mark.parametrize(
    ("pool_id", "number_ids", "status", "code"),
    [
        ("us-support", [], 400, "pool_empty"),
        ("us-support", [int(US_LOCAL)] * 2, 400, "duplicate_number"),
        ("us-support", [int(US_LOCAL) + n for n in range(17)], 400, "pool_too_large"),
        ("us-support", [int(US_LOCAL), 100009], 400, "pool_number_not_configured"),
        ("us-support", [int(US_LOCAL), int(FR_FIXED)], 400, "pool_mixed_countries"),
        ("us-support", ["abc"], 400, "invalid_request"),
        ("Not_A_Pool", [int(US_LOCAL)], 400, "invalid_request"),
    ],
)
def test_a_wrong_pool_gets_its_own_code_and_nothing_is_stored(
    gateway: Any, pool_id: str, number_ids: list[Any], status: int, code: str
) -> None:
    configure(US_LOCAL)
    configure(FR_FIXED)
    answer = put_pool(pool_id, number_ids)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert pool_route("GET", None)[1]["items"] == []


def test_us_and_canadian_numbers_may_share_a_pool(gateway: Any) -> None:
    configure(US_LOCAL)
    configure(CA_LOCAL)
    assert put_pool("na", [int(US_LOCAL), int(CA_LOCAL)])[0] == 201


# ------------------------------------------------------------------------------------------------ the choice
def test_without_a_thread_the_number_with_the_most_room_sends(us_pool: str, sandbox_api: httpx.Client) -> None:
    charge(US_LOCAL, 3)
    answer = send(us_pool)
    assert answer[0] == 201
    assert sender_of(answer) == (US_OTHER, "most_room")
    assert answer[1]["message"]["sender"]["pool_id"] == "us-support"
    assert aircall_senders(sandbox_api) == [US_OTHER]
    assert (hour_used(US_LOCAL), hour_used(US_OTHER)) == (3, 1)
    stored = messages.get(answer[1]["message"]["id"])
    assert stored is not None and stored.number_id == US_OTHER
    assert stored.to_api()["sender"] == {"pool_id": "us-support", "number_id": US_OTHER, "reason": "most_room"}


def test_the_number_that_holds_the_thread_answers_though_another_has_more_room(
    us_pool: str, sandbox_api: httpx.Client
) -> None:
    charge(US_LOCAL, 5)
    contact_wrote(US_CONTACT, US_LOCAL, hours_ago=72)
    answer = send(us_pool)
    assert sender_of(answer) == (US_LOCAL, "sticky_thread")
    assert aircall_senders(sandbox_api) == [US_LOCAL]


def test_a_number_at_its_share_is_passed_over_though_its_limit_has_room(us_pool: str) -> None:
    charge(US_LOCAL, 9)  # 9 of 10: room under the limit, none under 90 %
    charge(US_OTHER, 8)
    contact_wrote(US_CONTACT, US_LOCAL)
    assert sender_of(send(us_pool)) == (US_OTHER, "most_room")
    # The share binds the pool only: the number itself still sends its last segment.
    assert send(US_LOCAL)[0] == 201


def test_a_full_pool_answers_429_naming_the_pool_and_reserves_nothing(us_pool: str, sandbox_api: httpx.Client) -> None:
    charge(US_LOCAL, 9)
    charge(US_OTHER, 9)
    status, body = send(us_pool)
    assert (status, body["error"]["code"]) == (429, "quota_exceeded")
    details = body["error"]["details"]
    assert details["pool_id"] == "us-support" and details["share_percent"] == 90
    assert details["retry_after"] > 0
    assert (hour_used(US_LOCAL), hour_used(US_OTHER)) == (9, 9)
    assert aircall_senders(sandbox_api) == []


def test_a_full_pool_defers_to_the_number_that_reopens_first(us_pool: str) -> None:
    charge(US_LOCAL, 9)
    charge(US_OTHER, 9)
    status, body = send(us_pool, on_limit="defer")
    assert status == 202
    message = body["message"]
    assert message["status"] == "deferred" and message["sender"]["pool_id"] == "us-support"
    assert message["number_id"] in (US_LOCAL, US_OTHER)
    not_before = parse_time(message["not_before"])
    assert not_before is not None and not_before > utcnow()


def test_a_lost_race_for_the_chosen_number_falls_back_to_the_next(
    us_pool: str, sandbox_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    charge(US_LOCAL, 4)  # US_OTHER has the most room...
    real_read = pool_send.read_pool

    def read_then_lose_the_race(*args: Any, **kwargs: Any) -> pool_send.PoolRead:
        read = real_read(*args, **kwargs)
        charge(US_OTHER, 9)  # ...until another send takes it between the read and the reservation
        return read

    monkeypatch.setattr(pool_send, "read_pool", read_then_lose_the_race)
    answer = send(us_pool)
    assert answer[0] == 201
    assert sender_of(answer) == (US_LOCAL, "most_room")
    assert (hour_used(US_LOCAL), hour_used(US_OTHER)) == (5, 9)
    assert aircall_senders(sandbox_api) == [US_LOCAL]


def test_a_french_mobile_line_answers_its_thread_and_never_starts_one(gateway: Any, sandbox_api: httpx.Client) -> None:
    configure(FR_MOBILE)
    configure(FR_FIXED)
    assert put_pool("fr", [int(FR_MOBILE), int(FR_FIXED)])[0] == 201
    assert put_pool("fr-mobile", [int(FR_MOBILE)])[0] == 201
    # No thread: the mobile line may not start one; the fixed line sends.
    assert sender_of(send("pool:fr", to=FR_CONTACT)) == (FR_FIXED, "most_room")
    status, body = send("pool:fr-mobile", to=FR_CONTACT)
    assert (status, body["error"]["code"]) == (403, "conversational_only")
    assert body["error"]["details"]["pool_id"] == "fr-mobile"
    # The contact writes to the mobile line: it answers from it.
    contact_wrote(FR_CONTACT, FR_MOBILE)
    assert sender_of(send("pool:fr", to=FR_CONTACT)) == (FR_MOBILE, "sticky_thread")
    assert aircall_senders(sandbox_api) == [FR_FIXED, FR_MOBILE]


def test_a_pool_of_another_country_refuses_as_not_domestic(us_pool: str) -> None:
    status, body = send(us_pool, to=FR_CONTACT)
    assert (status, body["error"]["code"]) == (403, "not_domestic")


def test_a_dry_run_says_which_number_would_send_and_reserves_nothing(us_pool: str, sandbox_api: httpx.Client) -> None:
    charge(US_LOCAL, 2)
    status, body = send(us_pool, dry_run=True)
    assert status == 200 and body["verdict"] == "allowed"
    assert body["sender"] == {"pool_id": "us-support", "number_id": US_OTHER, "reason": "most_room"}
    assert (hour_used(US_LOCAL), aircall_senders(sandbox_api)) == (2, [])
    charge(US_OTHER, 9)
    charge(US_LOCAL, 7)
    status, body = send(us_pool, dry_run=True)
    assert (body["verdict"], body["reason"]) == ("rejected", "quota_exceeded")
    assert body["sender"]["reason"] == "reopens_first"


def test_a_replay_keeps_the_first_choice(us_pool: str, sandbox_api: httpx.Client) -> None:
    charge(US_LOCAL, 3)
    first = send(us_pool, key="order-4711")
    assert sender_of(first) == (US_OTHER, "most_room")
    charge(US_OTHER, 6)  # a fresh choice would now be US_LOCAL
    again = send(us_pool, key="order-4711")
    assert again[0] == 201 and again[1]["message"]["id"] == first[1]["message"]["id"]
    assert sender_of(again) == (US_OTHER, "most_room")
    assert aircall_senders(sandbox_api) == [US_OTHER]


# ------------------------------------------------------------------------------------------------ key limits
LIMITED = {"client_id": "key_limited", "scopes": "send read numbers", "number_ids": US_LOCAL, "principalId": "k"}


def test_a_key_limited_to_numbers_uses_only_pools_made_of_its_numbers(us_pool: str) -> None:
    assert put_pool("us-local", [int(US_LOCAL)])[0] == 201
    status, body = send(us_pool, context=LIMITED)
    assert (status, body["error"]["code"]) == (403, "number_not_allowed")
    assert body["error"]["details"]["pool_id"] == "us-support"
    assert sender_of(send("pool:us-local", context=LIMITED)) == (US_LOCAL, "most_room")
    assert [pool["id"] for pool in pool_route("GET", None, context=LIMITED)[1]["items"]] == ["us-local"]
    assert pool_route("GET", "us-support", context=LIMITED)[1]["error"]["code"] == "pool_not_found"
    assert pool_route("DELETE", "us-support", context=LIMITED)[1]["error"]["code"] == "number_not_allowed"
    assert put_pool("mine", [int(US_LOCAL), int(US_OTHER)], context=LIMITED)[1]["error"]["code"] == (
        "number_not_allowed"
    )


def test_pool_configuration_needs_the_numbers_scope(us_pool: str) -> None:
    sender_only = {"client_id": "key_sender", "scopes": "send read", "number_ids": "*", "principalId": "k"}
    status, body = put_pool("other", [int(US_LOCAL)], context=sender_only)
    assert (status, body["error"]["code"], body["error"]["details"]["required"]) == (
        403,
        "insufficient_scope",
        "numbers",
    )
    assert pool_route("GET", None, context=sender_only)[0] == 200
    assert sender_of(send(us_pool, context=sender_only))[1] == "most_room"


def test_a_message_larger_than_every_share_is_refused_and_its_dry_run_says_so(us_pool: str) -> None:
    # 10 segments: more than 90 % of a 10-segment hour on either number, now and in any later hour.
    long_text = "a" * (153 * 10)
    status, body = send(us_pool, text=long_text, dry_run=True)
    assert (status, body["verdict"], body["reason"], body["sender"]) == (200, "rejected", "quota_exceeded", None)
    status, body = send(us_pool, text=long_text, on_limit="defer")
    assert (status, body["error"]["code"], body["error"]["details"]["retry_after"]) == (429, "quota_exceeded", None)


# ------------------------------------------------------------------------------------- scheduled, quiet hours
def test_a_scheduled_send_from_a_pool_waits_on_the_number_chosen_now(us_pool: str, sandbox_api: httpx.Client) -> None:
    """A pool's `send_at` is a single number's: archived `scheduled` on the number chosen when it was asked (its
    choice recorded), nothing reserved and nothing sent to Aircall until the dispatcher's minute."""
    charge(US_LOCAL, 3)
    at = utcnow() + timedelta(hours=2)
    answer = send(us_pool, send_at=iso(at))
    assert answer[0] == 202, answer
    message = answer[1]["message"]
    assert (message["status"], message["not_before"]) == ("scheduled", iso(at))
    assert sender_of(answer) == (US_OTHER, "most_room")
    assert aircall_senders(sandbox_api) == []
    stored = messages.get(message["id"])
    assert stored is not None and stored.number_id == US_OTHER and stored.status == "scheduled"


def quiet_now_in_los_angeles() -> dict[str, Any]:
    """Rules under which the US contact (a Los Angeles area code) is in quiet hours now: open one hour, later."""
    local = utcnow().astimezone(ZoneInfo("America/Los_Angeles"))
    opens = (local + timedelta(hours=2)).replace(minute=0) if local.hour < 20 else local.replace(hour=1, minute=0)
    window = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": f"{opens:%H}:00",
        "to": f"{opens.hour + 1:02d}:00",
    }
    return {"US": {"conversational": window}}


def test_quiet_hours_hold_a_pool_send_as_they_hold_a_numbers(
    us_pool: str, sandbox_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quiet hours are the recipient's, whichever number of the pool would send: refused (403 quiet_hours, with
    the next allowed time), deferred with `on_limit: defer`, and its dry run says so; nothing reaches Aircall."""
    monkeypatch.setenv("QUIET_HOURS_JSON", json.dumps(quiet_now_in_los_angeles()))
    get_settings.cache_clear()
    try:
        code, body = send(us_pool)
        assert (code, body["error"]["code"]) == (403, "quiet_hours"), body
        assert body["error"]["details"]["time_zones"] == ["America/Los_Angeles"]
        next_allowed = body["error"]["details"]["next_allowed"]
        code, body = send(us_pool, on_limit="defer", not_after=iso(utcnow() + timedelta(days=2)))
        assert code == 202, body
        assert (body["message"]["status"], body["message"]["not_before"]) == ("deferred", next_allowed)
        assert body["message"]["sender"]["pool_id"] == "us-support"
        code, body = send(us_pool, dry_run=True)
        assert (code, body["verdict"], body["reason"]) == (200, "rejected", "quiet_hours")
        assert body["sender"]["pool_id"] == "us-support"
        assert aircall_senders(sandbox_api) == []
    finally:
        get_settings.cache_clear()
