"""Quiet hours in the send flow, over the send handler's API Gateway events against the DynamoDB emulator and the
Aircall sandbox over HTTP, on the simulated clock the gateway and the sandbox share: a send inside the quiet hours
of the recipient's local time is refused (403 quiet_hours with the next allowed time) or deferred to that time
(on_limit defer, sent by the dispatcher then and not before); dry runs say so; a scheduled message landing in
quiet hours is handled the same way when it goes out. The deployment's rules (QUIET_HOURS_JSON) here: French
conversational messages from 08:00 to 20:00, Paris time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aircall_sms.domain import timeutil
from aircall_sms.domain.timeutil import iso, parse_time
from aircall_sms.settings import get_settings
from aircall_sms.store import messages
from aircall_sms.use_cases import dispatch
from local_stack.clock import SimulatedClock
from tests.integration.test_scheduled_sends import (  # the same harness: handler events, sandbox log
    FR_FIXED,
    aircall_sends,
    configure,
    post,
    record,
    sent_texts,
)
from tests.integration.test_scheduled_sends import world as world
from tests.support import as_function

PARIS = ZoneInfo("Europe/Paris")
RULES = {
    "FR": {
        "conversational": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "08:00", "to": "20:00"}
    }
}


@pytest.fixture
def clock(gateway, monkeypatch) -> Iterator[SimulatedClock]:
    monkeypatch.setenv("QUIET_HOURS_JSON", json.dumps(RULES))
    get_settings.cache_clear()
    with SimulatedClock(gateway.url) as simulated:
        yield simulated
    get_settings.cache_clear()


def paris(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    """The next `hour`:`minute` Paris time (`days` later), as an aware UTC time."""
    local = timeutil.utcnow().astimezone(PARIS)
    moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if moment <= local:
        moment += timedelta(days=1)
    return (moment + timedelta(days=days)).astimezone(timeutil.utcnow().tzinfo)


def next_morning(evening: datetime) -> datetime:
    local = evening.astimezone(PARIS)
    return (local + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0).astimezone(evening.tzinfo)


def run_at(clock: SimulatedClock, moment: datetime) -> dispatch.RunReport:
    clock.advance_to(moment.timestamp())
    with as_function("QuotaResetFunction"):  # as the scheduled function, held to its role
        return dispatch.run(sleep=clock.sleep)


def test_a_send_in_quiet_hours_is_refused_with_the_next_allowed_time(world, clock, gateway):
    evening = paris(20, 30)
    clock.advance_to(evening.timestamp())
    sends = len(aircall_sends(gateway.url))
    code, body = post({"text": "trop tard"})
    assert code == 403, body
    error = body["error"]
    assert error["code"] == "quiet_hours"
    assert error["details"]["next_allowed"] == iso(next_morning(evening))
    assert error["details"]["time_zones"] == ["Europe/Paris"] and error["details"]["region"] == "FR"
    assert len(aircall_sends(gateway.url)) == sends
    newest = messages.MessageRecord.by_number.query(FR_FIXED, limit=5, scan_index_forward=False)
    refused = [record(item.id) for item in newest]  # the index holds the keys only
    assert any(item.status == "rejected" and (item.error or {}).get("code") == "quiet_hours" for item in refused)


def test_a_send_in_quiet_hours_with_defer_goes_out_at_the_next_allowed_time(world, clock, gateway):
    evening = paris(21, 0)
    clock.advance_to(evening.timestamp())
    code, body = post({"text": "demain matin", "on_limit": "defer", "not_after": iso(evening + timedelta(days=2))})
    assert code == 202, body
    message = body["message"]
    morning = next_morning(evening)
    assert (message["status"], message["not_before"]) == ("deferred", iso(morning))
    assert run_at(clock, evening + timedelta(minutes=1, seconds=2)).outcomes == {}
    assert run_at(clock, morning - timedelta(minutes=1) + timedelta(seconds=2)).outcomes == {}
    assert record(message["id"]).status == "deferred"
    assert run_at(clock, morning + timedelta(seconds=2)).outcomes == {"sent": 1}
    sent = record(message["id"])
    went = parse_time(sent.status_history[1].at)
    assert sent.status == "queued" and went is not None and went >= morning
    assert sent_texts(gateway.url).count("demain matin") == 1


def test_a_defer_whose_not_after_comes_before_the_morning_is_refused(world, clock):
    evening = paris(22, 0)
    clock.advance_to(evening.timestamp())
    code, body = post({"text": "expire", "on_limit": "defer", "not_after": iso(evening + timedelta(hours=2))})
    assert (code, body["error"]["code"]) == (403, "quiet_hours")


def test_a_dry_run_says_quiet_hours_would_refuse_or_defer(world, clock):
    clock.advance_to(paris(20, 15).timestamp())
    code, body = post({"text": "essai", "dry_run": True})
    assert (code, body["verdict"], body["reason"]) == (200, "rejected", "quiet_hours")
    assert body["quiet_hours"]["next_allowed"] == iso(next_morning(timeutil.utcnow()))
    code, body = post({"text": "essai", "dry_run": True, "on_limit": "defer"})
    assert (code, body["verdict"], body["reason"]) == (200, "deferred", "quiet_hours")
    # A dry run of a message scheduled in the morning: allowed
    code, body = post({"text": "essai", "dry_run": True, "send_at": iso(next_morning(timeutil.utcnow()))})
    assert (code, body["verdict"]) == (200, "allowed")


def test_a_request_refused_by_its_own_rules_says_so_first(world, clock):
    clock.advance_to(paris(23, 0).timestamp())
    code, body = post({"to": "+14244162290", "text": "not domestic"})  # a French number to a US contact
    assert (code, body["error"]["code"]) == (403, "not_domestic")


def test_a_scheduled_message_landing_in_quiet_hours_is_refused_then_or_waits_with_defer(world, clock, gateway):
    configure(FR_FIXED)
    clock.advance_to(paris(19, 0).timestamp())
    landing = paris(20, 30)
    code, refused = post({"text": "planifié, refusé", "send_at": iso(landing)})
    assert (code, refused["message"]["status"]) == (202, "scheduled")  # checked when it goes out
    code, waits = post(
        {
            "text": "planifié, attend",
            "send_at": iso(landing),
            "on_limit": "defer",
            "not_after": iso(landing + timedelta(days=1)),
        }
    )
    assert (code, waits["message"]["status"]) == (202, "scheduled")
    report = run_at(clock, landing.replace(second=2))
    assert report.outcomes == {"rejected": 1, "postponed": 1}
    gone = record(refused["message"]["id"])
    assert gone.status == "rejected" and gone.error is not None and gone.error["code"] == "quiet_hours"
    waiting = record(waits["message"]["id"])
    morning = next_morning(landing)
    assert (waiting.status, waiting.not_before) == ("scheduled", iso(morning))
    assert run_at(clock, morning + timedelta(seconds=2)).outcomes == {"sent": 1}
    assert "planifié, attend" in sent_texts(gateway.url) and "planifié, refusé" not in sent_texts(gateway.url)


def test_quiet_hours_the_gateway_cannot_read_refuse_the_send_and_write_nothing(world, gateway, monkeypatch):
    """A deployment mistake, not the client's: 503 quiet_hours_misconfigured naming the fault, for a send and its
    dry run alike; nothing archived and nothing sent to Aircall (sending without the rules asked for could break
    the law they encode)."""
    monkeypatch.setenv("QUIET_HOURS_JSON", '{"FR": {"conversational": {"days": ["mon"], "from": "09:00"}}}')
    get_settings.cache_clear()
    try:
        before = [item.id for item in messages.MessageRecord.by_number.query(FR_FIXED)]
        sends = len(aircall_sends(gateway.url))
        for extra in ({}, {"dry_run": True}):
            code, body = post({"text": "mal réglé", **extra})
            assert (code, body["error"]["code"]) == (503, "quiet_hours_misconfigured"), body
            assert "QuietHoursJson" in body["error"]["message"] and "FR.conversational" in body["error"]["message"]
        assert [item.id for item in messages.MessageRecord.by_number.query(FR_FIXED)] == before
        assert len(aircall_sends(gateway.url)) == sends
    finally:
        get_settings.cache_clear()
