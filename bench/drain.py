"""The quota drain simulation: a backlog of deferred messages, larger than several windows, across numbers of
different kinds, drained by the real dispatcher on a simulated clock shared with the Aircall sandbox.

Everything is real but the clock: the dispatcher's code (`aircall_sms.use_cases.dispatch.run`, as the
QuotaResetFunction calls it), the DynamoDB emulator over HTTP and the Aircall sandbox over HTTP, which counts
the company's request budget per minute and every number's segments per hour, day and month on its own clock.
The clock (`local_stack.clock.SimulatedClock`) moves both the gateway's and the sandbox's time forward: every
simulated minute, one run starts at the minute and works until it ends, and the dispatcher's pacing waits on
the same clock. Hours pass in seconds. When a run sent nothing because every number with a queue had a full
window, the simulation goes straight to the next hour (windows reopen on the hour; the runs in between would
each find the same), so `runs` counts the minutes simulated, not every minute of the drain.

The backlog is written directly as deferred messages (as `POST /messages` with `on_limit: "defer"` stores them,
index keys included). A slice of marketing messages has a short `not_after`: behind conversational and
transactional traffic of the same number, most of it expires, which is the behaviour to show.

What is checked and reported:
- `429`s answered by the sandbox (must be 0), sends it refused for a full window (must be 0), and every window
  of every number as the sandbox counted it against the gateway's limit (`windows_over_limit`, must be 0);
- every message sent once (the sandbox's message bodies are unique), none lost (every message ends sent or
  expired; none still deferred or unknown);
- utilisation: before each run, what the limits allowed in that minute: the messages at the head of every
  number's queue (in dispatch order) that fit its windows' room, capped by the company budget left in the
  minute; utilisation is the messages sent over that sum, over the whole drain. It asks "did the dispatcher
  use everything the binding limit of the moment (the budget, or the windows) allowed?".
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from aircall_sandbox import SandboxConfig, SandboxServer
from local_stack.clock import SimulatedClock
from local_stack.dynamodb import DynamoDBEmulator, create_tables
from local_stack.dynamodb import client as aws_client
from local_stack.template import function_environments, table_specs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_NAME = "aircall-sms-gateway/aircall-credentials"
WHERE = "drain"
MAX_RUNS = 24 * 60  # a simulated day at most


@dataclass(frozen=True)
class Slice:
    """`count` messages from `number_id` to numbers like `contact_prefix` + 4 digits."""

    number_id: str
    registration: str
    count: int
    contact_prefix: str
    purposes: tuple[str, ...]
    expires_after: timedelta | None = None  # default: the gateway's 24 h


# 5,000 messages; every number's backlog is several of its hourly windows (1-3 segments a message).
BACKLOG = (
    Slice("100001", "approved", 1500, "+1424416", ("transactional", "conversational", "marketing")),
    Slice("100003", "approved", 900, "+1438813", ("transactional", "conversational")),
    Slice("100002", "pending", 600, "+1424416", ("transactional",)),  # toll-free awaiting verification
    Slice("100004", "none", 300, "+3361234", ("conversational",)),  # French mobile line: 100 an hour
    Slice("100005", "none", 800, "+3318695", ("transactional", "conversational")),
    Slice("100005", "none", 200, "+3318695", ("marketing",), expires_after=timedelta(minutes=45)),
    Slice("100006", "none", 700, "+44203966", ("transactional", "conversational")),
)


def run() -> dict[str, object]:
    started = time.perf_counter()
    with _world() as (sandbox, dynamodb):
        from aircall_sms.observability import metrics
        from aircall_sms.use_cases import dispatch

        clock = SimulatedClock(sandbox.url)
        try:
            _configure_numbers(sandbox)
            clock.advance_to(_next_minute().timestamp())
            ids = _seed_backlog()
            allowed_total = sent_total = runs = 0
            binding: Counter[str] = Counter()
            while runs < MAX_RUNS:
                allowed, bound_by = _allowed_now()
                report = dispatch.run(until=_next_minute(), sleep=clock.sleep)
                metrics.clear_metrics()  # Lambda flushes them after each run
                runs += 1
                sent = report.outcomes.get("sent", 0)
                allowed_total, sent_total = allowed_total + allowed, sent_total + sent
                binding[bound_by] += 1 if allowed else 0
                if report.stopped == "empty" and not report.held:
                    break
                # A minute in which every window with a queue was full: until the next hour, every run would
                # find the same (windows reopen on the hour), so the simulation goes straight there.
                skip_to = _next_hour() if not sent and report.stopped == "empty" else _next_minute()
                clock.advance_to(skip_to.timestamp())
            simulated_hours = clock.advanced / 3600
            checks = _checks(sandbox, dynamodb, ids)
        finally:
            clock.close()
    utilisation = sent_total / allowed_total if allowed_total else 0.0
    result: dict[str, object] = {
        f"{WHERE}.backlog_messages": sum(part.count for part in BACKLOG),
        f"{WHERE}.numbers": len({part.number_id for part in BACKLOG}),
        f"{WHERE}.runs (simulated minutes)": runs,
        f"{WHERE}.simulated_hours": round(simulated_hours, 2),
        f"{WHERE}.sent": checks["sent"],
        f"{WHERE}.expired": checks["expired"],
        f"{WHERE}.failed (refused by Aircall)": checks["failed"],
        f"{WHERE}.lost (deferred, unknown or other at the end)": checks["lost"],
        f"{WHERE}.final_statuses": checks["statuses"],
        f"{WHERE}.sent_twice": checks["sent_twice"],
        f"{WHERE}.aircall_429s": checks["aircall_429s"],
        f"{WHERE}.aircall_window_refusals": checks["window_refusals"],
        f"{WHERE}.windows_over_limit": checks["windows_over_limit"],
        f"{WHERE}.utilisation_of_the_binding_limit": round(utilisation, 4),
        f"{WHERE}.minutes_bound_by": dict(binding),
        f"{WHERE}.wall_seconds": round(time.perf_counter() - started, 1),
    }
    failures = [
        name
        for name, bad in (
            ("lost", checks["lost"]),
            ("sent twice", checks["sent_twice"]),
            ("429s", checks["aircall_429s"]),
            ("window refusals", checks["window_refusals"]),
            ("windows over limit", checks["windows_over_limit"]),
        )
        if bad
    ]
    if failures or utilisation < 0.95:
        raise RuntimeError(f"drain: the simulation failed its checks ({failures}, utilisation {utilisation}): {result}")
    return result


# ------------------------------------------------------------------------------------------------ world
@contextmanager
def _world() -> Iterator[tuple[SandboxServer, Any]]:
    """A fresh emulator (tables from the template) and sandbox, and the QuotaResetFunction's environment from
    the template, pointed at them."""
    from tests.support import reset_gateway_caches

    template = os.path.join(ROOT, "template.yaml")
    saved = dict(os.environ)
    with DynamoDBEmulator(port=0) as emulator, SandboxServer(SandboxConfig(callback_delay_ms=10)) as sandbox:
        create_tables(emulator.url, table_specs(template))
        credentials = {"api_id": sandbox.config.api_id, "api_token": sandbox.config.api_token}
        aws_client("secretsmanager", emulator.url).create_secret(Name=SECRET_NAME, SecretString=json.dumps(credentials))
        os.environ.update(function_environments(template)["QuotaResetFunction"])
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": emulator.url,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": emulator.url,
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AIRCALL_API_BASE_URL": sandbox.url,
                "AIRCALL_CREDENTIALS_SECRET": SECRET_NAME,
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        reset_gateway_caches()
        try:
            yield sandbox, aws_client("dynamodb", emulator.url)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            reset_gateway_caches()


def _configure_numbers(sandbox: SandboxServer) -> None:
    """Configure every number (proxy mode) and the contacts' facts; Aircall posts no callback (no URL)."""
    from aircall_sms.domain.access import ADMIN_PRINCIPAL
    from aircall_sms.domain.requests import NumberRequest
    from aircall_sms.use_cases import numbers as number_use_cases

    registrations = {part.number_id: part.registration for part in BACKLOG}
    auth = (sandbox.config.api_id, sandbox.config.api_token)
    for number_id, registration in registrations.items():
        request = NumberRequest.model_validate({"mode": "proxy", "registration": registration})
        number_use_cases.configure(
            ADMIN_PRINCIPAL, number_id, request, request_callback_url="https://unused.invalid/webhooks"
        )
        httpx.post(
            f"{sandbox.url}/v1/numbers/{number_id}/messages/configuration", json={"callbackUrl": None}, auth=auth
        ).raise_for_status()


def _seed_backlog() -> list[str]:
    """Write the backlog as deferred messages, oldest first, with the contacts' facts the rules ask for."""
    from aircall_sms.domain import segments
    from aircall_sms.domain.ids import new_id
    from aircall_sms.domain.timeutil import iso, utcnow
    from aircall_sms.settings import get_settings
    from aircall_sms.store import contacts, messages, numbers

    now = utcnow()
    ids: list[str] = []
    conversations: set[tuple[str, str]] = set()
    consents: set[str] = set()
    with messages.MessageRecord.batch_write() as batch:
        sequence = 0
        for part in BACKLOG:
            number = numbers.get(part.number_id)
            assert number is not None
            for index in range(part.count):
                sequence += 1
                contact = f"{part.contact_prefix}{3000 + index % 900:04d}"  # never one of the senders
                purpose = part.purposes[index % len(part.purposes)]
                text = f"drain {sequence} " + "x" * (index % 3) * 150  # 1, 2 or 3 segments
                created = now - timedelta(seconds=30) + timedelta(milliseconds=sequence)
                expires = now + (part.expires_after or timedelta(hours=get_settings().default_not_after_hours))
                counted = segments.count(text)
                record = messages.MessageRecord(
                    id=new_id("msg"),
                    number_id=part.number_id,
                    sender=number.e164,
                    recipient=contact,
                    contact=contact,
                    direction="outbound",
                    text=text,
                    purpose=purpose,
                    segments=counted.segments,
                    encoding=counted.encoding,
                    status="deferred",
                    status_history=[messages.change("deferred", created, "gateway", "a quota window is full")],
                    created_at=iso(created),
                    updated_at=iso(created),
                    not_before=iso(now),
                    not_after=iso(expires),
                )
                messages.mark_deferred(record)
                batch.save(record)
                ids.append(record.id)
                if purpose == "conversational" and number.kind == "mobile":
                    conversations.add((contact, part.number_id))
                if purpose == "marketing":
                    consents.add(contact)
    for contact, number_id in conversations:
        contacts.record_inbound(contact, number_id=number_id, at=now, message_id=new_id("msg"))
    for contact in consents:
        contacts.record_consent(
            contact,
            changed_by="bench",
            purpose="marketing",
            number_id=None,
            evidence={"source": "bench", "captured_at": iso(now), "text": "yes"},
        )
    return ids


def _next_minute() -> datetime:
    from aircall_sms.domain.timeutil import utcnow

    return utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)


def _next_hour() -> datetime:
    from aircall_sms.domain.timeutil import utcnow

    return utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


# ------------------------------------------------------------------------------------------------ measures
def _allowed_now() -> tuple[int, str]:
    """What the limits allow in the coming minute: queue heads that fit their number's windows (in dispatch
    order, as the dispatcher goes), capped by the company budget left; and which bound it."""
    from aircall_sms.domain.timeutil import parse_time, utcnow
    from aircall_sms.settings import get_settings
    from aircall_sms.store import messages, numbers

    now = utcnow()
    budget = get_settings().aircall_requests_per_minute
    fitting = 0
    for number, windows_used in _rooms(numbers.list_all(), now).items():
        room = dict(windows_used)
        for record in messages.MessageRecord.deferred.query(number, limit=budget):
            if (parse_time(record.not_after) or now) <= now:
                continue
            cost = max(1, int(record.segments or 0))
            if any(cost > left for left in room.values()):
                break
            room = {name: left - cost for name, left in room.items()}
            fitting += 1
    return min(fitting, budget), ("company budget" if fitting > budget else "number windows")


def _rooms(configured: list[Any], now: Any) -> dict[str, dict[str, int]]:
    from aircall_sms.store import usage
    from aircall_sms.use_cases.dispatch import current_windows

    rooms: dict[str, dict[str, int]] = defaultdict(dict)
    for number, window, used in usage.current_usage(current_windows(configured, now)):
        rooms[number.number_id][window.name] = window.limit - used
    return rooms


def _checks(sandbox: SandboxServer, dynamodb: Any, ids: list[str]) -> dict[str, Any]:
    from aircall_sms.domain.limits import DEFAULT_TABLE
    from aircall_sms.domain.phone import PhoneNumber
    from aircall_sms.settings import get_settings
    from aircall_sms.store import numbers

    table = get_settings().messages_table
    statuses: Counter[str] = Counter()
    for start in range(0, len(ids), 100):
        keys = [{"id": {"S": message_id}} for message_id in ids[start : start + 100]]
        request: dict[str, Any] = {
            table: {"Keys": keys, "ProjectionExpression": "#s", "ExpressionAttributeNames": {"#s": "status"}}
        }
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            statuses.update(item["status"]["S"] for item in answer["Responses"].get(table, []))
            request = answer.get("UnprocessedKeys") or {}
    sent = statuses["queued"] + statuses["sent"] + statuses["delivered"]
    log = httpx.get(f"{sandbox.url}/_sandbox/requests", params={"path_contains": "/send"}).json()["requests"]
    outbound = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"direction": "outbound"}).json()["messages"]
    bodies = Counter(message["body"] for message in outbound)
    used: Counter[tuple[str, str, str]] = Counter()
    for message in outbound:
        moment = message["created_at"] // 1000
        stamp = time.gmtime(moment)
        number_id = str(message["number"]["id"])
        segments = message["sandbox"]["segments"]
        used[(number_id, "hour", time.strftime("%Y-%m-%dT%H", stamp))] += segments
        used[(number_id, "day", time.strftime("%Y-%m-%d", stamp))] += segments
        used[(number_id, "month", time.strftime("%Y-%m", stamp))] += segments
    over = 0
    for (number_id, window, _key), value in used.items():
        record = numbers.get(number_id)
        assert record is not None
        limits = DEFAULT_TABLE.for_number(
            PhoneNumber(e164=record.e164, region=record.region, kind=record.kind, country_code=0),
            status=record.registration,
            overrides=record.limits,
        )
        over += int(window in limits and value > limits[window])
    return {
        "sent": sent,
        "expired": statuses["expired"],
        "failed": statuses["failed"],
        "lost": statuses["deferred"] + statuses["unknown"] + (len(ids) - sum(statuses.values())),
        "statuses": dict(statuses),
        "sent_twice": sum(count - 1 for count in bodies.values() if count > 1),
        "aircall_429s": sum(1 for entry in log if entry["status"] == 429),
        "window_refusals": sum(1 for entry in log if entry["status"] == 403),
        "windows_over_limit": over,
    }
