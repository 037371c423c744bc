"""A campaign beside live conversational replies on one number, on the local stack with a simulated clock.

The whole stack runs on this machine (`local_stack.LocalStack`: the HTTP front calling the handlers in-process, the
DynamoDB emulator, the Aircall sandbox, Aircall's budget of 60 requests a minute on both sides); one clock moves the
gateway's and the sandbox's time together, so hours pass in seconds. The number (a French fixed line) gets the
limits `{"hour": 100, "day": 1000, "month": 10000}` (PUT /numbers/{id}). At five past an hour:

- contacts write in (the sandbox posts their inbound messages to the gateway's webhook), then a campaign of
  `recipients` (150) is created through `POST /campaigns`, due at once;
- every simulated minute the dispatcher runs as the QuotaResetFunction runs it (`dispatch.run`), its pacing
  waiting on the simulated clock; meanwhile, every `live_every` seconds (20) for `live_minutes` (12), a live
  conversational reply to one of those contacts goes through `POST /messages` over HTTP, half of them with
  `on_limit: "defer"` (a 202 is a deferral), half without (a 429 is a refusal);
- then the minutes go on until the campaign's last message is sent (an hour at a time when nothing can move).

The same live replies run first without the campaign (the same number, an earlier hour), the baseline.

Per run: the live replies sent at once, deferred and refused (429); their waits (a deferred one until it was sent,
a refused one its Retry-After, 0 for the others: max and p95); the campaign's messages sent in each clock hour
of the campaign and the minutes until its last one was sent; and the number's hour windows' utilisation: the
segments the number sent in the hour windows the campaign spanned over those windows' limits (each window counted
whole, so at most 1.0), also the campaign's part of it.

`aircall_sms` is imported only inside the stack (its environment set, its own copies of the gateway's modules):
importing it first would bind the settings and table connections to the wrong endpoints.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench.stack_bench import own_layer_modules, stdout_to_stderr
from local_stack.stack import LocalStack

WHERE = "campaign_drain"
LIMITS = {"hour": 100, "day": 1000, "month": 10000}
NUMBER = "100005"  # +33 1 86 95 42 10: a French fixed line (the sandbox allows it 500 segments an hour)
MAX_HOURS = 30  # simulated; a campaign not done by then fails the bench
CAMPAIGN_PREFIX = "Offre "


@dataclass
class LiveReply:
    at: datetime
    code: int = 0
    message_id: str | None = None
    wait_seconds: float = 0.0


@dataclass
class RunResult:
    live: list[LiveReply] = field(default_factory=list)
    campaign_done_minutes: float | None = None
    campaign_per_hour: list[int] = field(default_factory=list)
    utilisation: float = 0.0
    campaign_utilisation: float = 0.0
    windows_over_limit: int = 0
    campaign_sent: int = 0

    def figures(self, prefix: str) -> dict[str, object]:
        waits = sorted(reply.wait_seconds for reply in self.live)
        p95 = waits[max(0, math.ceil(0.95 * len(waits)) - 1)] if waits else 0.0
        found: dict[str, object] = {
            f"{prefix}.live_replies": len(self.live),
            f"{prefix}.live_sent_at_once": sum(1 for reply in self.live if reply.code == 201),
            f"{prefix}.live_deferred": sum(1 for reply in self.live if reply.code == 202),
            f"{prefix}.live_429": sum(1 for reply in self.live if reply.code == 429),
            f"{prefix}.live_max_wait_s": round(waits[-1] if waits else 0.0),
            f"{prefix}.live_p95_wait_s": round(p95),
        }
        if self.campaign_done_minutes is not None or self.campaign_sent:
            found |= {
                f"{prefix}.campaign_sent": self.campaign_sent,
                f"{prefix}.campaign_sent_per_clock_hour": self.campaign_per_hour,
                f"{prefix}.campaign_finished_after_min": self.campaign_done_minutes,
                f"{prefix}.hour_window_utilisation": self.utilisation,
                f"{prefix}.hour_window_utilisation_by_the_campaign": self.campaign_utilisation,
                f"{prefix}.windows_over_limit": self.windows_over_limit,
            }
        return found


def run(
    recipients: int = 150,
    live_minutes: int = 12,
    live_every: int = 20,
    limits: dict[str, int] | None = None,
) -> dict[str, object]:
    """Both runs on one stack; the figures, keyed `campaign_drain.with_campaign.*` and `...without_campaign.*`."""
    started = time.perf_counter()
    limits = dict(limits or LIMITS)
    with _stack() as stack:
        clock = _Clock(stack.aircall_url)
        try:
            # The baseline first, then the campaign from the next hour on: the same number, other hour windows.
            without = _one_run(stack, clock, NUMBER, limits, 0, live_minutes, live_every, contacts=200)
            with_campaign = _one_run(stack, clock, NUMBER, limits, recipients, live_minutes, live_every, contacts=100)
        finally:
            clock.close()
    results = {
        f"{WHERE}.recipients": recipients,
        f"{WHERE}.limits": limits,
        f"{WHERE}.live": f"one every {live_every} s for {live_minutes} min",
        **with_campaign.figures(f"{WHERE}.with_campaign"),
        **without.figures(f"{WHERE}.without_campaign"),
        f"{WHERE}.wall_seconds": round(time.perf_counter() - started, 1),
    }
    if with_campaign.windows_over_limit or with_campaign.campaign_sent != recipients:
        raise RuntimeError(f"{WHERE}: the campaign did not end as it must: {results}")
    return results


# ------------------------------------------------------------------------------------------------ the stack
@contextlib.contextmanager
def _stack() -> Iterator[LocalStack]:
    """The local stack with Aircall's budget (60 a minute), its own copies of the gateway's modules, stdout kept."""
    from aircall_sandbox import SandboxConfig

    sandbox = SandboxConfig(callback_delay_ms=10, allow_http_loopback_callbacks=True)
    environ = {name: value for name, value in os.environ.items() if name != "AIRCALL_REQUESTS_PER_MINUTE"}
    stack = LocalStack(dynamodb_port=0, aircall_port=0, api_port=0, sandbox_config=sandbox, environ=environ)
    with stdout_to_stderr(), own_layer_modules(stack), stack:
        print(f"{WHERE}: local stack up", file=sys.stderr)
        yield stack


class _Clock:
    """The gateway's clock (the stack's own `aircall_sms.domain.timeutil`) and the sandbox's, moved together."""

    def __init__(self, sandbox_url: str) -> None:
        from aircall_sms.domain import timeutil

        self.timeutil = timeutil
        self.http = httpx.Client(base_url=sandbox_url, timeout=10)

    def now(self) -> datetime:
        return self.timeutil.utcnow()

    def advance_to(self, moment: datetime) -> None:
        seconds = (moment - self.now()).total_seconds()
        if seconds > 0:
            self.http.post("/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()
            self.timeutil.advance_clock(timedelta(seconds=seconds))

    def close(self) -> None:
        self.http.post("/_sandbox/clock", json={"set": self.timeutil.iso(datetime.now(self.now().tzinfo))})
        self.timeutil.reset_clock()
        self.http.close()


class _LiveTraffic:
    """The live replies, due at their times: `sleep` (the dispatcher's, and the minutes between runs) moves the
    clock and sends each reply whose time it passes, over HTTP."""

    def __init__(self, api: httpx.Client, clock: _Clock, number_id: str, contacts: list[str], due: list[datetime]):
        self.api, self.clock, self.number_id, self.contacts = api, clock, number_id, contacts
        self.replies = [LiveReply(at=moment) for moment in due]
        self._next = 0

    def sleep(self, seconds: float) -> None:
        self.until(self.clock.now() + timedelta(seconds=seconds))

    def until(self, moment: datetime) -> None:
        while self._next < len(self.replies) and self.replies[self._next].at <= moment:
            reply = self.replies[self._next]
            self.clock.advance_to(reply.at)
            self._send(self._next, reply)
            self._next += 1
        self.clock.advance_to(moment)

    @property
    def done(self) -> bool:
        return self._next >= len(self.replies)

    def _send(self, index: int, reply: LiveReply) -> None:
        body = {
            "from": self.number_id,
            "to": self.contacts[index % len(self.contacts)],
            "text": f"Bien reçu, réponse {index}.",
            "purpose": "conversational",
        } | ({"on_limit": "defer"} if index % 2 else {})
        answer = self.api.post("/messages", json=body)
        reply.code = answer.status_code
        if answer.status_code in (201, 202):
            reply.message_id = answer.json()["message"]["id"]
        elif answer.status_code == 429:
            reply.wait_seconds = float(answer.headers.get("Retry-After") or 0)
        else:
            raise RuntimeError(f"{WHERE}: a live reply answered {answer.status_code}: {answer.text[:500]}")


def _one_run(
    stack: LocalStack,
    clock: _Clock,
    number_id: str,
    limits: dict[str, int],
    recipients: int,
    live_minutes: int,
    live_every: int,
    *,
    contacts: int,
) -> RunResult:
    from aircall_sms.observability import metrics
    from aircall_sms.use_cases import dispatch

    api = httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=30)
    sandbox = httpx.Client(base_url=stack.aircall_url, timeout=30)
    try:
        answer = api.put(f"/numbers/{number_id}", json={"mode": "proxy", "limits": limits})
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{WHERE}: configuring {number_id} answered {answer.status_code}: {answer.text}")
        start = (clock.now() + timedelta(hours=1)).replace(minute=5, second=0, microsecond=0)
        clock.advance_to(start)
        writers = [f"+336{10000000 + contacts * 1000 + index:08d}" for index in range(12)]
        for index, contact in enumerate(writers):  # the contacts write in: their replies are conversations
            sandbox.post(
                "/_sandbox/inbound", json={"number_id": int(number_id), "from": contact, "body": f"Question {index}"}
            ).raise_for_status()
        stack.drain_queues(timeout=30)
        campaign_id = None
        if recipients:
            body = {
                "from": number_id,
                "purpose": "transactional",
                "text": CAMPAIGN_PREFIX + "{{n}} : -10 % cette semaine.",
                "recipients": [
                    {"to": f"+336{20000000 + contacts * 1000 + index:08d}", "values": {"n": str(index)}}
                    for index in range(recipients)
                ],
            }
            created = api.post("/campaigns", json=body)
            if created.status_code != 201:
                raise RuntimeError(f"{WHERE}: POST /campaigns answered {created.status_code}: {created.text[:500]}")
            campaign_id = created.json()["campaign"]["id"]
        due = [start + timedelta(seconds=live_every * step) for step in range(live_minutes * 60 // live_every)]
        live = _LiveTraffic(api, clock, number_id, writers, due)
        end = start + timedelta(hours=MAX_HOURS)
        while clock.now() < end:
            minute = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
            live.until(minute + timedelta(seconds=2))  # EventBridge starts a run at the minute
            report = dispatch.run(sleep=live.sleep)
            metrics.clear_metrics()  # Lambda flushes them after each run
            if not live.done or report.outcomes.get("sent") or report.campaign_messages:
                continue
            if report.stopped == "empty" and not report.held and _campaign_sent(sandbox, number_id) >= recipients:
                break  # nothing waits any more
            # nothing could move: every run until the next hour would find the same
            live.until(clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
        _waits(api, live.replies)
        return _measure(sandbox, number_id, limits, start, live.replies, campaign_id is not None)
    finally:
        api.close()
        sandbox.close()


def _outbound(sandbox: httpx.Client, number_id: str) -> list[dict[str, Any]]:
    """What the number sent, as the sandbox recorded it (its clock, its segment counts)."""
    answer = sandbox.get("/_sandbox/messages", params={"direction": "outbound"})
    answer.raise_for_status()
    return [message for message in answer.json()["messages"] if str(message["number"]["id"]) == number_id]


def _campaign_sent(sandbox: httpx.Client, number_id: str) -> int:
    return sum(1 for message in _outbound(sandbox, number_id) if message["body"].startswith(CAMPAIGN_PREFIX))


def _waits(api: httpx.Client, replies: list[LiveReply]) -> None:
    """A deferred reply waited until it was sent (or until now, if it never was)."""
    from aircall_sms.domain.timeutil import parse_time, utcnow

    for reply in replies:
        if reply.code != 202 or reply.message_id is None:
            continue
        message = api.get(f"/messages/{reply.message_id}").json()["message"]
        sent = parse_time(message.get("sent_at") or "") or utcnow()
        reply.wait_seconds = (sent - reply.at).total_seconds()


def _measure(
    sandbox: httpx.Client,
    number_id: str,
    limits: dict[str, int],
    start: datetime,
    replies: list[LiveReply],
    campaign: bool,
) -> RunResult:
    """The figures from the sandbox's own record of what the number sent (its clock, its segment counts)."""
    outbound = _outbound(sandbox, number_id)
    result = RunResult(live=replies)
    per_hour: Counter[str] = Counter()
    campaign_per_hour: Counter[str] = Counter()
    used: Counter[tuple[str, str]] = Counter()
    last = None
    for message in outbound:
        moment = message["created_at"] // 1000
        stamp = time.gmtime(moment)
        segments = int(message["sandbox"]["segments"])
        hour = time.strftime("%Y-%m-%dT%H", stamp)
        per_hour[hour] += segments
        used[("hour", hour)] += segments
        used[("day", time.strftime("%Y-%m-%d", stamp))] += segments
        used[("month", time.strftime("%Y-%m", stamp))] += segments
        if message["body"].startswith(CAMPAIGN_PREFIX):
            campaign_per_hour[hour] += segments
            result.campaign_sent += 1
            last = moment if last is None else max(last, moment)
    result.windows_over_limit = sum(1 for (name, _key), value in used.items() if value > limits.get(name, value))
    if campaign and last is not None:
        result.campaign_done_minutes = round((last - start.timestamp()) / 60, 1)
        spanned = sorted(campaign_per_hour)
        hours = _hours_between(spanned[0], spanned[-1])
        result.campaign_per_hour = [campaign_per_hour.get(hour, 0) for hour in hours]
        capacity = limits["hour"] * len(hours)
        result.utilisation = round(sum(per_hour.get(hour, 0) for hour in hours) / capacity, 3)
        result.campaign_utilisation = round(sum(result.campaign_per_hour) / capacity, 3)
    return result


def _hours_between(first: str, last: str) -> list[str]:
    moment = datetime.strptime(first, "%Y-%m-%dT%H")
    end = datetime.strptime(last, "%Y-%m-%dT%H")
    found = []
    while moment <= end:
        found.append(moment.strftime("%Y-%m-%dT%H"))
        moment += timedelta(hours=1)
    return found
