"""Fault injection against the DynamoDB emulator and the Aircall sandbox, over HTTP.

Each test injects one fault into a send (live or by the dispatcher) and states, in its docstring, what the
caller gets, what the archive says, what happens to the quota and what resolves it (docs/operations.md,
"Failure behaviour"). Every test then checks the same four properties (`World.assert_properties`):

- **no message lost**: every request the gateway accepted is archived with a final status, an explicitly pending
  one (`deferred`, `unknown`), or is with Aircall (`queued`/`sent` with Aircall's id);
- **none sent twice**: every text (unique per request) reached Aircall at most once, and only messages the archive
  says were or may have been sent did;
- **no quota leaked for good**: every segment counter of the number holds exactly the segments of the messages
  charged to that window that were or may have been sent; refused and released ones are back;
- idempotent retries behave as docs/api.md, "Sending" (Idempotency) says (checked where a test retries).

How the faults are made:
- Aircall: the sandbox's fault controls (`POST /_sandbox/faults`: a status, a latency beyond the gateway's read
  timeout, `before` = the request is not performed, `after` = it is performed and the answer is lost), a closed
  port (unreachable), and for malformed answers a small proxy in front of the sandbox that forwards the send (so
  Aircall really has the message) and replaces the answer with garbage.
- DynamoDB: botocore's event system on the gateway's DynamoDB client (the one pynamodb and `raw_client()`
  share): a `before-parameter-build` handler raises the error botocore raises once its own retries are spent
  (throttling, a cancelled transaction with chosen cancellation reasons, a failed condition), or a `before-send`
  handler answers one HTTP attempt with DynamoDB's throttling answer, which botocore's retry policy sees.
- A Lambda killed between the reservation and the Aircall call: the Aircall client's send raises a
  `BaseException` that nothing in the gateway catches, as a killed process would stop there.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from aircall_sms.clients.aircall import MIN_READ_TIMEOUT, AircallClient
from aircall_sms.domain import timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.deadline import MARGIN
from aircall_sms.domain.requests import NumberRequest, SendRequest
from aircall_sms.domain.status import FINAL
from aircall_sms.domain.timeutil import iso, parse_time
from aircall_sms.errors import GatewayError
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger, messages, numbers, queue
from aircall_sms.store.base import raw_client
from aircall_sms.use_cases import callbacks as callback_use_cases
from aircall_sms.use_cases import dispatch, number_repair, services
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import handle_callback, reconcile
from aircall_sms.use_cases.send import send_message
from aircall_sms.use_cases.send.outcome import SendOutcome
from local_stack.clock import SimulatedClock
from local_stack.dynamodb import client as aws_client
from tests.support import FakeContext, invoke, load_event, load_handler, with_body

FR_FIXED = "100005"  # +33 1 86 95 42 10, "other" limits, no registration needed
CONTACT = "+33612348080"  # written to by no other module: no other test's callback can claim these messages
SEND_PATH = "/messages/send"
READ_TIMEOUT = 0.4  # seconds: the gateway's Aircall read timeout in the timeout tests
SLOW_MS = 1200  # an Aircall answer this slow is a timeout for the gateway
PAST_THE_SWEEP_DELAY = timedelta(seconds=31)
STORM = 4  # consecutive 429 answers in the storm tests
WINDOWS = ("hour", "day", "month")
WITH_AIRCALL = frozenset({"queued", "sent"})  # Aircall has it (its id is recorded); callbacks will settle it
MAY_HAVE_BEEN_SENT = frozenset({"unknown", "queued", "sent", "delivered"})


REAL_AIRCALL = services.aircall


class LambdaKilled(BaseException):
    """The Lambda instance stops here (timeout, out of memory, a crash): nothing after this line runs."""


# ================================================================================================ observing
@dataclass
class World:
    """The gateway's effects as a test can observe them: the ledger, the archive, the sandbox."""

    dynamodb: Any
    sandbox_api: httpx.Client
    sandbox_url: str
    known: set[str] = field(default_factory=set)  # archive ids before the test
    texts: list[str] = field(default_factory=list)  # every text this test asked to send

    def text(self, label: str) -> str:
        """A text unique to this request (so the sandbox's log tells each message apart)."""
        value = f"{label} ({uuid.uuid4().hex[:10]})"
        self.texts.append(value)
        return value

    # ------------------------------------------------------------------ the ledger
    def counters(self, pk: str) -> dict[str, int]:
        found: dict[str, int] = {}
        query = {
            "TableName": get_settings().ledger_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        for page in self.dynamodb.get_paginator("query").paginate(**query):
            for item in page["Items"]:
                if "used" in item:
                    found[item["sk"]["S"]] = int(item["used"]["N"])
        return found

    def quota(self, window: str = "hour", number_id: str = FR_FIXED) -> int:
        """`used` of the number's current `window` (on the gateway's clock)."""
        key = _window_key(window, timeutil.utcnow())
        return self.counters(ledger.quota_pk(number_id)).get(ledger.window_sk(window, key), 0)

    def blocked_until(self) -> datetime | None:
        item = self.dynamodb.get_item(
            TableName=get_settings().ledger_table,
            Key={"pk": {"S": ledger.COMPANY}, "sk": {"S": ledger.AIRCALL_STATE}},
            ConsistentRead=True,
        ).get("Item")
        return parse_time((item or {}).get("blocked_until", {}).get("S"))

    def idempotency_item(self, key: str) -> dict[str, Any] | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=get_settings().ledger_table,
            Key={"pk": {"S": ledger.idempotency_pk(digest)}, "sk": {"S": ledger.IDEMPOTENCY_SK}},
            ConsistentRead=True,
        ).get("Item")
        return item

    # ------------------------------------------------------------------ the archive
    def archived(self) -> list[messages.MessageRecord]:
        """The messages this test archived (the archive outlives tests), oldest first."""
        ids: set[str] = set()
        scan = {"TableName": get_settings().messages_table, "ProjectionExpression": "id", "ConsistentRead": True}
        for page in self.dynamodb.get_paginator("scan").paginate(**scan):
            ids.update(item["id"]["S"] for item in page["Items"])
        found = [messages.get(message_id) for message_id in ids - self.known]
        return sorted((record for record in found if record is not None), key=lambda record: record.created_at)

    def only(self, text: str) -> messages.MessageRecord:
        [record] = [record for record in self.archived() if record.text == text]
        return record

    # ------------------------------------------------------------------ the sandbox
    def aircall_sends(self) -> list[dict[str, Any]]:
        """This test's send requests that reached Aircall (faulted ones included), in order. (A slow request of the
        test before may be logged after the sandbox was reset for this one: its text is not this test's.)"""
        log = self.sandbox_api.get("/_sandbox/requests", params={"method": "POST"}).json()["requests"]
        mine = [
            entry
            for entry in log
            if entry["path"].endswith("/send") and (entry.get("json") or {}).get("body") in self.texts
        ]
        return sorted(mine, key=lambda entry: entry["seq"])

    def in_aircall(self) -> list[dict[str, Any]]:
        """The messages Aircall really has (a send performed, whatever answer the gateway got)."""
        found = self.sandbox_api.get("/_sandbox/messages", params={"direction": "outbound"}).json()["messages"]
        return [message for message in found if message["body"] in self.texts]

    def wait_for_sends(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The sandbox logs a request once its (slow) answer is out: wait for `count` of them."""
        deadline = time.monotonic() + timeout
        while len(sends := self.aircall_sends()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return sends

    def deliver_callbacks(self, text: str) -> list[str]:
        """Hand Aircall's status callbacks for the message with `text` to the gateway (the sandbox posted them to
        a URL where nothing listens), first attempt of each status, in order; the results."""
        self.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
        [message] = [message for message in self.in_aircall() if message["body"] == text]
        attempts = self.sandbox_api.get("/_sandbox/callbacks", params={"message_id": message["id"]}).json()
        first: dict[str, dict[str, Any]] = {}
        for attempt in attempts["callbacks"]:
            first.setdefault(attempt["payload"]["data"]["status"], attempt["payload"])
        assert list(first) == ["sent", "delivered"], list(first)
        return [handle_callback(json.dumps(payload)).result for payload in first.values()]

    # ------------------------------------------------------------------ the properties
    def assert_properties(self, number_id: str = FR_FIXED) -> None:
        """No message lost, none sent twice, no quota leaked (see the module docstring)."""
        archived = self.archived()
        by_text = {record.text: record for record in archived}
        # No message lost: every outbound message of this test ends final, explicitly pending, or with Aircall.
        for record in archived:
            assert (
                record.status in FINAL
                or record.status in ("deferred", "unknown")
                or (record.status in WITH_AIRCALL and record.aircall_id)
            ), f"{record.id} ends {record.status}"
        # None sent twice, and nothing sent that the archive says was not.
        in_aircall = Counter(message["body"] for message in self.in_aircall())
        for text in self.texts:
            assert in_aircall[text] <= 1, f"{text!r} reached Aircall {in_aircall[text]} times"
            if in_aircall[text]:
                sent = by_text.get(text)
                assert sent is not None, f"{text!r} was sent but is not archived"
                assert _charged(sent), f"{text!r} was sent but is archived as {sent.status}"
        # No quota leaked: each window's counter is the segments of the charged messages counted in it.
        expected: Counter[str] = Counter()
        for record in archived:
            if record.number_id == number_id and _charged(record):
                assert record.reservation, f"{record.id} is charged but names no windows"
                for window in WINDOWS:
                    expected[ledger.window_sk(window, record.reservation[window])] += max(1, int(record.segments))
        counters = {sk: used for sk, used in self.counters(ledger.quota_pk(number_id)).items() if used}
        assert counters == dict(expected), "the quota counters are not the segments of the charged messages"


def _charged(record: messages.MessageRecord) -> bool:
    """The message was or may have been sent: its segments stay charged."""
    return record.status in MAY_HAVE_BEEN_SENT or (record.status == "failed" and record.aircall_id is not None)


def _window_key(window: str, at: datetime) -> str:
    formats = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}
    return at.strftime(formats[window])


# ================================================================================================ injecting
class DynamoDBFaults:
    """Errors injected into the gateway's DynamoDB client through botocore's event system."""

    def __init__(self) -> None:
        self.client = raw_client()
        self.hits: Counter[str] = Counter()
        self._registered: list[tuple[str, Callable[..., Any]]] = []

    def fail(
        self,
        operation: str,
        code: str,
        *,
        count: int | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
        reasons: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None,
    ) -> None:
        """The next `count` calls (None: every call) of `operation` whose parameters satisfy `when` fail with
        `code`, as botocore raises it once its own retries are spent; `reasons` gives a cancelled transaction's
        CancellationReasons."""
        left = [count]

        def handler(params: dict[str, Any], **_: Any) -> None:
            if when is not None and not when(params):
                return
            if left[0] is not None:
                if left[0] <= 0:
                    return
                left[0] -= 1
            self.hits[operation] += 1
            response: dict[str, Any] = {
                "Error": {"Code": code, "Message": f"injected {code}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            if reasons is not None:
                response["CancellationReasons"] = reasons(params)
            raise self.client.exceptions.from_code(code)(response, operation)

        self._register(f"before-parameter-build.dynamodb.{operation}", handler)

    def throttle_on_the_wire(self, operation: str, count: int) -> None:
        """The next `count` HTTP attempts of `operation` are answered DynamoDB's 400 throttling answer: botocore's
        retry policy sees them (it retries with backoff before giving up)."""
        left = [count]

        def handler(request: Any, **_: Any) -> AWSResponse | None:
            if left[0] <= 0:
                return None
            left[0] -= 1
            self.hits[operation] += 1
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "injected: the request rate is too high",
                }
            ).encode()
            headers = HTTPHeaders()
            headers["Content-Type"] = "application/x-amz-json-1.0"
            headers["x-amzn-RequestId"] = uuid.uuid4().hex
            return AWSResponse(request.url, 400, headers, _Raw(body))

        self._register(f"before-send.dynamodb.{operation}", handler)

    def _register(self, event: str, handler: Callable[..., Any]) -> None:
        self.client.meta.events.register(event, handler)
        self._registered.append((event, handler))

    def clear(self) -> None:
        for event, handler in self._registered:
            self.client.meta.events.unregister(event, handler)
        self._registered.clear()


class _Raw:
    """The raw body of a made-up HTTP answer (what `AWSResponse.content` reads)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def is_reservation(params: dict[str, Any]) -> bool:
    """The send's reservation: the transaction that puts the archive record."""
    table = get_settings().messages_table
    return any(item.get("Put", {}).get("TableName") == table for item in params.get("TransactItems", []))


def is_outcome(params: dict[str, Any]) -> bool:
    """The write of Aircall's answer after a send (the message's move with source `aircall_send`)."""
    return '"aircall_send"' in json.dumps(params)


def cancelled_at(
    code: str, which: Callable[[dict[str, Any]], bool], item: dict[str, Any] | None = None
) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """CancellationReasons with `code` for the transaction items `which` picks, `None` for the others."""

    def reasons(params: dict[str, Any]) -> list[dict[str, Any]]:
        answer = []
        for transact_item in params["TransactItems"]:
            if which(transact_item):
                reason: dict[str, Any] = {"Code": code, "Message": f"injected {code}"}
                if item is not None:
                    reason["Item"] = item
                answer.append(reason)
            else:
                answer.append({"Code": "None"})
        return answer

    return reasons


def the_message_put(transact_item: dict[str, Any]) -> bool:
    table: str | None = transact_item.get("Put", {}).get("TableName")
    return table == get_settings().messages_table


def the_hour_counter(transact_item: dict[str, Any]) -> bool:
    sk = transact_item.get("Update", {}).get("Key", {}).get("sk", {}).get("S", "")
    return str(sk).startswith("hour#")


class GarblingProxy:
    """A broken Aircall edge in front of the sandbox: every request is forwarded, and while `garble` is set the
    answer to a send is replaced with what it returns (given the sandbox's real answer, or None when `forward` is
    False and the send is not performed at all)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.garble: Callable[[httpx.Response | None], tuple[int, bytes, str]] | None = None
        self.forward = True
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                garble = proxy.garble if SEND_PATH in self.path else None
                real = None
                if garble is None or proxy.forward:
                    headers = {
                        name: value
                        for name, value in self.headers.items()
                        if name.lower() in ("authorization", "content-type", "accept")
                    }
                    real = httpx.request(
                        self.command, proxy.upstream + self.path, content=body, headers=headers, timeout=10
                    )
                if garble is not None:
                    status, content, content_type = garble(real)
                else:
                    assert real is not None
                    status, content = real.status_code, real.content
                    content_type = real.headers.get("content-type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                for name, value in real.headers.items() if real is not None else []:
                    if name.lower().startswith("x-aircallapi-"):
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self) -> None:
                self._relay()

            def do_POST(self) -> None:
                self._relay()

            def do_DELETE(self) -> None:
                self._relay()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GarblingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# ================================================================================================ fixtures
@pytest.fixture(scope="module")
def observer(emulator) -> Any:
    return aws_client("dynamodb", emulator.url)


@pytest.fixture
def world(gateway, observer, sandbox_api, monkeypatch) -> Iterator[World]:
    monkeypatch.setenv("AIRCALL_CONNECT_TIMEOUT", "0.5")  # an in-flight idempotent retry waits ~2 s, not ~6 s
    get_settings.cache_clear()
    # A status callback for an Aircall id not recorded yet waits this long before looking for an unknown send.
    monkeypatch.setattr(callback_use_cases, "MATCH_WAIT_SECONDS", 0.05)
    # Deferred messages other modules left for the number would be dispatched here: they are not this test's.
    table = get_settings().messages_table
    for page in observer.get_paginator("scan").paginate(
        TableName=table, FilterExpression="attribute_exists(dispatch_number)", ProjectionExpression="id"
    ):
        for item in page["Items"]:
            observer.delete_item(TableName=table, Key={"id": item["id"]})
    observed = World(dynamodb=observer, sandbox_api=sandbox_api, sandbox_url=gateway.url, known=_all_ids(observer))
    number_use_cases.configure(
        ADMIN,
        FR_FIXED,
        NumberRequest.model_validate({"mode": "proxy", "registration": "none"}),
        request_callback_url="https://unused/webhooks/aircall",
    )
    yield observed
    numbers.delete(FR_FIXED)  # the numbers table outlives the test


def _all_ids(dynamodb: Any) -> set[str]:
    ids: set[str] = set()
    scan = {"TableName": get_settings().messages_table, "ProjectionExpression": "id"}
    for page in dynamodb.get_paginator("scan").paginate(**scan):
        ids.update(item["id"]["S"] for item in page["Items"])
    return ids


@pytest.fixture
def dynamodb_faults(world) -> Iterator[DynamoDBFaults]:
    faults = DynamoDBFaults()
    yield faults
    faults.clear()


@pytest.fixture
def clock(gateway) -> Iterator[SimulatedClock]:
    with SimulatedClock(gateway.url) as simulated:
        yield simulated


@pytest.fixture
def proxy(gateway, monkeypatch) -> Iterator[GarblingProxy]:
    """From now on the gateway talks to Aircall through the garbling proxy (`world` configured the number directly)."""
    with GarblingProxy(gateway.url) as running:
        monkeypatch.setenv("AIRCALL_API_BASE_URL", running.url)
        get_settings.cache_clear()
        monkeypatch.setattr(services, "_client", None)
        yield running


# ================================================================================================ acting
def send(text: str, *, key: str | None = None, **fields: Any) -> SendOutcome:
    body = {"from": FR_FIXED, "to": CONTACT, "text": text} | fields
    return send_message(principal=ADMIN, request=SendRequest.model_validate(body), idempotency_key=key)


def refused(text: str, *, key: str | None = None, **fields: Any) -> GatewayError:
    with pytest.raises(GatewayError) as raised:
        send(text, key=key, **fields)
    return raised.value


def aircall_fault(world: World, **fault: Any) -> None:
    world.sandbox_api.post("/_sandbox/faults", json={"path_contains": SEND_PATH} | fault).raise_for_status()


def next_minute(clock: SimulatedClock, second: int = 1) -> None:
    """Move both clocks to `second` seconds into the next UTC minute (a whole fresh minute of Aircall's budget)."""
    start = timeutil.utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=second)
    clock.advance_to(start.timestamp())


def short_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRCALL_READ_TIMEOUT", str(READ_TIMEOUT))
    get_settings.cache_clear()
    monkeypatch.setattr(services, "_client", None)  # a new Aircall client with the short timeout


def assert_replayed(outcome: SendOutcome, status: int) -> None:
    assert outcome.status_code == status, outcome.body
    assert outcome.headers.get("Idempotent-Replayed") == "true"


def assert_unknown_and_charged(world: World, text: str, *, error: str | None = "aircall_timeout") -> str:
    """The message is archived `unknown` without an Aircall id, its segment charged in every window."""
    record = world.only(text)
    assert record.status == "unknown" and not record.aircall_id
    assert (record.error or {}).get("code") == error
    assert record.unresolved_at is not None  # in the index the callbacks' reconciliation reads
    assert [world.quota(window) for window in WINDOWS] == [1, 1, 1]
    return record.id


def assert_reconciled(world: World, text: str) -> None:
    """Aircall's callbacks claim the `unknown` message by contact and text and settle it: delivered, with
    Aircall's id, the timeout explained away; nothing is sent again."""
    assert world.deliver_callbacks(text) == ["updated", "updated"]
    record = world.only(text)
    [message] = [message for message in world.in_aircall() if message["body"] == text]
    assert (record.status, record.aircall_id, record.error) == ("delivered", message["id"], None)
    assert [change.status for change in record.status_history] == ["unknown", "sent", "delivered"]


def assert_nothing_resolves_it(world: World, message_id: str) -> None:
    """No callback ever comes for a message that never reached Aircall: the sweep has nothing, it stays `unknown`."""
    world.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    assert world.sandbox_api.get("/_sandbox/callbacks").json()["callbacks"] == []
    assert reconcile(now=timeutil.utcnow() + PAST_THE_SWEEP_DELAY) == {"applied": 0, "pending": 0, "abandoned": 0}
    record = messages.get(message_id)
    assert record is not None and record.status == "unknown"


# ================================================================================================ Aircall: 5xx
def test_aircall_5xx_before_the_request_is_performed_is_an_unknown_outcome_that_stays_charged(world):
    """Aircall answers 503 without performing the send. The gateway cannot tell this from a 5xx after the send was
    performed: the caller gets `504 aircall_timeout`; the archive says `unknown` (error `aircall_timeout`); the
    segment stays charged (it may have been sent). No callback ever comes, so nothing resolves it: it stays
    `unknown` and its segment frees itself when each window ends. A retry with the same Idempotency-Key replays
    the 504 and never calls Aircall again."""
    aircall_fault(world, status=503, mode="before")
    text = world.text("5xx before")
    error = refused(text, key="fault-5xx-before")
    assert (error.status, error.code, error.details["aircall_status"]) == (504, "aircall_timeout", 503)
    message_id = assert_unknown_and_charged(world, text)
    assert error.details["message_id"] == message_id
    [request] = world.aircall_sends()
    assert (request["status"], request["fault"]["mode"]) == (503, "before")
    assert world.in_aircall() == []
    replay = send(text, key="fault-5xx-before")
    assert_replayed(replay, 504)
    assert replay.body["error"]["code"] == "aircall_timeout"
    assert len(world.aircall_sends()) == 1
    assert_nothing_resolves_it(world, message_id)
    world.assert_properties()


def test_aircall_5xx_after_the_request_is_performed_is_settled_by_the_callbacks_that_follow(world):
    """Aircall performs the send, then answers 500 (the outcome-unknown case). The caller gets `504
    aircall_timeout`; the archive says `unknown`; the segment stays charged. Aircall's status callbacks, which
    carry its id, the contact and the text, claim the message and move it to `sent` then `delivered`; it is never
    re-sent, and a retry with the same Idempotency-Key replays the first answer."""
    aircall_fault(world, status=500, mode="after")
    text = world.text("5xx after")
    error = refused(text, key="fault-5xx-after")
    assert (error.status, error.code) == (504, "aircall_timeout")
    assert_unknown_and_charged(world, text)
    assert len(world.in_aircall()) == 1
    assert_reconciled(world, text)
    assert_replayed(send(text, key="fault-5xx-after"), 504)
    assert len(world.aircall_sends()) == 1
    assert [world.quota(window) for window in WINDOWS] == [1, 1, 1]
    world.assert_properties()


# ================================================================================================ Aircall: timeouts
def test_aircall_unreachable_means_the_request_never_left_and_the_segments_come_back(world, monkeypatch):
    """The connection to Aircall cannot be made (the request never left: nothing can have been sent). The caller
    gets `502 aircall_error` with `sent: false`; the archive says `failed`; the segments are released. The
    Idempotency-Key is given up, so a retry with the same key runs again and is sent, once."""
    monkeypatch.setenv("AIRCALL_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    get_settings.cache_clear()
    monkeypatch.setattr(services, "_client", None)
    text = world.text("unreachable")
    error = refused(text, key="fault-unreachable")
    assert (error.status, error.code, error.details["sent"]) == (502, "aircall_error", False)
    record = world.only(text)
    assert (record.status, record.aircall_id) == ("failed", None)
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.idempotency_item("fault-unreachable") is None
    monkeypatch.setenv("AIRCALL_API_BASE_URL", world.sandbox_url)
    get_settings.cache_clear()
    monkeypatch.setattr(services, "_client", None)
    retried = send(text, key="fault-unreachable")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert [message["body"] for message in world.in_aircall()] == [text]
    world.assert_properties()


def test_a_timeout_before_aircall_performs_the_request_leaves_it_unknown_and_never_sent(world, monkeypatch):
    """Aircall's answer does not come within the read timeout and Aircall never performs the send (it answers
    504 after the gateway gave up). The caller gets `504 aircall_timeout`; the archive says `unknown`; the
    segment stays charged, since the gateway cannot know the send was not performed. No callback comes: it stays
    `unknown`, charged until each window ends."""
    short_read_timeout(monkeypatch)
    aircall_fault(world, status=504, latency_ms=SLOW_MS, mode="before")
    text = world.text("timeout before")
    started = time.monotonic()
    error = refused(text)
    assert time.monotonic() - started < SLOW_MS / 1000  # the gateway did not wait for Aircall's answer
    assert (error.status, error.code) == (504, "aircall_timeout")
    message_id = assert_unknown_and_charged(world, text)
    [request] = world.wait_for_sends(1)
    assert request["status"] == 504
    assert world.in_aircall() == []
    assert_nothing_resolves_it(world, message_id)
    world.assert_properties()


def test_a_timeout_after_aircall_performed_the_request_is_settled_by_the_callbacks(world, monkeypatch):
    """Aircall performs the send but its answer comes after the read timeout. The caller gets `504
    aircall_timeout`; the archive says `unknown`; the segment stays charged. The callbacks claim and settle the
    message (`delivered`, with Aircall's id); it is sent once. Without an Idempotency-Key the caller's retry would
    be a new message: the 504's `message_id` lets the caller follow this one instead."""
    short_read_timeout(monkeypatch)
    aircall_fault(world, latency_ms=SLOW_MS, mode="after")
    text = world.text("timeout after")
    error = refused(text)
    assert (error.status, error.code) == (504, "aircall_timeout")
    message_id = assert_unknown_and_charged(world, text)
    assert error.details["message_id"] == message_id
    world.wait_for_sends(1)
    assert_reconciled(world, text)
    world.assert_properties()


# ================================================================================================ Aircall: 429 storm
def test_a_429_storm_on_live_sends_stops_every_caller_until_aircalls_reset(world, clock):
    """Aircall answers 429 to every send for several minutes. The first send meets Aircall's 429: `429
    rate_limited` (archived `rejected`, segments released) and the ledger's block item holds every caller until
    the reset Aircall named. Until then no send reaches Aircall: others are refused at the reservation (`429
    rate_limited` with Retry-After until the reset, or `202 deferred` to the reset with `on_limit: "defer"`). A
    429 is not kept under the Idempotency-Key, so a retry with the same key runs again (and is refused again while
    the block holds). Each new minute lets exactly one send through to Aircall, which renews the block."""
    next_minute(clock)
    aircall_fault(world, status=429, count=STORM)
    for minute in range(STORM):
        first_text = world.text(f"storm minute {minute}")
        first = refused(first_text, key=f"storm-{minute}")
        assert (first.status, first.code) == (429, "rate_limited")
        blocked_until = world.blocked_until()
        minute_end = timeutil.utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
        assert blocked_until == minute_end  # X-AircallApi-Reset: the end of Aircall's minute
        for caller in range(3):
            later = refused(world.text(f"storm minute {minute} caller {caller}"))
            assert (later.code, later.details["resets_at"]) == ("rate_limited", iso(blocked_until))
            assert int(later.headers["Retry-After"]) == later.details["retry_after"] >= 1
        retried = refused(first_text, key=f"storm-{minute}")  # a 429 is not kept: the request runs again
        assert retried.code == "rate_limited"
        deferred = send(world.text(f"storm minute {minute} deferred"), on_limit="defer")
        assert deferred.status_code == 202
        assert deferred.body["message"]["not_before"] == iso(blocked_until)
        assert len(world.aircall_sends()) == minute + 1, "a send reached Aircall while it said to wait"
        clock.advance_to((blocked_until + timedelta(seconds=1)).timestamp())
    assert [entry["status"] for entry in world.aircall_sends()] == [429] * STORM
    assert world.in_aircall() == []
    for record in world.archived():
        assert record.status in ("rejected", "deferred")
        if record.status == "rejected":
            assert record.error is not None and record.error["code"] == "rate_limited"
    assert world.quota("hour") == 0
    after = send(world.text("after the storm"))
    assert after.status_code == 201
    world.assert_properties()


def test_a_429_storm_holds_the_dispatcher_and_live_sends_alike_and_every_deferred_message_goes_once(world, clock):
    """Deferred messages wait while Aircall answers 429 minute after minute. Each dispatcher run makes at most one
    Aircall call, and only once the block has ended; after a 429 the message goes back to the queue (`unknown` ->
    `deferred`, segments released) and the run stops. Live sends in the same minute are refused without reaching
    Aircall. When the storm ends, every deferred message is sent exactly once and the counters hold exactly
    the sent messages' segments."""
    next_minute(clock)
    aircall_fault(world, status=429, count=STORM)
    first = refused(world.text("live, meets the storm"))
    assert first.code == "rate_limited"
    deferred_texts = [world.text(f"deferred {index}") for index in range(4)]
    ids = []
    for text in deferred_texts:
        outcome = send(text, on_limit="defer")
        assert outcome.status_code == 202
        ids.append(outcome.body["message"]["id"])
    assert len(world.aircall_sends()) == 1
    runs = []
    for _ in range(STORM):
        next_minute(clock, second=2)
        report = dispatch.run(sleep=clock.sleep)
        runs.append(report)
        if report.stopped == "aircall":
            live = refused(world.text("live, during the storm"))
            assert live.code == "rate_limited"
    assert [report.outcomes for report in runs] == [{"requeued": 1}] * (STORM - 1) + [{"sent": 4}]
    # At most one send reached Aircall in any minute of the storm, and none after a 429 in the same minute.
    log = world.aircall_sends()
    assert [entry["status"] for entry in log] == [429] * STORM + [200] * 4
    minutes_of_429 = Counter(entry["at"] // 60_000 for entry in log if entry["status"] == 429)
    assert max(minutes_of_429.values()) == 1
    for earlier, later in itertools.pairwise(log):
        if earlier["status"] == 429:
            assert later["at"] // 60_000 > earlier["at"] // 60_000, "a send reached Aircall before its reset"
    for message_id in ids:
        record = messages.get(message_id)
        assert record is not None and record.status == "queued" and record.aircall_id
    assert sorted(message["body"] for message in world.in_aircall()) == sorted(deferred_texts)
    world.assert_properties()


# ================================================================================================ Aircall: malformed
def _not_json(real: httpx.Response | None) -> tuple[int, bytes, str]:
    return 200, b"<html><body>502 Bad Gateway</body></html>", "text/html"


def _empty(real: httpx.Response | None) -> tuple[int, bytes, str]:
    return 200, b"", "application/json"


def _json(document: Any) -> Callable[[httpx.Response | None], tuple[int, bytes, str]]:
    return lambda real: (200, json.dumps(document).encode(), "application/json")


MALFORMED_SUCCESS = {
    "not JSON": _not_json,
    "an empty body": _empty,
    "JSON without an id": _json({"status": "pending", "to": CONTACT}),
    "an id that is true": _json({"id": True, "status": "pending"}),
    "an id that is an object": _json({"id": {"sid": "SM1"}, "status": "pending"}),
    "an empty id": _json({"id": "", "status": "pending"}),
    "an id that is null": _json({"id": None, "status": "pending"}),
    "a JSON list": _json([{"id": "SM1", "status": "pending"}]),
    "a JSON string": _json("ok"),
}


@pytest.mark.parametrize("garble", list(MALFORMED_SUCCESS.values()), ids=list(MALFORMED_SUCCESS))
def test_a_malformed_success_answer_is_an_unknown_outcome_settled_by_the_callbacks(world, proxy, garble):
    """Aircall performed the send, but its 200 answer is unusable (not JSON, empty, no usable message id). The
    gateway cannot record an id, so the outcome is unknown: the caller gets `504 aircall_timeout`, the archive says
    `unknown`, the segment stays charged; the callbacks that follow claim and settle the message. Sent once."""
    proxy.garble = garble
    text = world.text("malformed answer")
    error = refused(text)
    assert (error.status, error.code) == (504, "aircall_timeout")
    assert_unknown_and_charged(world, text)
    assert_reconciled(world, text)
    world.assert_properties()


def test_a_status_of_the_wrong_type_with_a_good_id_is_accepted_as_queued(world, proxy):
    """Aircall's 200 answer carries its message id but a status that is not a string: the id is what matters, so
    the send is recorded (`201`, `queued`, Aircall's id) and the callbacks move it on as usual."""

    def wrong_status(real: httpx.Response | None) -> tuple[int, bytes, str]:
        assert real is not None
        return 200, json.dumps(real.json() | {"status": 42}).encode(), "application/json"

    proxy.garble = wrong_status
    text = world.text("status of the wrong type")
    outcome = send(text)
    assert outcome.status_code == 201
    [message] = world.in_aircall()
    assert (outcome.body["message"]["status"], outcome.body["message"]["aircall_id"]) == ("queued", message["id"])
    assert world.deliver_callbacks(text) == ["updated", "updated"]
    assert world.only(text).status == "delivered"
    world.assert_properties()


def test_a_malformed_refusal_is_a_definite_refusal_and_gives_the_segments_back(world, proxy):
    """Aircall (not performing the send) answers 400 with a body that is not JSON: a 4xx is a definite refusal
    whatever its body. The caller gets `502 aircall_error`; the archive says `failed`; the segments come back."""
    proxy.forward = False
    proxy.garble = lambda real: (400, b"Bad Request", "text/plain")
    text = world.text("malformed refusal")
    error = refused(text)
    assert (error.status, error.code, error.details["aircall_status"]) == (502, "aircall_error", 400)
    assert world.only(text).status == "failed"
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.in_aircall() == []
    world.assert_properties()


# ================================================================================================ DynamoDB
def test_a_briefly_throttled_reservation_is_retried_by_botocore_and_the_send_goes_through(world, dynamodb_faults):
    """DynamoDB throttles the reservation's first two attempts (HTTP 400 ProvisionedThroughputExceededException):
    botocore's retry policy retries it with backoff, the transaction commits once, and the send goes through:
    `201`, charged once, sent once."""
    dynamodb_faults.throttle_on_the_wire("TransactWriteItems", 2)
    text = world.text("briefly throttled")
    outcome = send(text)
    assert outcome.status_code == 201
    assert dynamodb_faults.hits["TransactWriteItems"] == 2
    assert [world.quota(window) for window in WINDOWS] == [1, 1, 1]
    assert [message["body"] for message in world.in_aircall()] == [text]
    world.assert_properties()


def test_a_reservation_throttled_past_botocores_retries_is_service_busy_and_leaves_nothing(world, dynamodb_faults):
    """DynamoDB keeps throttling the reservation (botocore's retries are spent). A throttled transaction writes
    nothing: the caller gets `503 service_busy` with Retry-After; nothing is archived, charged or sent (the request
    was not accepted), and the Idempotency-Key was never recorded, so a retry with the same key, once DynamoDB
    keeps up, is sent once."""
    dynamodb_faults.fail("TransactWriteItems", "ProvisionedThroughputExceededException", when=is_reservation)
    text = world.text("throttled reservation")
    error = refused(text, key="fault-throttled-reservation")
    assert (error.status, error.code, error.headers.get("Retry-After")) == (503, "service_busy", "1")
    assert world.archived() == []
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.aircall_sends() == []
    assert world.idempotency_item("fault-throttled-reservation") is None
    dynamodb_faults.clear()
    retried = send(text, key="fault-throttled-reservation")
    assert retried.status_code == 201
    assert [message["body"] for message in world.in_aircall()] == [text]
    world.assert_properties()


@pytest.mark.parametrize("key", [None, "fault-throttled-outcome"], ids=["without a key", "with a key"])
def test_a_throttled_outcome_write_after_aircall_accepted_stays_unknown_until_the_callbacks(
    world, dynamodb_faults, key
):
    """Aircall accepted the send, then DynamoDB throttles the write of its answer (the message's move to `queued`;
    the idempotency answer, when there is a key, is written after it). The message was sent: the caller gets `201`
    with Aircall's id (an error would invite a second send); the archive still says `unknown` (without Aircall's
    id) with the segment charged, and the callbacks that follow claim and settle it. A retry with the same
    Idempotency-Key never calls Aircall again: it answers what the archive knows (`201` with the settled message)."""
    dynamodb_faults.fail("UpdateItem", "ProvisionedThroughputExceededException", when=is_outcome)
    dynamodb_faults.fail("TransactWriteItems", "ProvisionedThroughputExceededException", when=is_outcome)
    text = world.text("throttled outcome")
    outcome = send(text, key=key)
    assert outcome.status_code == 201
    [message] = world.in_aircall()
    assert outcome.body["message"]["aircall_id"] == message["id"]
    # the message's move is a write of its own (the idempotency answer follows it, never before): it is throttled
    assert dynamodb_faults.hits["UpdateItem"] == 1
    assert_unknown_and_charged(world, text, error=None)
    assert_reconciled(world, text)
    if key is not None:
        replay = send(text, key=key)
        assert_replayed(replay, 201)
        assert replay.body["message"]["status"] == "delivered"
    assert len(world.aircall_sends()) == 1
    world.assert_properties()


def test_a_throttled_write_of_aircalls_refusal_still_answers_the_refusal_and_stays_explainable(world, dynamodb_faults):
    """Aircall refuses the send (403, not performed), then DynamoDB throttles the write that records the refusal
    and gives the segments back. The caller still gets Aircall's answer, `502 aircall_error` (never a crash); the
    archive keeps the reservation's `unknown` record (no Aircall id, nothing sent), and its segment stays charged
    until each window ends, like a killed send's."""
    aircall_fault(world, status=403, mode="before")
    dynamodb_faults.fail("TransactWriteItems", "ProvisionedThroughputExceededException", when=is_outcome)
    text = world.text("refusal not recorded")
    error = refused(text)
    assert (error.status, error.code, error.details["aircall_status"]) == (502, "aircall_error", 403)
    assert dynamodb_faults.hits["TransactWriteItems"] == 1
    assert error.details["message_id"] == assert_unknown_and_charged(world, text, error=None)
    assert world.in_aircall() == []
    world.assert_properties()


READS = [
    ("manage_list_messages", "Query"),
    ("manage_get_message", "GetItem"),
    ("manage_list_numbers", "Scan"),
    ("manage_get_number_quota", "GetItem"),
]


@pytest.mark.parametrize(("event", "operation"), READS, ids=[f"{event} {operation}" for event, operation in READS])
def test_a_read_throttled_past_botocores_retries_is_service_busy_with_retry_after(
    world, dynamodb_faults, event, operation
):
    """DynamoDB answers every attempt of a route's read (GetItem, Query, Scan: outside any transaction) with its
    throttling answer. Once botocore's retries are spent the route answers `503 service_busy` with Retry-After,
    as a throttled write does, never a 5xx of its own; the same request answers normally once DynamoDB keeps
    up."""
    dynamodb_faults.throttle_on_the_wire(operation, 100)
    handler = load_handler("manage").lambda_handler
    answer = handler(load_event(event), FakeContext())
    assert answer["statusCode"] == 503, answer["body"]
    assert json.loads(answer["body"])["error"]["code"] == "service_busy"
    assert answer["multiValueHeaders"]["Retry-After"] == ["1"]
    assert dynamodb_faults.hits[operation] >= 2  # botocore retried before giving up
    dynamodb_faults.clear()
    assert handler(load_event(event), FakeContext())["statusCode"] in (200, 404)


def test_a_send_whose_reads_are_throttled_is_service_busy_and_leaves_nothing(world, dynamodb_faults):
    """Every read of the send path (the number, the contact's facts, the quota) is throttled past botocore's
    retries: `503 service_busy` with Retry-After before anything is reserved; nothing archived, charged or sent."""
    numbers.forget()  # the number is read from DynamoDB, not from this instance's cache
    for operation in ("GetItem", "Query", "BatchGetItem"):
        dynamodb_faults.throttle_on_the_wire(operation, 100)
    error = refused(world.text("throttled reads"))
    assert (error.status, error.code, error.headers.get("Retry-After")) == (503, "service_busy", "1")
    dynamodb_faults.clear()
    assert world.archived() == []
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.aircall_sends() == []
    world.assert_properties()


def test_a_refused_archive_write_in_the_reservation_is_service_busy_and_charges_nothing(world, dynamodb_faults):
    """A condition check fails where none should (the archive record's `attribute_not_exists(id)`, as if the new
    id were taken). The transaction is all or nothing: the caller gets `503 service_busy` with Retry-After; nothing
    is archived, charged or sent, and a retry with the same Idempotency-Key is sent once."""
    dynamodb_faults.fail(
        "TransactWriteItems",
        "TransactionCanceledException",
        count=1,
        when=is_reservation,
        reasons=cancelled_at("ConditionalCheckFailed", the_message_put),
    )
    text = world.text("archive write refused")
    error = refused(text, key="fault-archive-refused")
    assert (error.status, error.code, error.headers.get("Retry-After")) == (503, "service_busy", "1")
    assert world.archived() == []
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.aircall_sends() == []
    retried = send(text, key="fault-archive-refused")
    assert retried.status_code == 201
    world.assert_properties()


def test_a_refused_outcome_write_records_aircalls_id_late_and_the_callbacks_move_the_message_on(world, dynamodb_faults):
    """The write of Aircall's answer fails its condition (as when a callback moved the message first). The gateway
    keeps whatever status is stored and adds Aircall's id and the send time: the caller gets `201`; the archive
    says `unknown` with Aircall's id, so the callbacks find it by that id and move it to `delivered`."""
    dynamodb_faults.fail("UpdateItem", "ConditionalCheckFailedException", count=1, when=is_outcome)
    text = world.text("outcome write refused")
    outcome = send(text)
    assert outcome.status_code == 201
    [message] = world.in_aircall()
    record = world.only(text)
    assert (record.status, record.aircall_id) == ("unknown", message["id"])
    assert record.sent_at is not None
    assert world.deliver_callbacks(text) == ["updated", "updated"]
    assert world.only(text).status == "delivered"
    world.assert_properties()


def test_a_transaction_conflict_that_persists_is_service_busy_and_charges_nothing(world, dynamodb_faults):
    """DynamoDB cancels the reservation midway for a conflicting transaction on the hour counter, every time. The
    gateway retries conflicts (8 attempts, with jitter) and then gives up: the caller gets `503 service_busy` with
    Retry-After; nothing is archived, charged or sent; the Idempotency-Key was not recorded, so a retry with the
    same key runs again and is sent once."""
    dynamodb_faults.fail(
        "TransactWriteItems",
        "TransactionCanceledException",
        when=is_reservation,
        reasons=cancelled_at("TransactionConflict", the_hour_counter),
    )
    text = world.text("conflict")
    error = refused(text, key="fault-conflict")
    assert (error.status, error.code, error.headers.get("Retry-After")) == (503, "service_busy", "1")
    assert dynamodb_faults.hits["TransactWriteItems"] == 8
    assert world.archived() == []
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.aircall_sends() == []
    assert world.idempotency_item("fault-conflict") is None
    dynamodb_faults.clear()
    retried = send(text, key="fault-conflict")
    assert retried.status_code == 201
    world.assert_properties()


def test_a_transient_transaction_conflict_is_retried_and_the_send_goes_through(world, dynamodb_faults):
    """Two conflicts, then the reservation commits: `201`, charged once, sent once."""
    dynamodb_faults.fail(
        "TransactWriteItems",
        "TransactionCanceledException",
        count=2,
        when=is_reservation,
        reasons=cancelled_at("TransactionConflict", the_hour_counter),
    )
    text = world.text("brief conflict")
    assert send(text).status_code == 201
    assert dynamodb_faults.hits["TransactWriteItems"] == 2
    assert [world.quota(window) for window in WINDOWS] == [1, 1, 1]
    world.assert_properties()


# ================================================================================================ killed Lambda
class _KilledClient:
    """An Aircall client whose send never happens: the Lambda instance dies as it is about to call Aircall."""

    def __init__(self) -> None:
        self.calls = 0

    def send_message(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        raise LambdaKilled


def test_a_lambda_killed_between_the_reservation_and_the_aircall_call(world, monkeypatch, clock):
    """The instance dies after the reservation committed and before Aircall is called. The caller gets no answer
    (API Gateway's 5xx). The archive says `unknown` (nothing recorded since: no error, no Aircall id), with the
    segment charged in every window: the gateway cannot know whether the request left. Nothing was sent.

    A retry with the same Idempotency-Key waits for the first answer, then answers what the archive knows: `504
    aircall_timeout` with the `message_id`, without calling Aircall. No callback ever comes and nothing expires an
    `unknown` message: it stays `unknown` in the archive for good. The quota is not leaked for good: the charge
    holds only for the windows it was counted in, each of which frees itself when it ends (a new window is a new
    counter); the closed windows keep it in their count (it may have been sent)."""
    short_read_timeout(monkeypatch)
    killed = _KilledClient()
    monkeypatch.setattr(services, "aircall", lambda: killed)
    text = world.text("killed")
    with pytest.raises(LambdaKilled):
        send(text, key="fault-killed")
    assert killed.calls == 1
    message_id = assert_unknown_and_charged(world, text, error=None)
    assert world.aircall_sends() == []
    monkeypatch.setattr(services, "aircall", REAL_AIRCALL)  # a new instance: the real Aircall client again
    replay = send(text, key="fault-killed")
    assert_replayed(replay, 504)
    assert (replay.body["error"]["code"], replay.body["error"]["details"]["message_id"]) == (
        "aircall_timeout",
        message_id,
    )
    assert world.aircall_sends() == []
    assert_nothing_resolves_it(world, message_id)
    charged_at = world.only(text).reservation
    assert charged_at is not None
    # The next hour, day and month: fresh windows, the full limit again; the message is still `unknown`.
    now = timeutil.utcnow()
    next_month = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    clock.advance_to((next_month + timedelta(seconds=5)).timestamp())
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert dispatch.run(sleep=clock.sleep).outcomes == {}  # the dispatcher never touches it
    assert world.only(text).status == "unknown"
    counters = world.counters(ledger.quota_pk(FR_FIXED))
    assert [counters[ledger.window_sk(window, charged_at[window])] for window in WINDOWS] == [1, 1, 1]
    monkeypatch.setenv("AIRCALL_READ_TIMEOUT", "2")
    get_settings.cache_clear()
    monkeypatch.setattr(services, "_client", None)
    assert send(world.text("a later send")).status_code == 201
    world.assert_properties()


def test_a_dispatcher_killed_after_claiming_a_deferred_message_never_sends_it_twice(world, monkeypatch, clock):
    """The dispatcher claims a deferred message (`deferred` -> `unknown`, segments charged, out of the queue) and
    dies before calling Aircall. The message stays `unknown` and charged (as for a killed send); the next runs do
    not see it any more, so it is never sent twice, and its charge frees itself with its windows."""
    next_minute(clock)
    aircall_fault(world, status=429)
    assert refused(world.text("meets a 429")).code == "rate_limited"
    text = world.text("deferred, then killed")
    outcome = send(text, on_limit="defer")
    assert outcome.status_code == 202
    killed = _KilledClient()
    monkeypatch.setattr(services, "aircall", lambda: killed)
    clock.advance_to((world.blocked_until() or timeutil.utcnow()).timestamp() + 2)
    with pytest.raises(LambdaKilled):
        dispatch.run(sleep=clock.sleep)
    assert killed.calls == 1
    monkeypatch.setattr(services, "aircall", REAL_AIRCALL)
    record = world.only(text)
    assert (record.status, record.aircall_id, record.dispatch_number) == ("unknown", None, None)
    assert [world.quota(window) for window in WINDOWS] == [1, 1, 1]
    report = dispatch.run(sleep=clock.sleep)
    assert report.outcomes == {}
    assert world.in_aircall() == []
    world.assert_properties()


def test_a_throttled_write_of_aircalls_block_still_answers_the_429(world, dynamodb_faults):
    """Aircall answers 429, then DynamoDB throttles the write that blocks every caller until Aircall's reset. The
    block only spares calls Aircall would refuse, so the send still answers `429 rate_limited` (never a crash),
    nothing was sent and nothing stays charged; the next call simply asks Aircall and learns again."""
    aircall_fault(world, status=429, mode="before")

    def is_block(params: dict[str, Any]) -> bool:
        return bool(params.get("Key", {}).get("sk", {}).get("S") == ledger.AIRCALL_STATE)

    dynamodb_faults.fail("UpdateItem", "ProvisionedThroughputExceededException", when=is_block)
    text = world.text("block not recorded")
    error = refused(text)
    assert (error.status, error.code) == (429, "rate_limited")
    assert dynamodb_faults.hits["UpdateItem"] == 1
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    assert world.in_aircall() == []
    world.assert_properties()


# ================================================================================================ time budget
ATTEMPT = 1.0 + 2.0  # one whole DynamoDB attempt at the default timeouts (connect + read)
WORLD_CONNECT = 0.5  # the `world` fixture's Aircall connect timeout


@dataclass
class ContextWithTime(FakeContext):
    """A Lambda context with `remaining_ms` left when the handler starts."""

    remaining_ms: int = 15_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def send_through_the_handler(text: str, remaining_ms: int, key: str | None = None) -> tuple[int, dict[str, Any], Any]:
    event = load_event("send_message")
    event["body"] = json.dumps({"from": FR_FIXED, "to": CONTACT, "text": text})
    if key is not None:
        event["headers"] = dict(event.get("headers") or {}) | {"Idempotency-Key": key}
    answer = load_handler("send").lambda_handler(event, ContextWithTime(remaining_ms=remaining_ms))
    return answer["statusCode"], json.loads(answer["body"]), answer.get("multiValueHeaders") or {}


def test_a_send_with_too_little_time_left_for_aircall_is_service_busy_and_never_calls_it(world):
    """The invocation has time for its reads and its reservation, but not for Aircall's connect timeout, the
    least read timeout worth waiting (2 s) and one DynamoDB attempt to record the outcome. The gateway does not
    start the call: `503 service_busy` with Retry-After and `details.sent: false`; Aircall never saw it; the
    segments are released and the archive keeps the request `rejected` (`service_busy`); the Idempotency-Key is
    free again, so the client's retry with time to spare is sent once."""
    remaining_ms = int((MARGIN + ATTEMPT + WORLD_CONNECT + MIN_READ_TIMEOUT - 0.4) * 1000)
    text = world.text("too little time")
    status, body, headers = send_through_the_handler(text, remaining_ms, key="fault-too-little-time")
    assert status == 503, body
    assert body["error"]["code"] == "service_busy"
    assert body["error"]["details"]["sent"] is False
    assert headers["Retry-After"] == ["1"]
    assert world.aircall_sends() == []
    assert [world.quota(window) for window in WINDOWS] == [0, 0, 0]
    record = world.only(text)
    assert (record.status, (record.error or {}).get("code")) == ("rejected", "service_busy")
    status, body, _ = send_through_the_handler(text, 15_000, key="fault-too-little-time")
    assert status == 201, body
    assert [message["body"] for message in world.in_aircall()] == [text]
    world.assert_properties()


def test_a_request_with_less_than_one_dynamodb_attempt_left_is_service_busy_and_changes_nothing(world):
    """Less time is left than one whole DynamoDB attempt takes: no attempt starts (none can be cut off by
    Lambda's timeout); the routes answer `503 service_busy` with Retry-After and nothing is written."""
    short = int((MARGIN + ATTEMPT - 0.5) * 1000)
    answer = load_handler("manage").lambda_handler(
        load_event("manage_list_numbers"), ContextWithTime(remaining_ms=short)
    )
    assert answer["statusCode"] == 503, answer["body"]
    assert json.loads(answer["body"])["error"]["code"] == "service_busy"
    numbers.forget()
    text = world.text("no time for dynamodb")
    status, body, headers = send_through_the_handler(text, short)
    assert (status, body["error"]["code"], headers["Retry-After"]) == (503, "service_busy", ["1"])
    assert world.archived() == []
    assert world.aircall_sends() == []
    world.assert_properties()


# ================================================================================================ PUT /numbers
GB = "100006"
GB_CONTACT = "+447400123491"


@pytest.fixture
def gb_number(world, gateway) -> Iterator[str]:
    yield GB
    if numbers.get(GB) is not None:
        numbers.delete(GB)


def configure_gb(mode: str) -> number_use_cases.NumberAnswer:
    return number_use_cases.configure(
        ADMIN,
        GB,
        NumberRequest.model_validate({"mode": mode, "registration": "none"}),
        request_callback_url="https://unused/webhooks/aircall",
    )


def killed_after_aircall_configures(monkeypatch) -> None:
    """The Lambda stops right after Aircall answered the configuration (its timeout, a crash)."""
    real = AircallClient.configure_number

    def configure_then_die(self: AircallClient, number_id: str, callback_url: str) -> dict[str, Any]:
        real(self, number_id, callback_url)
        raise LambdaKilled

    monkeypatch.setattr(AircallClient, "configure_number", configure_then_die)


def aircall_configuration(gateway, number_id: str) -> httpx.Response:
    config = gateway.config
    return httpx.get(
        f"{gateway.url}/v1/numbers/{number_id}/messages/configuration",
        auth=(config.api_id, config.api_token),
        timeout=10,
    )


def test_a_configuration_cut_off_after_aircall_configured_the_number_is_finished_by_the_next_put(
    world, gateway, gb_number, monkeypatch
):
    """Aircall configured the number, then the Lambda died before the token was stored. The gateway stored
    `configuring` before calling Aircall, so it knows: `GET /numbers/{id}` says `state: configuring`, and sends
    from the number are `404 number_not_configured` (their callbacks could not be authenticated) instead of going
    out unfollowable. The next PUT finishes it: Aircall answers the same token, whose digest is stored; the
    number sends."""
    killed_after_aircall_configures(monkeypatch)
    with pytest.raises(LambdaKilled):
        configure_gb("proxy")
    monkeypatch.undo()
    record = numbers.get(GB)
    assert record is not None
    assert (record.mode, record.state) == ("proxy", "configuring")
    assert not record.callback_token_sha256
    assert record.to_api()["state"] == "configuring"
    assert aircall_configuration(gateway, GB).status_code == 200  # Aircall has it
    with pytest.raises(GatewayError) as raised:
        send_message(SendRequest.model_validate({"from": GB, "to": GB_CONTACT, "text": "Hi"}), principal=ADMIN)
    assert (raised.value.status, raised.value.code) == (404, "number_not_configured")
    assert raised.value.details["state"] == "configuring"
    answer = configure_gb("proxy")
    assert answer.number["state"] == "configured"
    token = aircall_configuration(gateway, GB).json()["token"]
    record = numbers.get(GB)
    assert record is not None and not record.state
    assert record.callback_token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    text = world.text("after the repair")
    sent = send_message(SendRequest.model_validate({"from": GB, "to": GB_CONTACT, "text": text}), principal=ADMIN)
    assert sent.status_code == 201


def test_a_configuration_cut_off_is_repaired_by_the_schedule_once_no_put_can_still_be_running(
    world, gateway, gb_number, monkeypatch
):
    """Nobody PUTs again: the scheduled repair finishes the configuration as that PUT would. Not while a PUT may
    still be running (a younger `configuring` is left alone); past that, it asks Aircall again, stores the digest
    of the token Aircall's callbacks carry, and the number sends."""
    killed_after_aircall_configures(monkeypatch)
    with pytest.raises(LambdaKilled):
        configure_gb("proxy")
    monkeypatch.undo()
    cut_at = timeutil.utcnow()
    assert number_repair.repair_cut_off(cut_at + timedelta(seconds=30)).to_dict() == {
        "repaired": [],
        "left": [],
        "superseded": [],
    }
    record = numbers.get(GB)
    assert record is not None and record.state == "configuring"
    run = number_repair.repair_cut_off(cut_at + number_repair.CUT_OFF_AFTER + timedelta(seconds=1))
    assert run.repaired == [GB]
    token = aircall_configuration(gateway, GB).json()["token"]
    record = numbers.get(GB)
    assert record is not None and not record.state
    assert record.callback_token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert record.to_api()["state"] == "configured"
    sent = send_message(
        SendRequest.model_validate({"from": GB, "to": GB_CONTACT, "text": world.text("fixed")}), principal=ADMIN
    )
    assert sent.status_code == 201
    # Nothing left to repair: the next run does nothing.
    assert number_repair.repair_cut_off(timeutil.utcnow() + timedelta(hours=1)).repaired == []


def test_the_repair_gives_way_to_a_put_that_changed_the_number_meanwhile(world, gateway, gb_number, monkeypatch):
    """The repair read the number `configuring`, then a PUT in agent mode changed it before the repair wrote: the
    repair's conditional write does not undo the PUT (superseded), and the number stays in agent mode."""
    killed_after_aircall_configures(monkeypatch)
    with pytest.raises(LambdaKilled):
        configure_gb("proxy")
    monkeypatch.undo()
    read = numbers.configuring_before(iso(timeutil.utcnow() + timedelta(minutes=5)))
    assert [record.number_id for record in read] == [GB]
    configure_gb("agent")
    monkeypatch.setattr(numbers, "configuring_before", lambda cutoff: read)
    run = number_repair.repair_cut_off(timeutil.utcnow() + timedelta(minutes=5))
    assert (run.repaired, run.superseded) == ([], [GB])
    record = numbers.get(GB)
    assert record is not None and record.mode == "agent" and not record.state


def test_a_cut_off_configuration_aircall_refuses_is_left_for_the_operator(
    world, gateway, gb_number, monkeypatch, sandbox_api
):
    """Aircall refuses the repair (a 4xx): the number stays `configuring` (its sends still wait), counted as left
    for the operator's PUT or DELETE; the run goes on with the next number."""
    killed_after_aircall_configures(monkeypatch)
    with pytest.raises(LambdaKilled):
        configure_gb("proxy")
    monkeypatch.undo()
    fault = {"path_contains": "/messages/configuration", "method": "POST", "status": 403, "mode": "before", "count": 1}
    sandbox_api.post("/_sandbox/faults", json=fault).raise_for_status()
    run = number_repair.repair_cut_off(timeutil.utcnow() + timedelta(minutes=5))
    assert (run.repaired, run.left) == ([], [GB])
    record = numbers.get(GB)
    assert record is not None and record.state == "configuring"
    sandbox_api.delete("/_sandbox/faults").raise_for_status()
    assert number_repair.repair_cut_off(timeutil.utcnow() + timedelta(minutes=5)).repaired == [GB]


def test_a_configuration_cut_off_then_put_in_agent_mode_removes_it_from_aircall(world, gateway, gb_number, monkeypatch):
    """Cut off as above, then the client changes its mind: `PUT` with `mode: agent`. The stored `configuring`
    says Aircall may hold a configuration, so the gateway removes it (app messaging comes back and agent sends
    work); without it the number would stay in API mode in Aircall behind an agent-mode record."""
    killed_after_aircall_configures(monkeypatch)
    with pytest.raises(LambdaKilled):
        configure_gb("proxy")
    monkeypatch.undo()
    answer = configure_gb("agent")
    assert (answer.number["mode"], answer.number["state"]) == ("agent", "configured")
    assert aircall_configuration(gateway, GB).status_code == 404  # removed in Aircall


def test_a_configuration_aircall_refuses_puts_the_number_back_as_it_was(world, gateway, gb_number, sandbox_api):
    """Aircall refuses the configuration (a definite 4xx: nothing was configured). A number that was in agent
    mode stays exactly so (not left `configuring`); a new number is not left behind."""
    configure_gb("agent")
    before = numbers.get(GB)
    assert before is not None
    fault = {"path_contains": "/messages/configuration", "method": "POST", "status": 403, "mode": "before", "count": 2}
    sandbox_api.post("/_sandbox/faults", json=fault).raise_for_status()
    with pytest.raises(GatewayError) as raised:
        configure_gb("proxy")
    assert (raised.value.status, raised.value.code) == (502, "aircall_error")
    after = numbers.get(GB)
    assert after is not None
    assert after.mode == "agent" and not after.state
    # As it was: in agent mode it keeps the account webhook's URL and token digest, nothing of the refused proxy.
    assert (after.callback_url, after.callback_token_sha256) == (before.callback_url, before.callback_token_sha256)
    numbers.delete(GB)
    with pytest.raises(GatewayError):
        configure_gb("proxy")
    assert numbers.get(GB) is None


def test_a_configuration_whose_answer_is_lost_stays_configuring_and_the_next_put_keeps_aircalls_token(
    world, gateway, gb_number, sandbox_api
):
    """Aircall configured the number but its answer was lost (a 5xx after performing it): `504 aircall_timeout`,
    the number stays `configuring` (Aircall may have it); the next PUT stores the digest of the token Aircall
    holds, the same one its callbacks carry."""
    fault = {"path_contains": "/messages/configuration", "method": "POST", "status": 500, "mode": "after", "count": 1}
    sandbox_api.post("/_sandbox/faults", json=fault).raise_for_status()
    with pytest.raises(GatewayError) as raised:
        configure_gb("proxy")
    assert (raised.value.status, raised.value.code) == (504, "aircall_timeout")
    record = numbers.get(GB)
    assert record is not None and record.state == "configuring"
    sandbox_api.delete("/_sandbox/faults").raise_for_status()
    configure_gb("proxy")
    token = aircall_configuration(gateway, GB).json()["token"]
    record = numbers.get(GB)
    assert record is not None and not record.state
    assert record.callback_token_sha256 == hashlib.sha256(token.encode()).hexdigest()


# ================================================================================================ callback intake
@pytest.fixture
def callbacks_queue(world, emulator, monkeypatch) -> Iterator[tuple[Any, str, str]]:
    """The callbacks queue and its dead-letter queue in the emulator (moto's SQS), as the template declares them
    (redrive after 10 receives), and the gateway pointed at it: (the SQS client, the queue's URL, the DLQ's URL)."""
    sqs = aws_client("sqs", emulator.url)
    name = "CallbacksQueue"  # the template's (local) name: the InboundFunction's role allows this queue only
    dead = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 10})
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", emulator.url)
    monkeypatch.setenv("CALLBACKS_QUEUE_URL", url)
    get_settings.cache_clear()
    queue.forget_client()
    yield sqs, url, dead
    queue.forget_client()
    with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):  # a test may have removed it
        sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dead)


def post_callback(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /webhooks/aircall as API Gateway hands it to the InboundFunction."""
    return invoke("inbound", with_body(load_event("inbound_status_updated"), payload))


def consume(sqs: Any, url: str) -> tuple[int, int]:
    """One poll of the callbacks queue as Lambda's SQS event source mapping makes it: a batch handed to the
    InboundFunction, the messages it did not report deleted; those it reported become visible again at once (Lambda
    waits for the visibility timeout). (messages handed over, messages reported for another delivery)."""
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
    if not received:
        return 0, 0
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1",
            }
            for message in received
        ]
    }
    answer = load_handler("inbound").lambda_handler(event, FakeContext())
    again = {failure["itemIdentifier"] for failure in answer["batchItemFailures"]}
    for message in received:
        if message["MessageId"] in again:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(received), len(again)


def callback_records(observer: Any) -> list[dict[str, Any]]:
    table = get_settings().callbacks_table
    return [item for page in observer.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]


def test_callbacks_during_a_dynamodb_throttle_are_queued_then_applied_once(world, dynamodb_faults, callbacks_queue):
    """DynamoDB throttles every write (and the token's lookup) while Aircall's status callbacks arrive. Aircall still
    gets `200` (`result: queued`) for each, at once: the callbacks are on the callbacks queue, nothing recorded,
    the message unmoved. A forged callback that arrives meanwhile cannot be checked: it is queued too. The queue's
    consumer, still throttled, reports every callback for another delivery (none deleted, none lost); once DynamoDB
    recovers, the next delivery authenticates, records and applies each one exactly once (the forged one is refused
    and nothing of it is stored), a second delivery of the same callbacks changes nothing, and nothing reaches the
    dead-letter queue."""
    sqs, url, dead = callbacks_queue
    text = world.text("callbacks while throttled")
    assert send(text).status_code == 201
    world.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    [message] = [message for message in world.in_aircall() if message["body"] == text]
    attempts = world.sandbox_api.get("/_sandbox/callbacks", params={"message_id": message["id"]}).json()
    first: dict[str, dict[str, Any]] = {}
    for attempt in attempts["callbacks"]:
        first.setdefault(attempt["payload"]["data"]["status"], attempt["payload"])
    assert list(first) == ["sent", "delivered"]
    forged = {**first["delivered"], "token": "forged-" + uuid.uuid4().hex}
    before = len(callback_records(world.dynamodb))
    numbers.forget()  # a new instance: the token's lookup is a read, throttled too
    for operation in ("GetItem", "PutItem", "UpdateItem", "TransactWriteItems", "Query"):
        dynamodb_faults.throttle_on_the_wire(operation, 10_000)

    answers = [post_callback(payload) for payload in (*first.values(), forged)]

    assert [(status, body["result"]) for status, body in answers] == [(200, "queued")] * 3
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "3"
    assert consume(sqs, url) == (3, 3)  # still throttled: every one stays on the queue
    dynamodb_faults.clear()
    assert len(callback_records(world.dynamodb)) == before
    assert world.only(text).status == "queued"

    assert consume(sqs, url) == (3, 0)  # DynamoDB is back: recorded and applied, the forged one refused
    assert consume(sqs, url) == (0, 0)
    record = world.only(text)
    assert record.status == "delivered"
    assert [change.status for change in record.status_history].count("delivered") == 1
    assert len(callback_records(world.dynamodb)) == before + 2  # the forged callback left nothing
    for payload in first.values():  # the same callbacks delivered again (SQS delivers at least once)
        assert post_callback(payload)[1]["result"] == "duplicate"
    history = [(change.status, change.at, change.source) for change in record.status_history]
    assert [(change.status, change.at, change.source) for change in world.only(text).status_history] == history
    assert sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=0).get("Messages", []) == []
    world.assert_properties()


def test_a_callback_neither_recorded_nor_queued_is_refused_with_503(
    world, dynamodb_faults, callbacks_queue, monkeypatch
):
    """DynamoDB throttles and the queue cannot be reached either: Aircall gets `503 service_busy` (it was neither
    recorded nor queued, and saying so is the honest answer), never a 200 for a callback the gateway dropped."""
    callbacks_queue[0].delete_queue(QueueUrl=callbacks_queue[1])  # the queue cannot be reached
    text = world.text("callback nowhere")
    assert send(text).status_code == 201
    world.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    [message] = [message for message in world.in_aircall() if message["body"] == text]
    payload = world.sandbox_api.get("/_sandbox/callbacks", params={"message_id": message["id"]}).json()
    dynamodb_faults.throttle_on_the_wire("PutItem", 10_000)
    status, body = post_callback(payload["callbacks"][0]["payload"])
    assert (status, body["error"]["code"]) == (503, "service_busy")
    dynamodb_faults.clear()
    world.assert_properties()


def test_a_status_callback_whose_settling_write_fails_is_settled_by_the_sweep_without_moving_twice(
    world, dynamodb_faults
):
    """A status callback moves its message and is then settled in a write of its own: DynamoDB throttles that
    second write. Aircall still gets `200` (`pending`: the callback is recorded); the message has moved, once; the
    sweep applies the callback again, finds the move made and settles it (`unchanged`), and nothing moves twice."""
    text = world.text("settling throttled")
    assert send(text).status_code == 201
    world.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    [message] = [message for message in world.in_aircall() if message["body"] == text]
    attempts = world.sandbox_api.get("/_sandbox/callbacks", params={"message_id": message["id"]}).json()
    [sent] = [a["payload"] for a in attempts["callbacks"] if a["payload"]["data"]["status"] == "sent"][:1]
    table = get_settings().callbacks_table

    def settling(params: dict[str, Any]) -> bool:
        return params.get("TableName") == table and "REMOVE pending" in str(params.get("UpdateExpression", ""))

    dynamodb_faults.fail("UpdateItem", "ProvisionedThroughputExceededException", count=1, when=settling)
    assert handle_callback(json.dumps(sent)).result == "pending"
    assert dynamodb_faults.hits["UpdateItem"] == 1
    assert world.only(text).status == "sent"
    counts = reconcile(timeutil.utcnow() + PAST_THE_SWEEP_DELAY)
    assert counts["applied"] >= 1
    record = world.only(text)
    assert [change.status for change in record.status_history].count("sent") == 1
    [stored] = [
        item
        for item in callback_records(world.dynamodb)
        if item.get("aircall_id", {}).get("S") == str(message["id"]) and item["event"]["S"] == sent["event"]
    ]
    assert (stored["state"]["S"], stored["result"]["S"], "pending" in stored) == ("applied", "unchanged", False)
    world.assert_properties()


def _fresh_inbound(world: World, text: str) -> tuple[dict[str, Any], str]:
    """An inbound message's callback (`text`) the webhook has not seen, with the number's token (taken from the
    callbacks the sandbox posted for a send of this test), and its Aircall id."""
    sent_text = world.text("token for an inbound")
    assert send(sent_text).status_code == 201
    world.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    [message] = [message for message in world.in_aircall() if message["body"] == sent_text]
    attempts = world.sandbox_api.get("/_sandbox/callbacks", params={"message_id": message["id"]}).json()
    some = attempts["callbacks"][0]["payload"]
    aircall_id = f"in-{uuid.uuid4().hex[:16]}"
    payload = {
        "event": "message.received",
        "resource": "message",
        "timestamp": int(time.time()),
        "token": some["token"],
        "data": {"id": aircall_id, "number": some["data"]["number"], "external_number": CONTACT, "body": text},
    }
    return payload, aircall_id


def _inbound_of(world: World, text: str) -> list[messages.MessageRecord]:
    return [record for record in world.archived() if record.text == text and record.direction == "inbound"]


def _record_of(world: World, aircall_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    [stored] = [
        item
        for item in callback_records(world.dynamodb)
        if item.get("aircall_id", {}).get("S") == aircall_id and item["id"]["S"] == _callback_id(payload)
    ]
    return stored


def _callback_id(payload: dict[str, Any]) -> str:
    from aircall_sms.store import callbacks as callback_store

    without_token = {name: value for name, value in payload.items() if name != "token"}
    return callback_store.callback_id(str(payload["data"]["number"]["id"]), without_token)


def test_a_webhook_killed_between_recording_a_callback_and_applying_it_leaves_it_to_the_sweep(world, monkeypatch):
    """The instance dies right after the callback's record (nothing after it runs: no attempt counted, no `pending`
    set). The record is `received`, in the receipt index only; the sweep does not look at it before its delay,
    then applies it once and moves its mark past it; a later sweep, or Aircall's redelivery, changes nothing."""
    text = world.text("killed after the record")
    fresh, aircall_id = _fresh_inbound(world, text)

    def killed(*_: Any, **__: Any) -> Any:
        raise LambdaKilled

    monkeypatch.setattr(callback_use_cases, "_apply_callback", killed)
    with pytest.raises(LambdaKilled):
        handle_callback(json.dumps(fresh))
    monkeypatch.undo()
    stored = _record_of(world, aircall_id, fresh)
    assert (stored["state"]["S"], "pending" in stored, stored["received_day"]["S"]) == (
        "received",
        False,
        stored["received_at"]["S"][:10],
    )
    assert _inbound_of(world, text) == []
    # Younger than the sweep's delay: left alone (and not passed by the mark).
    assert reconcile(timeutil.utcnow() + timedelta(seconds=20)) == {"applied": 0, "pending": 0, "abandoned": 0}
    assert _inbound_of(world, text) == []
    assert reconcile(timeutil.utcnow() + PAST_THE_SWEEP_DELAY) == {"applied": 1, "pending": 0, "abandoned": 0}
    [archived] = _inbound_of(world, text)
    stored = _record_of(world, aircall_id, fresh)
    assert (stored["state"]["S"], stored["result"]["S"], "pending" in stored) == ("applied", "archived", False)
    assert stored["message_id"]["S"] == archived.id
    assert reconcile(timeutil.utcnow() + PAST_THE_SWEEP_DELAY) == {"applied": 0, "pending": 0, "abandoned": 0}
    assert handle_callback(json.dumps(fresh)).result == "duplicate"
    assert len(_inbound_of(world, text)) == 1
    world.assert_properties()


def test_a_callback_whose_archiving_and_attempt_count_are_both_throttled_is_applied_by_the_sweep(
    world, dynamodb_faults
):
    """Applying an inbound callback fails (its archiving transaction throttled) and so does the write that would
    count the attempt and put it in `pending`: the record stays `received`. Aircall got `200` (`pending`); the
    sweep finds it through the receipt index and archives the message, once."""
    text = world.text("archiving and count throttled")
    fresh, aircall_id = _fresh_inbound(world, text)
    table = get_settings().callbacks_table
    dynamodb_faults.fail("TransactWriteItems", "ProvisionedThroughputExceededException", count=1)
    dynamodb_faults.fail(
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        count=1,
        when=lambda params: params.get("TableName") == table,
    )
    assert handle_callback(json.dumps(fresh)).result == "pending"
    assert (dynamodb_faults.hits["TransactWriteItems"], dynamodb_faults.hits["UpdateItem"]) == (1, 1)
    dynamodb_faults.clear()
    stored = _record_of(world, aircall_id, fresh)
    assert (stored["state"]["S"], "pending" in stored) == ("received", False)
    assert _inbound_of(world, text) == []
    assert reconcile(timeutil.utcnow() + PAST_THE_SWEEP_DELAY)["applied"] >= 1
    assert len(_inbound_of(world, text)) == 1
    assert _record_of(world, aircall_id, fresh)["state"]["S"] == "applied"
    world.assert_properties()


def test_a_sweep_killed_before_moving_its_mark_applies_nothing_twice_on_its_next_run(world, monkeypatch):
    """The sweep applies a callback left `received`, then dies before its mark moves. Its next run reads the
    same callbacks again, finds that one `applied` and leaves it: the message is archived once."""
    from aircall_sms.store import callbacks as callback_store

    text = world.text("sweep killed")
    fresh, aircall_id = _fresh_inbound(world, text)

    def killed(*_: Any, **__: Any) -> Any:
        raise LambdaKilled

    with monkeypatch.context() as patch:
        patch.setattr(callback_use_cases, "_apply_callback", killed)
        with pytest.raises(LambdaKilled):
            handle_callback(json.dumps(fresh))
    mark_before = callback_store.sweep_mark()
    with monkeypatch.context() as patch:
        patch.setattr(callback_store, "move_sweep_mark", killed)
        with pytest.raises(LambdaKilled):
            reconcile(timeutil.utcnow() + PAST_THE_SWEEP_DELAY)
    assert callback_store.sweep_mark() == mark_before
    assert len(_inbound_of(world, text)) == 1
    assert reconcile(timeutil.utcnow() + PAST_THE_SWEEP_DELAY) == {"applied": 0, "pending": 0, "abandoned": 0}
    assert callback_store.sweep_mark() == _record_of(world, aircall_id, fresh)["received_at"]["S"]
    assert len(_inbound_of(world, text)) == 1
    world.assert_properties()


def test_callbacks_left_unapplied_beyond_a_sweeps_batch_are_applied_by_the_next_runs(world, monkeypatch):
    """Three webhooks killed after their records, a sweep batch of two: the first run applies two and moves its
    mark past them only, the next one applies the third; each message archived once."""
    texts = [world.text(f"killed in a batch {index}") for index in range(3)]
    payloads = [_fresh_inbound(world, text)[0] for text in texts]

    def killed(*_: Any, **__: Any) -> Any:
        raise LambdaKilled

    with monkeypatch.context() as patch:
        patch.setattr(callback_use_cases, "_apply_callback", killed)
        for payload in payloads:
            with pytest.raises(LambdaKilled):
                handle_callback(json.dumps(payload))
    monkeypatch.setattr(callback_use_cases, "SWEEP_BATCH", 2)
    past = timeutil.utcnow() + PAST_THE_SWEEP_DELAY
    assert reconcile(past) == {"applied": 2, "pending": 0, "abandoned": 0}
    assert [len(_inbound_of(world, text)) for text in texts] == [1, 1, 0]
    assert reconcile(past) == {"applied": 1, "pending": 0, "abandoned": 0}
    assert reconcile(past) == {"applied": 0, "pending": 0, "abandoned": 0}
    assert [len(_inbound_of(world, text)) for text in texts] == [1, 1, 1]
    world.assert_properties()
