"""The send path under concurrency: many threads call the use case in-process at once, against the DynamoDB
emulator and an Aircall sandbox, both over HTTP (no mocks).

docs/design.md, "Properties that must always hold": no over-admission (per number and window, and the company's
request budget), and no false refusal either (a refused request would not have fit); the same Idempotency-Key
gives the same answer and at most one Aircall call; a refusal for a rule costs no quota.

The session sandbox allows 60 requests a minute, which would make Aircall the bottleneck (and refuse sends with
429 before the gateway's limiter is tested): these tests run against a sandbox of their own with a budget that
never binds, with the same credentials (the secret in the emulator holds the session sandbox's).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from aircall_sandbox import SandboxConfig, SandboxServer
from aircall_sms.domain import quota, segments, timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest, SendRequest
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.errors import GatewayError
from aircall_sms.store import contacts, ledger, messages, numbers
from aircall_sms.use_cases import limits, services
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.send import send_message
from aircall_sms.use_cases.send.prepare import resolve_number
from local_stack.dynamodb import client
from tests.support import reset_gateway_caches

NUMBER_ID = 100005  # +33 1 86 95 42 10, a French fixed line ("every other line": no conversational-only rule)
NUMBER_E164 = "+33186954210"
CONTACT = "+33612345679"
THREADS = 32
OPT_OUT_THREADS = 10
ONE_SEGMENT = "Votre commande est prete."
TWO_SEGMENTS = "Votre commande 4711 est prete. " * 7  # 217 GSM-7 characters: 2 segments
ACCEPTED = ("queued", "sent", "delivered")


@dataclass(frozen=True)
class Answer:
    """What the HTTP layer would answer: a SendOutcome, or the GatewayError the use case raised."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    segments: int
    started: float
    ended: float = field(compare=False)

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None

    @property
    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = self.body["message"]
        return message

    @property
    def replayed(self) -> bool:
        return self.headers.get("Idempotent-Replayed") == "true"


def request_body(text: str = ONE_SEGMENT, *, tag: str, **fields: Any) -> dict[str, Any]:
    return {"from": str(NUMBER_ID), "to": CONTACT, "text": text, "metadata": {"run": tag}} | fields


def call(body: dict[str, Any], key: str | None = None) -> Answer:
    """One send, in-process; never raises (an unexpected exception is a 500, which every test refuses)."""
    text = body.get("text") or ""
    count = max(1, segments.count(text).segments)
    started = time.monotonic()
    try:
        outcome = send_message(principal=ADMIN, request=SendRequest.model_validate(body), idempotency_key=key)
        status, payload, headers = outcome.status_code, outcome.body, dict(outcome.headers)
    except GatewayError as error:
        status, payload, headers = error.status, error.to_body(), dict(error.headers)
    except Exception as error:  # reported as a 500: the assertion shows what broke
        status, payload, headers = 500, {"error": {"code": "crash", "message": repr(error)}}, {}
    return Answer(status, payload, headers, count, started, time.monotonic())


def race(jobs: list[Callable[[], Answer]], threads: int = THREADS) -> list[Answer]:
    """Run `jobs` on `threads` threads, released together; the answers in the order of `jobs`."""
    go = threading.Event()

    def held(job: Callable[[], Answer]) -> Answer:
        go.wait()
        return job()

    with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
        futures = [pool.submit(held, job) for job in jobs]
        time.sleep(0.05)  # let every worker reach the gate
        go.set()
        return [future.result(timeout=60) for future in futures]


def configure(limits: dict[str, int] | None = None) -> None:
    number_use_cases.configure(
        ADMIN,
        str(NUMBER_ID),
        NumberRequest(mode="proxy", registration="none", limits=limits),
        request_callback_url="https://unused/webhooks/aircall",
    )


def warm() -> None:
    """Read the number and the Aircall credentials once, as a warm instance has them, so that the threads race on
    the send itself rather than on filling the caches."""
    resolve_number(str(NUMBER_ID))
    services.aircall()


def number_windows(now: datetime) -> list[quota.Window]:
    record = numbers.get(str(NUMBER_ID))
    assert record is not None
    return limits.number_windows(record, now)


def window_used(dynamodb: Any, window: quota.Window) -> int:
    """Segments charged to the number in `window` (the ledger's counter)."""
    key = {"pk": {"S": ledger.quota_pk(str(NUMBER_ID))}, "sk": {"S": ledger.window_sk(window.name, window.key)}}
    item = dynamodb.get_item(TableName="LedgerTable", Key=key, ConsistentRead=True).get("Item")
    return int(item["used"]["N"]) if item else 0


def company_requests(dynamodb: Any) -> dict[str, int]:
    """The company's request counters: minute key -> requests."""
    found = {}
    for page in dynamodb.get_paginator("query").paginate(
        TableName="LedgerTable",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :requests)",
        ExpressionAttributeValues={":pk": {"S": ledger.COMPANY}, ":requests": {"S": "requests#"}},
        ConsistentRead=True,
    ):
        for item in page["Items"]:
            found[item["sk"]["S"].removeprefix("requests#")] = int(item["used"]["N"])
    return found


def archived(tag: str) -> list[messages.MessageRecord]:
    """This test's outbound messages from the number, told apart by the tag in their metadata."""
    return [
        record
        for record in messages.MessageRecord.scan(
            (messages.MessageRecord.number_id == str(NUMBER_ID)) & (messages.MessageRecord.direction == "outbound")
        )
        if isinstance(record.metadata, dict) and record.metadata.get("run") == tag
    ]


def aircall_sends(server: SandboxServer) -> list[dict[str, Any]]:
    """The sends the sandbox took (performed) from the number."""
    answer = httpx.get(f"{server.url}/_sandbox/messages", params={"number_id": NUMBER_ID, "direction": "outbound"})
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["messages"]
    return found


def aircall_send_requests(server: SandboxServer, *, at_least: int = 1) -> list[dict[str, Any]]:
    """Every send request that reached the sandbox, performed or not (a request is logged once answered: this
    waits a few seconds for `at_least` of them, for a slow answer to finish)."""
    deadline = time.monotonic() + 5
    while True:
        answer = httpx.get(
            f"{server.url}/_sandbox/requests", params={"method": "POST", "path_contains": "/messages/send"}
        )
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["requests"]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def roomy_sandbox(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """A sandbox whose request budget never binds, with the session sandbox's credentials (they are the ones
    in the emulator's secret). Callbacks go nowhere (CALLBACK_URL is a closed port): no retries."""
    config = SandboxConfig(
        api_id=sandbox.config.api_id,
        api_token=sandbox.config.api_token,
        access_token=sandbox.config.access_token,
        requests_per_minute=1_000_000,
        callback_delay_ms=10,
        webhook_retries=0,
        allow_http_loopback_callbacks=True,
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def fast_gateway(gateway, roomy_sandbox, emulator, monkeypatch) -> Iterator[SandboxServer]:
    """The gateway against the roomy sandbox, with a company budget that never binds either."""
    monkeypatch.setenv("AIRCALL_API_BASE_URL", roomy_sandbox.url)
    monkeypatch.setenv("AIRCALL_REQUESTS_PER_MINUTE", "1000000")
    reset_gateway_caches()
    httpx.post(f"{roomy_sandbox.url}/_sandbox/reset").raise_for_status()
    _empty_archive(client("dynamodb", emulator.url))
    yield roomy_sandbox
    httpx.delete(f"{roomy_sandbox.url}/_sandbox/faults")


def _empty_archive(dynamodb: Any) -> None:
    """Start with an empty MessagesTable. Not for correctness (messages are told apart by a tag per test) but
    for time: moto deep-copies every table a TransactWriteItems touches, so each send costs time in proportion
    to the archive's size, and these tests archive hundreds of messages."""
    for page in dynamodb.get_paginator("scan").paginate(TableName="MessagesTable", ProjectionExpression="id"):
        items = page["Items"]
        for start in range(0, len(items), 25):
            batch = [{"DeleteRequest": {"Key": {"id": item["id"]}}} for item in items[start : start + 25]]
            dynamodb.batch_write_item(RequestItems={"MessagesTable": batch})


@pytest.fixture
def dynamodb(emulator) -> Any:
    return client("dynamodb", emulator.url)


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def now() -> datetime:
    """The gateway's clock stands still (`timeutil.freeze`): every send of the test counts in the same windows,
    even across an hour or a midnight."""
    return timeutil.freeze(utcnow())


# ------------------------------------------------------------------------------------------------ 1. limiter
def test_tight_windows_admit_exactly_their_room_under_32_threads(fast_gateway, dynamodb, tag, now):
    assert segments.count(ONE_SEGMENT).segments == 1 and segments.count(TWO_SEGMENTS).segments == 2
    limits = {"hour": 40, "day": 45, "month": 47}
    configure(limits)
    window_list = number_windows(now)
    assert {window.name: window.limit for window in window_list} == limits
    # Pre-charge: counters written directly (earlier traffic) plus four real sends of 6 segments, so that every
    # window has 15 segments of room left: three windows bind at once.
    written = {"hour": 19, "day": 24, "month": 26}
    for window in window_list:
        dynamodb.put_item(
            TableName="LedgerTable",
            Item={
                "pk": {"S": ledger.quota_pk(str(NUMBER_ID))},
                "sk": {"S": ledger.window_sk(window.name, window.key)},
                "used": {"N": str(written[window.name])},
            },
        )
    warmup = [call(request_body(text, tag=tag)) for text in (ONE_SEGMENT, TWO_SEGMENTS, ONE_SEGMENT, TWO_SEGMENTS)]
    assert [answer.status for answer in warmup] == [201] * 4
    used_before = {window.name: window_used(dynamodb, window) for window in window_list}
    assert used_before == {"hour": 25, "day": 30, "month": 32}
    room = {window.name: window.limit - used_before[window.name] for window in window_list}
    assert set(room.values()) == {15}

    texts = [TWO_SEGMENTS if index % 2 else ONE_SEGMENT for index in range(4 * 15)]
    answers = race([partial(call, request_body(text, tag=tag)) for text in texts])

    statuses = Counter((answer.status, answer.code) for answer in answers)
    assert set(statuses) <= {(201, None), (429, "quota_exceeded")}, statuses
    admitted = [answer for answer in answers if answer.status == 201]
    refused = [answer for answer in answers if answer.status == 429]
    admitted_segments = sum(answer.segments for answer in admitted)
    assert sum(answer.message["segments"] for answer in admitted) == admitted_segments
    for window in window_list:  # no over-admission
        assert admitted_segments <= room[window.name], (window.name, admitted_segments, room)
    used_after = {window.name: window_used(dynamodb, window) for window in window_list}
    assert used_after == {name: used + admitted_segments for name, used in used_before.items()}
    room_left = min(window.limit - used_after[window.name] for window in window_list)
    assert refused, "the race must overflow the room"
    assert room_left < min(answer.segments for answer in refused), (room_left, "a refused request would have fit")
    for answer in refused:  # and each refusal names a window that really had no room for it at that moment
        details = answer.body["error"]["details"]
        assert details["used"] + details["segments"] > details["limit"], details

    # The archive explains every counter: accepted messages carry the segments charged, refused ones are rejected.
    records = archived(tag)
    accepted = [record for record in records if record.status in ACCEPTED]
    assert {record.id for record in accepted} == {a.message["id"] for a in [*warmup, *admitted]}
    for window in window_list:
        assert used_after[window.name] == written[window.name] + sum(int(record.segments) for record in accepted)
    assert Counter(record.status for record in records if record.status not in ACCEPTED) == {"rejected": len(refused)}

    # Aircall took exactly the admitted sends, each once.
    sent = aircall_sends(fast_gateway)
    assert sorted(message["id"] for message in sent) == sorted(a.message["aircall_id"] for a in [*warmup, *admitted])
    assert len(aircall_send_requests(fast_gateway)) == len(sent)
    # A refusal costs no company budget either: configure's two calls, the warm-up and the admitted sends.
    assert sum(company_requests(dynamodb).values()) == 2 + len(warmup) + len(admitted)


# ------------------------------------------------------------------------------------------------ 2. company
def test_the_company_budget_admits_exactly_its_requests_per_minute(fast_gateway, dynamodb, tag, monkeypatch):
    configure()  # charges the company budget twice, in the real minute
    monkeypatch.setenv("AIRCALL_REQUESTS_PER_MINUTE", "10")
    reset_gateway_caches()
    warm()
    now = timeutil.freeze((utcnow() + timedelta(minutes=5)).replace(second=30, microsecond=0))
    minute = quota.minute_key(now)
    assert minute not in company_requests(dynamodb)

    answers = race([lambda: call(request_body(tag=tag)) for _ in range(20 * 3)], threads=20)

    statuses = Counter((answer.status, answer.code) for answer in answers)
    assert statuses == {(201, None): 10, (429, "rate_limited"): 50}, statuses
    assert company_requests(dynamodb)[minute] == 10
    assert len(aircall_sends(fast_gateway)) == 10
    for window in number_windows(now):
        assert window_used(dynamodb, window) == 10
    records = archived(tag)
    assert Counter(record.status for record in records) == {"queued": 10, "rejected": 50}


# ------------------------------------------------------------------------------------------------ 3. idempotency
def test_sixteen_identical_requests_with_one_key_send_once_and_answer_alike(fast_gateway, dynamodb, tag, now):
    configure()
    body, key = request_body(TWO_SEGMENTS, tag=tag), f"race-{tag}"

    answers = race([lambda: call(body, key) for _ in range(16)], threads=16)

    assert [answer.status for answer in answers] == [201] * 16, [(a.status, a.code) for a in answers]
    assert all(answer.body == answers[0].body for answer in answers)
    assert sorted(answer.replayed for answer in answers) == [False] + [True] * 15
    message = answers[0].message
    assert len(aircall_sends(fast_gateway)) == 1
    assert [record.id for record in archived(tag)] == [message["id"]]
    for window in number_windows(now):
        assert window_used(dynamodb, window) == 2
    assert sum(company_requests(dynamodb).values()) == 2 + 1  # configure's two calls, one send


def test_one_key_with_another_body_is_a_conflict_and_never_reaches_aircall(fast_gateway, tag):
    configure()
    key = f"seq-{tag}"
    first = call(request_body(tag=tag), key)
    assert first.status == 201
    other = call(request_body("Un autre texte.", tag=tag), key)
    assert (other.status, other.code) == (409, "idempotency_conflict")
    assert len(aircall_sends(fast_gateway)) == 1

    key = f"concurrent-{tag}"
    mine, theirs = request_body("Texte A", tag=tag), request_body("Texte B", tag=tag)
    answers = race([partial(call, body, key) for body in [mine, theirs] * 8], threads=16)
    by_body = {
        "A": [answer for index, answer in enumerate(answers) if index % 2 == 0],
        "B": [answer for index, answer in enumerate(answers) if index % 2 == 1],
    }
    outcomes = {name: {(answer.status, answer.code) for answer in group} for name, group in by_body.items()}
    assert sorted(outcomes.values(), key=str) == [{(201, None)}, {(409, "idempotency_conflict")}], outcomes
    winners = [answer for answer in answers if answer.status == 201]
    assert all(answer.body == winners[0].body for answer in winners)
    assert len(aircall_sends(fast_gateway)) == 2
    assert len(archived(tag)) == 2


def test_a_key_refused_by_aircall_replays_the_502_without_calling_again(fast_gateway, dynamodb, tag, now):
    configure()
    body, key = request_body(tag=tag, to=NUMBER_E164), f"refused-{tag}"  # SameDestinationAsSender

    answers = race([lambda: call(body, key) for _ in range(8)], threads=8)
    again = call(body, key)

    assert [(answer.status, answer.code) for answer in [*answers, again]] == [(502, "aircall_error")] * 9
    assert all(answer.body == again.body for answer in answers)
    assert again.body["error"]["details"]["aircall_key"] == "SameDestinationAsSender"
    assert sorted(answer.replayed for answer in answers) == [False] + [True] * 7 and again.replayed
    assert len(aircall_send_requests(fast_gateway)) == 1
    [record] = archived(tag)
    assert record.status == "failed"
    for window in number_windows(now):  # the refusal gave the segment back
        assert window_used(dynamodb, window) == 0
    assert sum(company_requests(dynamodb).values()) == 2 + 1  # the request did reach Aircall: it stays counted


def test_a_key_whose_send_timed_out_replays_the_504_and_is_never_sent_again(fast_gateway, dynamodb, tag, now):
    configure()
    httpx.post(
        f"{fast_gateway.url}/_sandbox/faults",
        json={"latency_ms": 2300, "count": 1, "path_contains": "/messages/send", "mode": "after"},
    ).raise_for_status()
    body, key = request_body(tag=tag), f"timeout-{tag}"

    answers = race([lambda: call(body, key) for _ in range(6)], threads=6)  # five wait for the first one's outcome
    again = call(body, key)

    assert [(answer.status, answer.code) for answer in [*answers, again]] == [(504, "aircall_timeout")] * 7
    assert all(answer.body == again.body for answer in answers)
    assert sorted(answer.replayed for answer in answers) == [False] + [True] * 5 and again.replayed
    assert len(aircall_send_requests(fast_gateway)) == 1
    assert len(aircall_sends(fast_gateway)) == 1  # Aircall did send it: the gateway must never send it again
    [record] = archived(tag)
    assert record.status == "unknown"
    for window in number_windows(now):  # the message may be on its way: its segment stays charged
        assert window_used(dynamodb, window) == 1
    assert sum(company_requests(dynamodb).values()) == 2 + 1


def test_a_key_refused_for_quota_may_be_used_again_once_there_is_room(fast_gateway, dynamodb, tag, now):
    configure({"hour": 2})
    assert call(request_body(TWO_SEGMENTS, tag=tag)).status == 201  # the hour is full
    body, key = request_body(tag=tag), f"quota-{tag}"

    full = race([lambda: call(body, key) for _ in range(8)], threads=8)
    assert [(answer.status, answer.code, answer.replayed) for answer in full] == [(429, "quota_exceeded", False)] * 8

    configure({"hour": 3})  # room for exactly this message: the duplicates find the key used *and* the hour full
    answers = race([lambda: call(body, key) for _ in range(8)], threads=8)
    assert [answer.status for answer in answers] == [201] * 8, [(a.status, a.code) for a in answers]
    assert all(answer.body == answers[0].body for answer in answers)
    assert sorted(answer.replayed for answer in answers) == [False] + [True] * 7
    assert len(aircall_sends(fast_gateway)) == 2
    hour = next(window for window in number_windows(now) if window.name == "hour")
    assert window_used(dynamodb, hour) == 3


# ------------------------------------------------------------------------------------------------ 4. opt-out
@pytest.mark.parametrize("scope", ["number", "company"])
def test_sends_issued_after_an_opt_out_returns_are_all_refused(fast_gateway, dynamodb, tag, scope, now):
    configure()
    call(request_body(tag=tag))  # warm: every client and cache exists before the threads start
    opted_at: list[float] = []
    opted = threading.Event()
    answers: list[Answer] = []
    lock = threading.Lock()

    def keep_sending() -> None:
        after = 0
        while after < 2:
            answer = call(request_body(tag=tag))
            with lock:
                answers.append(answer)
            if opted.is_set() and answer.started > opted_at[0]:
                after += 1

    with ThreadPoolExecutor(max_workers=OPT_OUT_THREADS) as pool:
        workers = [pool.submit(keep_sending) for _ in range(OPT_OUT_THREADS)]
        deadline = time.monotonic() + 10
        while len(answers) < OPT_OUT_THREADS and time.monotonic() < deadline:
            time.sleep(0.01)
        contacts.opt_out(CONTACT, number_id=str(NUMBER_ID) if scope == "number" else None, at=utcnow(), source="test")
        opted_at.append(time.monotonic())
        opted.set()
        for worker in workers:
            worker.result(timeout=60)

    statuses = Counter((answer.status, answer.code) for answer in answers)
    assert set(statuses) <= {(201, None), (403, "opted_out")}, statuses
    after = [answer for answer in answers if answer.started > opted_at[0]]
    assert len(after) >= OPT_OUT_THREADS * 2
    assert {(answer.status, answer.code) for answer in after} == {(403, "opted_out")}
    assert {answer.body["error"]["details"]["scope"] for answer in after} == {scope}
    admitted = [answer for answer in answers if answer.status == 201]
    assert len(admitted) >= OPT_OUT_THREADS  # the race did happen with sends in flight
    assert len(aircall_sends(fast_gateway)) == len(admitted) + 1
    records = archived(tag)
    assert Counter(record.status for record in records) == {
        "queued": len(admitted) + 1,
        "rejected": statuses[(403, "opted_out")],
    }
    for window in number_windows(now):  # a refusal for a rule costs no quota
        assert window_used(dynamodb, window) == len(admitted) + 1
