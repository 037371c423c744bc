"""Scheduled sends over the handlers' API Gateway events (POST /messages with `send_at`, DELETE and PATCH
/messages/{id}) against the DynamoDB emulator and the Aircall sandbox over HTTP, the dispatcher driven on the
simulated clock shared by the gateway and the sandbox (as the deferral tests do): a scheduled message goes out at
its minute and not before, once, with every rule checked again then; it can be cancelled or changed while it
waits, by a key of its number with the `send` scope, and not once it is on its way."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from aircall_sms.domain import timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.domain.timeutil import iso, parse_time
from aircall_sms.settings import get_settings
from aircall_sms.store import contacts, messages, numbers
from aircall_sms.use_cases import dispatch
from aircall_sms.use_cases import numbers as number_use_cases
from local_stack.clock import SimulatedClock
from local_stack.dynamodb import client as aws_client
from tests.support import as_function, invoke, load_event, with_body

FR_FIXED = "100005"  # +33 1 86 95 42 10
GB_FIXED = "100006"  # +44 20 3966 1234
FR_CONTACT = "+33612345679"
_keys = itertools.count(int(time.time() * 1000))  # an Idempotency-Key per request, none used by other sessions


@pytest.fixture
def clock(gateway) -> Iterator[SimulatedClock]:
    with SimulatedClock(gateway.url) as simulated:
        yield simulated


@pytest.fixture
def world(gateway, clock, emulator) -> Iterator[None]:
    """No waiting message left by other tests (the archive outlives tests); FR_FIXED configured, none after."""
    dynamodb = aws_client("dynamodb", emulator.url)
    table = get_settings().messages_table
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="attribute_exists(dispatch_number)", ProjectionExpression="id"
    ):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
    configure(FR_FIXED)
    yield None
    for number_id in (FR_FIXED, GB_FIXED):
        numbers.delete(number_id)


def configure(number_id: str, **limits: int) -> None:
    number_use_cases.configure(
        ADMIN,
        number_id,
        NumberRequest.model_validate({"mode": "proxy", "limits": limits or None}),
        request_callback_url="https://unused/webhooks/aircall",
    )


def as_key(event: dict[str, Any], *, scopes: str = "admin", number_ids: str = "*") -> dict[str, Any]:
    """The event as the authorizer passes it on for a key with `scopes` and `number_ids` (the admin key by default:
    the dispatcher refuses a message whose key is not stored, as a revoked one)."""
    client_id = "admin" if scopes == "admin" and number_ids == "*" else "key_limited"
    event["requestContext"]["authorizer"] = {"client_id": client_id, "scopes": scopes, "number_ids": number_ids}
    return event


def post(body: dict[str, Any], **key: str) -> tuple[int, dict[str, Any]]:
    fields = {"from": FR_FIXED, "to": FR_CONTACT, "text": "Rappel : rendez-vous demain."} | body
    event = with_body(load_event("send_message"), fields)
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers["Idempotency-Key"] = f"schedule-{next(_keys)}" if "Idempotency-Key" in headers else None
        if headers["Idempotency-Key"] is None:
            del headers["Idempotency-Key"]
    event["multiValueHeaders"]["Idempotency-Key"] = [event["headers"]["Idempotency-Key"]]
    return invoke("send", as_key(event, **key))


def on_message(method: str, message_id: str, body: Any = None, **key: str) -> tuple[int, dict[str, Any]]:
    event = load_event("manage_get_message", pathParameters={"id": message_id}, path=f"/messages/{message_id}")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    if body is not None:
        event = with_body(event, body)
        event["headers"]["Content-Type"] = "application/json"
    return invoke("manage", as_key(event, **key))


def schedule(send_at: datetime, **fields: Any) -> dict[str, Any]:
    code, body = post({"send_at": iso(send_at)} | fields)
    assert code == 202, body
    message: dict[str, Any] = body["message"]
    assert message["status"] == "scheduled" and message["not_before"] == iso(send_at), message
    return message


def record(message_id: str) -> messages.MessageRecord:
    found = messages.get(message_id)
    assert found is not None
    return found


def aircall_sends(sandbox_url: str) -> list[dict[str, Any]]:
    log = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"method": "POST"}).json()["requests"]
    return [entry for entry in log if entry["path"].endswith("/send")]


def sent_texts(sandbox_url: str) -> list[str]:
    found = httpx.get(f"{sandbox_url}/_sandbox/messages").json()
    return [message["body"] for message in found["messages"] if message["direction"] == "outbound"]


def minute_start(moment: datetime, second: int = 2) -> datetime:
    return moment.replace(second=second, microsecond=0)


def run_at(clock: SimulatedClock, moment: datetime) -> dispatch.RunReport:
    """A dispatcher run as EventBridge starts it at `moment` (it works for its minute)."""
    clock.advance_to(moment.timestamp())
    with as_function("QuotaResetFunction"):  # as the scheduled function, held to its role
        return dispatch.run(sleep=clock.sleep)


def later(minutes: int, second: int) -> datetime:
    """`minutes` minutes from now, at `second` of that minute."""
    return (timeutil.utcnow() + timedelta(minutes=minutes)).replace(second=second, microsecond=0)


def early_in_an_hour(clock: SimulatedClock) -> None:
    """Move the clock to five past the next hour: a test about a full hour window must not see it roll over."""
    clock.advance_to((timeutil.utcnow().replace(minute=5, second=0, microsecond=0) + timedelta(hours=1)).timestamp())


# ------------------------------------------------------------------------------------------------ schedule
def test_a_scheduled_message_goes_out_at_its_minute_and_not_before(world, clock, gateway):
    send_at = later(10, 40)
    message = schedule(send_at, text="at 40 seconds past")
    sends = len(aircall_sends(gateway.url))
    early = run_at(clock, minute_start(send_at - timedelta(minutes=1)))
    assert (early.outcomes, record(message["id"]).status) == ({}, "scheduled")
    assert len(aircall_sends(gateway.url)) == sends
    report = run_at(clock, minute_start(send_at))  # the run of its minute starts at :02 and waits for :40
    assert report.outcomes == {"sent": 1}
    sent = record(message["id"])
    assert sent.status == "queued" and sent.aircall_id
    assert [change.status for change in sent.status_history] == ["scheduled", "unknown", "queued"]
    went = parse_time(sent.status_history[1].at)
    assert went is not None and send_at <= went < send_at + timedelta(seconds=20)
    assert sent_texts(gateway.url).count("at 40 seconds past") == 1
    assert not {"dispatch_number", "dispatch_rank"} & set(sent.attribute_values)  # out of the queue
    assert run_at(clock, minute_start(send_at + timedelta(minutes=1))).outcomes == {}  # never twice


def test_a_scheduled_message_whose_window_is_full_at_its_minute_goes_out_when_it_reopens(world, clock, gateway):
    early_in_an_hour(clock)
    configure(FR_FIXED, hour=1)
    send_at = later(2, 0)
    message = schedule(send_at, text="when the hour allows")
    code, _ = post({"text": "takes the hour"})
    assert code == 201
    report = run_at(clock, minute_start(send_at))
    assert (report.outcomes, record(message["id"]).status) == ({"window_full": 1}, "scheduled")
    next_hour = timeutil.utcnow().replace(minute=0, second=2, microsecond=0) + timedelta(hours=1)
    assert run_at(clock, next_hour).outcomes == {"sent": 1}
    assert record(message["id"]).status == "queued"


def test_a_contact_who_opts_out_after_the_scheduling_is_not_sent_the_message(world, clock, gateway):
    send_at = later(5, 0)
    message = schedule(send_at, text="not for you any more")
    contacts.opt_out(FR_CONTACT, number_id=FR_FIXED, at=timeutil.utcnow(), source="api")
    sends = len(aircall_sends(gateway.url))
    report = run_at(clock, minute_start(send_at))
    refused = record(message["id"])
    assert report.outcomes == {"rejected": 1}
    assert refused.status == "rejected" and refused.error is not None and refused.error["code"] == "opted_out"
    assert len(aircall_sends(gateway.url)) == sends


def test_a_scheduled_message_past_its_not_after_expires_unsent(world, clock, gateway):
    early_in_an_hour(clock)
    configure(FR_FIXED, hour=1)
    send_at = later(2, 0)
    message = schedule(send_at, text="too late", not_after=iso(send_at + timedelta(minutes=5)))
    assert post({"text": "takes the hour"})[0] == 201
    run_at(clock, minute_start(send_at))
    report = run_at(clock, minute_start(send_at + timedelta(minutes=6)))
    assert (report.expired, record(message["id"]).status) == (1, "expired")


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"send_at": "past"}, "send_at", "past"),
        ({"send_at": "too_far"}, "send_at", "too_far"),
        ({"send_at": "soon", "not_after": "now"}, "not_after", "before_send_at"),
    ],
)
def test_a_send_at_out_of_range_is_a_400_naming_the_field_and_nothing_is_kept(
    world, clock, gateway, fields, field, reason
):
    now = timeutil.utcnow()
    moments = {
        "past": now - timedelta(minutes=5),
        "too_far": now + timedelta(days=31, minutes=5),
        "soon": now + timedelta(minutes=10),
        "now": now + timedelta(minutes=1),
    }
    text = f"refused {reason}"
    code, body = post({name: iso(moments[value]) for name, value in fields.items()} | {"text": text})
    assert code == 400, body
    assert body["error"]["code"] == "invalid_send_at"
    assert body["error"]["details"]["field"] == field and body["error"]["details"]["reason"] == reason
    assert not any(item.text == text for item in messages.MessageRecord.by_number.query(FR_FIXED, limit=20))


def test_a_send_at_that_is_not_a_time_is_a_400(world):
    code, body = post({"send_at": "tomorrow at noon"})
    assert code == 400 and body["error"]["code"] == "invalid_request", body


def test_a_send_at_of_now_is_sent_by_the_next_run(world, clock, gateway):
    # A second behind the gateway's clock is "now" (no minimum lead time, and the client's clock may lag a little)
    code, body = post({"send_at": iso(timeutil.utcnow() - timedelta(seconds=1)), "text": "right away"})
    message = body["message"]
    assert (code, message["status"]) == (202, "scheduled")
    assert run_at(clock, timeutil.utcnow() + timedelta(seconds=1)).outcomes == {"sent": 1}
    assert record(message["id"]).status == "queued"


# ------------------------------------------------------------------------------------------------ cancel
def test_cancelling_a_scheduled_message_stops_it_and_answers_the_same_again(world, clock, gateway):
    send_at = later(3, 0)
    message = schedule(send_at, text="cancelled before it went")
    code, body = on_message("DELETE", message["id"])
    assert (code, body["message"]["status"]) == (200, "cancelled"), body
    assert body["message"]["status_history"][-1]["source"] == "api"
    again = on_message("DELETE", message["id"])
    assert (again[0], again[1]["message"]["status"]) == (200, "cancelled")
    sends = len(aircall_sends(gateway.url))
    assert run_at(clock, minute_start(send_at)).outcomes == {}
    assert len(aircall_sends(gateway.url)) == sends
    assert not {"dispatch_number", "dispatch_rank"} & set(record(message["id"]).attribute_values)


def test_a_deferred_message_can_be_cancelled_too(world, clock, gateway):
    early_in_an_hour(clock)
    configure(FR_FIXED, hour=1)
    assert post({"text": "takes the hour"})[0] == 201
    code, body = post({"text": "waits for the hour", "on_limit": "defer"})
    assert (code, body["message"]["status"]) == (202, "deferred")
    answer = on_message("DELETE", body["message"]["id"])
    assert (answer[0], answer[1]["message"]["status"]) == (200, "cancelled")


def test_a_message_already_sent_cannot_be_cancelled(world):
    code, body = post({"text": "sent at once"})
    assert code == 201
    answer = on_message("DELETE", body["message"]["id"])
    assert answer[0] == 409 and answer[1]["error"]["code"] == "message_not_waiting", answer
    assert answer[1]["error"]["details"]["status"] == body["message"]["status"]
    assert record(body["message"]["id"]).status != "cancelled"


def test_only_a_key_of_its_number_with_the_send_scope_may_cancel_or_change_it(world, clock):
    message = schedule(later(3, 0), text="mine")
    other_number = on_message("DELETE", message["id"], scopes="send", number_ids=GB_FIXED)
    assert other_number[0] == 404 and other_number[1]["error"]["code"] == "not_found"
    read_only = on_message("DELETE", message["id"], scopes="read")
    assert read_only[0] == 403 and read_only[1]["error"]["code"] == "insufficient_scope"
    read_only_patch = on_message("PATCH", message["id"], {"text": "x"}, scopes="read")
    assert read_only_patch[0] == 403 and read_only_patch[1]["error"]["code"] == "insufficient_scope"
    assert record(message["id"]).status == "scheduled"
    own = on_message("DELETE", message["id"], scopes="send", number_ids=FR_FIXED)
    assert (own[0], own[1]["message"]["status"]) == (200, "cancelled")


def test_cancelling_an_unknown_message_is_a_404(world):
    code, body = on_message("DELETE", "msg_unknown")
    assert code == 404 and body["error"]["code"] == "not_found"


# ------------------------------------------------------------------------------------------------ patch
def test_a_changed_text_and_time_are_what_goes_out_then(world, clock, gateway):
    first = later(3, 0)
    message = schedule(first, text="first text")
    moved = later(6, 0)
    code, body = on_message("PATCH", message["id"], {"text": "ê" * 71, "send_at": iso(moved)})
    assert code == 200, body
    changed = body["message"]
    assert (changed["status"], changed["not_before"], changed["text"]) == ("scheduled", iso(moved), "ê" * 71)
    assert (changed["segments"], changed["encoding"]) == (2, "UCS-2")
    assert changed["status_history"][-1]["detail"] == "changed: text, send_at"
    assert run_at(clock, minute_start(first)).outcomes == {}  # not at the old time
    assert run_at(clock, minute_start(moved)).outcomes == {"sent": 1}
    assert "ê" * 71 in sent_texts(gateway.url) and "first text" not in sent_texts(gateway.url)


def test_a_change_is_checked_as_a_new_send(world, clock):
    message = schedule(later(3, 0), text="to change")
    too_long = on_message("PATCH", message["id"], {"text": "a" * 671})  # from a French number: 670 at most
    assert too_long[0] == 400 and too_long[1]["error"]["code"] == "message_too_long", too_long
    past = on_message("PATCH", message["id"], {"send_at": iso(timeutil.utcnow() - timedelta(hours=1))})
    assert past[0] == 400 and past[1]["error"]["details"] == past[1]["error"]["details"] | {"reason": "past"}
    after = on_message("PATCH", message["id"], {"send_at": iso(timeutil.utcnow() + timedelta(days=3))})
    assert after[0] == 400 and after[1]["error"]["details"]["reason"] == "after_not_after", after
    empty = on_message("PATCH", message["id"], {})
    assert empty[0] == 400 and empty[1]["error"]["code"] == "invalid_request"
    unknown_field = on_message("PATCH", message["id"], {"to": "+33612345680"})
    assert unknown_field[0] == 400
    kept = record(message["id"])
    assert (kept.text, kept.status) == ("to change", "scheduled")


def test_a_message_on_its_way_cannot_be_changed(world, clock):
    code, body = post({"text": "sent at once"})
    assert code == 201
    answer = on_message("PATCH", body["message"]["id"], {"text": "too late"})
    assert answer[0] == 409 and answer[1]["error"]["code"] == "message_not_waiting"
