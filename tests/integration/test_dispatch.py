"""The dispatcher and the rollover (QuotaResetFunction) against the DynamoDB emulator and the Aircall sandbox over
HTTP, on a simulated clock shared by the gateway and the sandbox: deferred messages go out when their windows
reopen, in priority order, paced to the company budget, once even when runs overlap, and expire after not_after;
closed windows become usage history whether the rollover runs late, twice or not at all."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from aircall_sms.domain import timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest, SendRequest
from aircall_sms.errors import GatewayError
from aircall_sms.settings import get_settings
from aircall_sms.store import contacts, ledger, messages, numbers
from aircall_sms.store import history as usage_history
from aircall_sms.use_cases import dispatch, rollover
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.send import send_message
from local_stack.clock import SimulatedClock
from local_stack.dynamodb import client as aws_client
from tests.support import FakeContext, as_function, load_handler

FR_FIXED = "100005"  # +33 1 86 95 42 10, "other" limits
GB_FIXED = "100006"  # +44 20 3966 1234, "other" limits
FR_CONTACT = "+33612345679"
GB_CONTACT = "+447400123456"


@pytest.fixture
def clock(gateway) -> Iterator[SimulatedClock]:
    with SimulatedClock(gateway.url) as simulated:
        yield simulated


@pytest.fixture
def dynamodb(emulator) -> Any:
    return aws_client("dynamodb", emulator.url)


@pytest.fixture
def world(gateway, clock, dynamodb) -> Iterator[None]:
    """No deferred message left by other tests (the archive outlives tests), no configured number after."""
    table = get_settings().messages_table
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="attribute_exists(dispatch_number)", ProjectionExpression="id"
    ):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
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


def send(**fields: Any) -> dict[str, Any]:
    body = {"from": FR_FIXED, "to": FR_CONTACT, "text": "Bonjour !"} | fields
    outcome = send_message(principal=ADMIN, request=SendRequest.model_validate(body))
    message: dict[str, Any] = outcome.body["message"]
    return message


def defer(**fields: Any) -> str:
    message = send(on_limit="defer", **fields)
    assert message["status"] == "deferred", message
    return str(message["id"])


def status(message_id: str) -> str:
    record = messages.get(message_id)
    assert record is not None
    return record.status


def aircall_sends(sandbox_url: str) -> list[dict[str, Any]]:
    log = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"method": "POST"}).json()["requests"]
    return [entry for entry in log if entry["path"].endswith("/send")]


def sent_texts(sandbox_url: str) -> list[str]:
    found = httpx.get(f"{sandbox_url}/_sandbox/messages").json()
    return [message["body"] for message in found["messages"] if message["direction"] == "outbound"]


def start_of_next_hour(clock: SimulatedClock, second: int = 2) -> None:
    now = timeutil.utcnow()
    clock.advance_to((now.replace(minute=0, second=second, microsecond=0) + timedelta(hours=1)).timestamp())


def fill_the_hour(room: int) -> None:
    """Use the number's whole hour window (`room` one-segment sends)."""
    for index in range(room):
        assert send(text=f"filler {index}")["status"] == "queued"


def run(clock: SimulatedClock, **kwargs: Any) -> dispatch.RunReport:
    with as_function("QuotaResetFunction"):  # as the scheduled function, held to its role
        return dispatch.run(sleep=clock.sleep, **kwargs)


def scheduled_runs(clock: SimulatedClock, count: int) -> list[dispatch.RunReport]:
    """`count` runs as EventBridge starts them: one a minute (2 s into it), each working for its minute."""
    reports = []
    for _ in range(count):
        now = timeutil.utcnow()
        clock.advance_to((now.replace(second=2, microsecond=0) + timedelta(minutes=1)).timestamp())
        reports.append(run(clock))
    return reports


# ------------------------------------------------------------------------------------------------ dispatch
def test_a_deferred_message_waits_while_its_window_is_full_and_goes_out_when_it_reopens(world, clock, gateway):
    configure(FR_FIXED, hour=2)
    fill_the_hour(2)
    message_id = defer(text="after the hour")
    report = run(clock)
    assert (status(message_id), report.held, report.outcomes) == ("deferred", [FR_FIXED], {"window_full": 1})
    start_of_next_hour(clock)
    report = run(clock)
    assert report.outcomes == {"sent": 1}
    record = messages.get(message_id)
    assert record is not None and record.status == "queued" and record.aircall_id
    assert [change.status for change in record.status_history] == ["deferred", "unknown", "queued"]
    assert not {"dispatch_number", "dispatch_rank"} & set(record.attribute_values)  # out of the queue
    assert sent_texts(gateway.url).count("after the hour") == 1
    assert list(messages.MessageRecord.deferred.query(FR_FIXED)) == []


def test_deferred_messages_go_out_by_priority_then_age(world, clock, gateway):
    configure(FR_FIXED, hour=1)
    fill_the_hour(1)
    older = defer(text="transactional, older", purpose="transactional")
    conversational = defer(text="conversational, newer", purpose="conversational")
    newer = defer(text="transactional, newer", purpose="transactional")
    start_of_next_hour(clock)
    configure(FR_FIXED, hour=2)  # room for two of the three
    run(clock)
    assert [status(older), status(conversational), status(newer)] == ["queued", "queued", "deferred"]
    assert sent_texts(gateway.url)[-2:] == ["conversational, newer", "transactional, older"]


def test_overlapping_runs_send_every_message_once(world, clock, gateway):
    configure(FR_FIXED, hour=2)
    configure(GB_FIXED, hour=2)
    fill_the_hour(2)
    send(**{"from": GB_FIXED, "to": GB_CONTACT, "text": "gb filler 1"})
    send(**{"from": GB_FIXED, "to": GB_CONTACT, "text": "gb filler 2"})
    ids = [defer(text=f"fr {index}") for index in range(6)]
    ids += [defer(**{"from": GB_FIXED, "to": GB_CONTACT, "text": f"gb {index}"}) for index in range(6)]
    start_of_next_hour(clock)
    configure(FR_FIXED, hour=100)
    configure(GB_FIXED, hour=100)
    reports: list[dispatch.RunReport] = []
    until = timeutil.utcnow() + timedelta(seconds=50)

    def one_run() -> None:
        with as_function("QuotaResetFunction"):
            reports.append(dispatch.run(until=until, sleep=lambda _seconds: None))  # no pacing wait: maximal overlap

    threads = [threading.Thread(target=one_run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 3
    texts = Counter(sent_texts(gateway.url))
    assert all(texts[f"{country} {index}"] == 1 for country in ("fr", "gb") for index in range(6)), texts
    assert {status(message_id) for message_id in ids} == {"queued"}
    assert sum(report.outcomes.get("sent", 0) for report in reports) == 12


def test_the_dispatcher_spreads_the_minute_budget_and_never_passes_it(world, clock, gateway, monkeypatch):
    monkeypatch.setenv("AIRCALL_REQUESTS_PER_MINUTE", "5")
    get_settings.cache_clear()
    configure(FR_FIXED, hour=1)
    fill_the_hour(1)
    ids = [defer(text=f"paced {index}") for index in range(8)]
    start_of_next_hour(clock, second=0)
    configure(FR_FIXED, hour=100)
    reports = scheduled_runs(clock, 3)
    assert sum(report.outcomes.get("sent", 0) for report in reports) == 8
    assert {status(message_id) for message_id in ids} == {"queued"}
    log = httpx.get(f"{gateway.url}/_sandbox/requests").json()["requests"]
    per_minute = Counter(entry["at"] // 60_000 for entry in log)
    assert max(per_minute.values()) <= 5, per_minute
    assert all(entry["status"] != 429 for entry in log)
    moments = sorted(_sent_at(message_id) for message_id in ids)
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(moments)]
    assert min(gaps) >= 9, f"the minute's budget is not spread over the minute: {gaps}"
    assert [report.outcomes.get("sent", 0) for report in reports] == [5, 3, 0]


def _sent_at(message_id: str) -> datetime:
    record = messages.get(message_id)
    assert record is not None and record.sent_at is not None
    moment = timeutil.parse_time(record.sent_at)
    assert moment is not None
    return moment


def test_a_contact_who_opted_out_meanwhile_is_not_sent_the_deferred_message(world, clock, gateway):
    configure(FR_FIXED, hour=1)
    fill_the_hour(1)
    message_id = defer(text="not for you any more")
    contacts.opt_out(FR_CONTACT, number_id=FR_FIXED, at=timeutil.utcnow(), source="api")
    start_of_next_hour(clock)
    sends = len(aircall_sends(gateway.url))
    report = run(clock)
    record = messages.get(message_id)
    assert report.outcomes == {"rejected": 1}
    assert record is not None and record.status == "rejected" and record.error["code"] == "opted_out"
    assert len(aircall_sends(gateway.url)) == sends


def test_a_message_deferred_past_its_not_after_expires_and_is_never_sent(world, clock, gateway):
    configure(FR_FIXED, hour=1)
    fill_the_hour(1)
    soon = timeutil.utcnow().replace(microsecond=0) + timedelta(minutes=90)
    message_id = defer(text="too late", not_after=timeutil.iso(soon))
    clock.advance(2 * 3600)
    sends = len(aircall_sends(gateway.url))
    report = run(clock)
    record = messages.get(message_id)
    assert report.expired == 1
    assert record is not None and record.status == "expired" and record.error["code"] == "expired"
    assert [change.status for change in record.status_history] == ["deferred", "expired"]
    assert list(messages.MessageRecord.expiring.query(FR_FIXED)) == []
    assert len(aircall_sends(gateway.url)) == sends
    assert run(clock).expired == 0  # a second run finds nothing left to expire


def test_an_aircall_429_puts_the_message_back_and_stops_every_caller_until_the_reset(world, clock, gateway):
    configure(FR_FIXED, hour=1)
    fill_the_hour(1)
    message_id = defer(text="aircall says wait")
    start_of_next_hour(clock)
    httpx.post(
        f"{gateway.url}/_sandbox/faults", json={"path_contains": "/messages/send", "status": 429, "count": 1}
    ).raise_for_status()
    report = run(clock)
    assert (report.outcomes, report.stopped) == ({"requeued": 1}, "aircall")
    record = messages.get(message_id)
    assert record is not None and record.status == "deferred" and record.dispatch_number == FR_FIXED
    clock.advance(61)
    assert run(clock).outcomes == {"sent": 1}


def test_the_handler_runs_the_dispatch_and_the_rollover_and_refuses_an_unknown_task(world, clock):
    handler = load_handler("quota_reset")
    assert handler.lambda_handler({"task": "dispatch"}, FakeContext())["stopped"] == "empty"
    assert set(handler.lambda_handler({"task": "rollover"}, FakeContext())) == {"windows_checked", "windows_recorded"}
    with pytest.raises(ValueError, match="unknown task"):
        handler.lambda_handler({"task": "reset-everything"}, FakeContext())


# ------------------------------------------------------------------------------------------------ rollover
def test_closed_windows_become_usage_history_once_however_often_or_late_the_rollover_runs(world, clock):
    configure(FR_FIXED, hour=5)
    first_hour = ledger.window_sk("hour", timeutil.utcnow().strftime("%Y-%m-%dT%H"))
    fill_the_hour(3)
    assert rollover.roll_over()["windows_recorded"] == 0  # the hour is still open
    start_of_next_hour(clock)
    second_hour = ledger.window_sk("hour", timeutil.utcnow().strftime("%Y-%m-%dT%H"))
    fill_the_hour(2)
    start_of_next_hour(clock)  # two hours closed; the rollover "missed" the first boundary
    assert rollover.roll_over()["windows_recorded"] >= 2
    history = usage_history.history(FR_FIXED)
    assert (history[first_hour], history[second_hour]) == (3, 2)
    assert rollover.roll_over()["windows_recorded"] == 0  # a doubled run writes nothing


def test_admission_never_depends_on_the_rollover(world, clock):
    configure(FR_FIXED, hour=2)
    fill_the_hour(2)
    with pytest.raises(GatewayError) as refused:
        send(text="one too many")
    assert refused.value.code == "quota_exceeded"
    start_of_next_hour(clock)  # no rollover ran: the new hour is a new counter
    assert send(text="a new hour")["status"] == "queued"
    rollover.roll_over()
    rollover.roll_over()
    assert send(text="still counted once")["status"] == "queued"
    with pytest.raises(GatewayError) as full:
        send(text="the new hour is full")
    assert full.value.code == "quota_exceeded"


def test_the_usage_alert_share_is_measured_on_every_run_per_window(world, clock, capsys):
    configure(FR_FIXED, hour=5, day=100)
    fill_the_hour(4)
    capsys.readouterr()
    report = run(clock)
    assert report.usage_max_percent == 80.0
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"WindowUsagePercent"' in line]
    assert {document["window"]: document["WindowUsagePercent"] for document in emitted} == {
        "hour": [80.0],
        "day": [4.0],
        "month": [0.0],  # 4 of 20,000
    }


def test_removing_a_number_rejects_its_deferred_messages(world, clock, gateway):
    configure(FR_FIXED, hour=1)
    fill_the_hour(1)
    waiting = [defer(text=f"orphan {index}") for index in range(3)]
    answer = number_use_cases.remove(ADMIN, FR_FIXED)
    assert answer == {"number_id": int(FR_FIXED), "removed": True, "deferred_rejected": 3}
    for message_id in waiting:
        record = messages.get(message_id)
        assert record is not None and record.status == "rejected"
        assert record.error is not None and record.error["code"] == "number_not_configured"
    assert list(messages.MessageRecord.deferred.query(FR_FIXED)) == []


def test_a_late_run_after_hours_without_runs_sends_only_what_the_current_windows_allow(world, clock, gateway):
    configure(FR_FIXED, hour=2)
    fill_the_hour(2)
    waiting = [defer(text=f"late {index}") for index in range(6)]
    clock.advance(3 * 3600)  # three hours of missed runs: their windows are gone, not owed
    report = run(clock)
    assert report.outcomes == {"sent": 2, "window_full": 1} and report.held == [FR_FIXED]
    assert [status(message_id) for message_id in waiting] == ["queued"] * 2 + ["deferred"] * 4
    assert sorted(sent_texts(gateway.url))[-2:] == ["late 0", "late 1"]  # the oldest first


def test_batch_reads_and_writes_of_more_than_one_request_find_and_write_every_item(world):
    """BatchGetItem takes 100 keys and BatchWriteItem 25 items per request: both helpers split larger sets."""
    from aircall_sms.store import usage
    from aircall_sms.store.base import batch_write

    table = get_settings().ledger_table
    items = [{"pk": {"S": "batch-test"}, "sk": {"S": f"{i:04d}"}, "used": {"N": str(i)}} for i in range(160)]
    assert batch_write(table, [{"PutRequest": {"Item": item}} for item in items]) == 0
    found = usage.batch_read({table: [{"pk": item["pk"], "sk": item["sk"]} for item in items]})
    assert sorted(int(item["used"]["N"]) for item in found.values()) == list(range(160))
