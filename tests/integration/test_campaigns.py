"""Campaigns over the manage function's API Gateway events against the DynamoDB emulator and the Aircall sandbox
over HTTP, the dispatcher driven on the simulated clock (the harness of the scheduled sends): a campaign is stored
in a few items, each dispatcher run makes the campaign's share of the minute's budget left after live traffic into
normal messages (`metadata.campaign_id`) that go out through the dispatcher's queue; an opted-out recipient is
refused then; pause stops it, cancel ends it, each mistake is a 400 naming its field with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from aircall_sms.domain import campaigns as rules
from aircall_sms.domain import timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL
from aircall_sms.domain.requests import SendRequest
from aircall_sms.settings import get_settings
from aircall_sms.store import budget, contacts, messages, numbers, usage
from aircall_sms.store import campaigns as store
from aircall_sms.store.base import raw_client
from aircall_sms.use_cases import dispatch
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.send import send_message
from local_stack.clock import SimulatedClock
from local_stack.dynamodb import client as aws_client
from tests.integration.test_scheduled_sends import (  # the same harness and fixtures
    FR_FIXED,
    as_key,
    configure,
    early_in_an_hour,
    later,
    minute_start,
    post,
    run_at,
    sent_texts,
)
from tests.support import as_function, invoke, load_event, with_body


@pytest.fixture
def clock(gateway: Any) -> Iterator[SimulatedClock]:
    with SimulatedClock(gateway.url) as simulated:
        yield simulated


@pytest.fixture
def world(gateway: Any, clock: SimulatedClock, emulator: Any) -> Iterator[None]:
    """As the scheduled sends' world: no waiting message left by other tests, FR_FIXED configured."""
    dynamodb = aws_client("dynamodb", emulator.url)
    table = get_settings().messages_table
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="attribute_exists(dispatch_number)", ProjectionExpression="id"
    ):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
    for record in store.list_all():  # no campaign of another test still running
        if record.status in (rules.SCHEDULED, rules.RUNNING, rules.PAUSED):
            store.set_status(
                record.campaign_id, status=rules.CANCELLED, seen=record.status, at=timeutil.iso(timeutil.utcnow())
            )
    configure(FR_FIXED)
    yield None
    numbers.delete(FR_FIXED)


def call(method: str, path: str, resource: str, body: Any = None, **key: str) -> tuple[int, dict[str, Any]]:
    parameters = {"id": path.split("/")[2]} if resource != "/campaigns" else None
    event = load_event("manage_get_message", pathParameters=parameters, path=path, resource=resource)
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["requestContext"]["resourcePath"] = resource
    if body is not None:
        event = with_body(event, body)
        event["headers"]["Content-Type"] = "application/json"
    return invoke("manage", as_key(event, **key))


def create(body: dict[str, Any], **key: str) -> tuple[int, dict[str, Any]]:
    return call("POST", "/campaigns", "/campaigns", {"from": FR_FIXED, "purpose": "transactional"} | body, **key)


def recipients(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"to": f"+336{20000000 + start + index:08d}", "values": {"n": str(index)}} for index in range(count)]


def campaign(campaign_id: str) -> dict[str, Any]:
    code, body = call("GET", f"/campaigns/{campaign_id}", "/campaigns/{id}")
    assert code == 200, body
    found: dict[str, Any] = body["campaign"]
    return found


def change(campaign_id: str, action: str, **key: str) -> tuple[int, dict[str, Any]]:
    return call("POST", f"/campaigns/{campaign_id}/{action}", f"/campaigns/{{id}}/{action}", **key)


def campaign_messages(campaign_id: str) -> list[messages.MessageRecord]:
    found = []
    for page in (
        raw_client().get_paginator("scan").paginate(TableName=get_settings().messages_table, ProjectionExpression="id")
    ):
        for item in page["Items"]:
            record = messages.get(item["id"]["S"])
            if record is not None and record.campaign_id == campaign_id:
                # first-class, and still in the metadata for the clients that read it there
                assert (record.metadata or {}).get("campaign_id") == campaign_id
                assert record.to_api()["campaign_id"] == campaign_id
                found.append(record)
    return found


def test_a_campaign_is_sent_at_its_share_of_the_budget_through_normal_messages(world, clock, gateway):
    # Windows far larger than the campaign, whatever the minute of the hour: the company budget's share binds (the
    # share of the number's windows, spread over the hour, is the subject of the last test).
    configure(FR_FIXED, hour=100_000, day=1_000_000, month=10_000_000)
    start = later(3, 0)
    code, body = create({"text": "Code {{n}}", "recipients": recipients(40), "send_at": timeutil.iso(start)})
    assert code == 201, body
    created = body["campaign"]
    assert (created["status"], created["recipients"], created["pending"]) == ("scheduled", 40, 40)
    assert created["progress"] == dict.fromkeys(rules.OUTCOMES, 0)
    assert campaign_messages(created["id"]) == []  # nothing materialised before it is due

    before = run_at(clock, minute_start(start - timedelta(minutes=1)))
    assert before.campaign_messages == 0
    share = rules.campaign_share(get_settings().aircall_requests_per_minute, 0)
    first = run_at(clock, minute_start(start))
    assert first.campaign_messages == min(share, 40)
    assert first.outcomes == {"sent": min(share, 40)}
    progress = campaign(created["id"])
    assert progress["status"] == ("done" if share >= 40 else "running")
    assert progress["progress"]["queued"] == min(share, 40) and progress["pending"] == 40 - min(share, 40)
    for _ in range(5):
        if campaign(created["id"])["pending"] == 0:
            break
        start += timedelta(minutes=1)
        run_at(clock, minute_start(start))
    made = campaign_messages(created["id"])
    assert len(made) == 40 and {record.status for record in made} == {"queued"}
    assert sorted(record.text for record in made) == sorted(f"Code {index}" for index in range(40))
    texts = sent_texts(gateway.url)
    assert all(texts.count(f"Code {index}") == 1 for index in range(40))
    assert campaign(created["id"])["status"] == "done"


def test_recipients_who_opt_out_or_reply_during_the_campaign_are_skipped(world, clock, gateway):
    start = later(2, 0)
    code, body = create({"text": "Hi {{n}}", "recipients": recipients(3, 500), "send_at": timeutil.iso(start)})
    assert code == 201, body
    contacts.opt_out("+33620000501", number_id=FR_FIXED, at=timeutil.utcnow(), source="api")
    contacts.record_inbound("+33620000502", number_id=FR_FIXED, at=timeutil.utcnow(), message_id="msg_reply")
    run_at(clock, minute_start(start))
    done = campaign(body["campaign"]["id"])
    assert (done["progress"]["queued"], done["progress"]["skipped"], done["status"]) == (1, 2, "done")
    made = campaign_messages(body["campaign"]["id"])
    assert sorted((record.recipient, record.status) for record in made) == [
        ("+33620000500", "queued"),
        ("+33620000501", "rejected"),  # the send path archived the refusal (opted_out)
    ]


def test_pause_holds_a_campaign_resume_goes_on_cancel_ends_it_each_idempotent(world, clock, gateway):
    start = later(2, 0)
    code, body = create({"text": "P {{n}}", "recipients": recipients(5, 700), "send_at": timeutil.iso(start)})
    campaign_id = body["campaign"]["id"]
    assert change(campaign_id, "pause") == change(campaign_id, "pause")  # idempotent
    assert campaign(campaign_id)["status"] == "paused"
    assert run_at(clock, minute_start(start)).campaign_messages == 0
    code, resumed = change(campaign_id, "resume")
    assert (code, resumed["campaign"]["status"]) == (200, "running")
    code, cancelled = change(campaign_id, "cancel")
    assert (code, cancelled["campaign"]["status"]) == (200, "cancelled")
    assert change(campaign_id, "cancel")[0] == 200
    code, refused = change(campaign_id, "resume")
    assert (code, refused["error"]["code"], refused["error"]["details"]["status"]) == (
        409,
        "campaign_not_changeable",
        "cancelled",
    )
    assert run_at(clock, minute_start(start + timedelta(minutes=1))).campaign_messages == 0
    assert campaign_messages(campaign_id) == []


def test_a_dry_run_counts_segments_and_an_eta_and_writes_nothing(world, gateway):
    before = len(store.list_all())
    code, body = create({"text": "Code {{n}}", "recipients": recipients(100), "dry_run": True})
    assert code == 200, body
    share = rules.campaign_share(get_settings().aircall_requests_per_minute, 0)
    assert body["preflight"] == {"recipients": 100, "segments": 100, "eta_seconds": 60 * ((100 - 1) // share)}
    assert len(store.list_all()) == before


@pytest.mark.parametrize(
    ("change_body", "field"),
    [
        ({"recipients": recipients(rules.MAX_RECIPIENTS + 1)}, "recipients"),
        ({"recipients": [*recipients(2), {"to": "not a phone"}]}, "recipients[2].to"),
        ({"recipients": [{"to": "+33620000001"}]}, "recipients[0].values"),
        ({"recipients": recipients(1), "purpose": "spam"}, "purpose"),
    ],
)
def test_each_mistake_is_a_400_naming_the_field_and_nothing_is_written(world, gateway, change_body, field):
    before = len(store.list_all())
    code, body = create({"text": "Code {{n}}"} | change_body)
    assert (code, body["error"]["code"], body["error"]["details"]["field"]) == (400, "invalid_campaign", field)
    assert len(store.list_all()) == before


def test_a_send_at_in_the_past_is_refused(world, gateway):
    past = timeutil.iso(timeutil.utcnow() - timedelta(hours=1))
    code, body = create({"text": "x", "recipients": recipients(1), "send_at": past})
    assert (code, body["error"]["code"], body["error"]["details"]["field"]) == (400, "invalid_send_at", "send_at")


def test_a_key_of_other_numbers_may_not_create_or_read(world, gateway):
    code, body = create({"text": "x {{n}}", "recipients": recipients(1)}, scopes="send", number_ids="999999")
    assert (code, body["error"]["code"]) == (403, "number_not_allowed")
    code, body = create({"text": "x {{n}}", "recipients": recipients(1)})
    campaign_id = body["campaign"]["id"]
    code, _ = call("GET", f"/campaigns/{campaign_id}", "/campaigns/{id}", scopes="read", number_ids="999999")
    assert code == 404
    code, refused = change(campaign_id, "cancel", scopes="read")
    assert (code, refused["error"]["code"]) == (403, "insufficient_scope")
    change(campaign_id, "cancel")


def test_ten_thousand_recipients_are_created_in_a_bounded_number_of_writes(world, gateway, monkeypatch):
    writes: list[int] = []
    client = raw_client()
    original_batch, original_put = client.batch_write_item, client.put_item

    def batch(**request: Any) -> Any:
        writes.extend(len(items) for items in request["RequestItems"].values())
        return original_batch(**request)

    def put(**request: Any) -> Any:
        writes.append(1)
        return original_put(**request)

    monkeypatch.setattr(client, "batch_write_item", batch)
    monkeypatch.setattr(client, "put_item", put)
    code, body = create({"text": "Code {{n}}", "recipients": recipients(rules.MAX_RECIPIENTS)})
    assert code == 201, body
    assert body["campaign"]["recipients"] == rules.MAX_RECIPIENTS
    assert sum(writes) == rules.MAX_RECIPIENTS // rules.MAX_CHUNK_RECIPIENTS + 1  # 20 chunks and the campaign
    change(body["campaign"]["id"], "cancel")


def test_a_campaign_takes_only_a_share_of_what_live_sends_left_and_nothing_when_they_took_it_all(world, clock, gateway):
    start = later(2, 0)
    code, body = create({"text": "L {{n}}", "recipients": recipients(10, 900), "send_at": timeutil.iso(start)})
    assert code == 201, body
    campaign_id = body["campaign"]["id"]
    per_minute = get_settings().aircall_requests_per_minute
    clock.advance_to(minute_start(start).timestamp())
    for _ in range(per_minute):  # live sends took the whole minute's budget
        budget.charge(timeutil.utcnow())
    with as_function("QuotaResetFunction"):
        assert dispatch.run(sleep=clock.sleep).campaign_messages == 0
    assert campaign(campaign_id)["pending"] == 10
    clock.advance_to(minute_start(start + timedelta(minutes=1)).timestamp())
    for _ in range(per_minute - 4):  # live sends left 4 requests: the campaign takes half of them
        budget.charge(timeutil.utcnow())
    with as_function("QuotaResetFunction"):
        report = dispatch.run(sleep=clock.sleep)
    assert report.campaign_messages == 2 and report.outcomes == {"sent": 2}
    assert campaign(campaign_id)["pending"] == 8
    change(campaign_id, "cancel")


def hour_used(number_id: str) -> int:
    number = numbers.get(number_id)
    assert number is not None
    hour = next(window for window in number_windows(number, timeutil.utcnow()) if window.name == "hour")
    return usage.current_usage([(number, hour)])[0][2]


def test_a_campaign_fills_only_its_share_of_the_hour_and_live_sends_keep_the_rest(world, clock, gateway):
    """CAMPAIGN_SHARE_PERCENT (80) of an hour window of 10: the campaign's messages stop at 8 segments (paced over
    the hour, never refused: the rest wait), a campaign's message past the share waits in the queue (still the
    campaign's) while the number's live sends take the last 2, and goes out when the hour turns."""
    early_in_an_hour(clock)
    configure(FR_FIXED, hour=10, day=1000, month=10000)
    code, body = create({"text": "Offre {{n}}", "recipients": recipients(12, 700)})
    assert code == 201, body
    campaign_id = body["campaign"]["id"]
    for _ in range(20):
        run_at(clock, later(1, 2))
        if hour_used(FR_FIXED) >= 8:
            break
    assert hour_used(FR_FIXED) == 8
    idle = run_at(clock, later(1, 2))  # at the share: the campaign makes nothing more this hour
    assert (idle.campaign_messages, hour_used(FR_FIXED)) == (0, 8)
    progress = campaign(campaign_id)
    assert (progress["status"], progress["pending"], progress["progress"]["queued"]) == ("running", 4, 8)

    # A campaign's message made now (as the campaign's runs make them) waits: the share is used.
    request = SendRequest.model_validate(
        {"from": FR_FIXED, "to": "+33620000799", "text": "Offre tardive", "purpose": "transactional",
         "send_at": timeutil.iso(timeutil.utcnow())}
    )  # fmt: skip
    waiting = send_message(request, principal=ADMIN_PRINCIPAL, campaign_id=campaign_id).body["message"]
    assert (waiting["status"], waiting["campaign_id"]) == ("scheduled", campaign_id)
    held = run_at(clock, later(1, 2))
    assert held.outcomes == {"campaign_share": 1} and held.campaigns_held == [FR_FIXED], held.to_dict()
    still = messages.get(waiting["id"])
    assert still is not None and (still.status, still.campaign_id) == ("scheduled", campaign_id)

    # Live sends are charged against the whole window: the 2 segments the campaign left are theirs.
    for text in ("Votre rendez-vous est confirmé.", "À demain."):
        code, answer = post({"purpose": "transactional", "text": text})
        assert code == 201, answer
    code, answer = post({"purpose": "transactional", "text": "Encore un ?"})
    assert (code, answer["error"]["code"], answer["error"]["details"]["limit"]) == (429, "quota_exceeded", 10)

    # The next hour: the waiting message goes out, still the campaign's, and the campaign goes on.
    clock.advance_to((timeutil.utcnow().replace(minute=0, second=2, microsecond=0) + timedelta(hours=1)).timestamp())
    run_at(clock, timeutil.utcnow())
    sent = messages.get(waiting["id"])
    assert sent is not None and (sent.status, sent.campaign_id) == ("queued", campaign_id)
    assert sent.to_api()["campaign_id"] == campaign_id
    assert campaign(campaign_id)["pending"] < 4
