"""The dispatcher: sends the deferred messages (and the scheduled ones, from their `send_at`) as soon as their
number's windows and the company's Aircall request budget allow, and expires the ones whose `not_after` has passed.

EventBridge runs it every minute (its finest schedule), and each run works for almost a minute, so the queue is
always being served. Within a run:

- **Order.** Every configured number's queue (the sparse `deferred` index, read page by page) is merged into
  one order: conversational before transactional before marketing, then oldest first. A number whose window is
  full is set aside for the rest of the run (its queue keeps its order); the others go on. A campaign's message
  is charged against the campaigns' share of its number's windows (`CAMPAIGN_SHARE_PERCENT`): refused there, the
  number's campaign messages are set aside for the run, and its live messages go on into the rest.
- **Pace.** The company budget is a count per UTC minute shared with live sends (and every other caller of
  Aircall). The dispatcher spreads what is left of the current minute's budget evenly over what is left of the
  minute, so it reaches the last request of each minute without a burst at its start (Aircall does not say
  whether its own window is fixed or rolling). A live send that takes a request shows up as a refused charge:
  the dispatcher then waits for the next minute.
- **Safety.** Each message is claimed (`deferred` -> `unknown`) in the same transaction that checks every rule
  again and charges the windows and the budget, so overlapping runs (a late run, a retried one) can never send
  a message twice or pass a limit; the loser of a claim just moves on.
- **Aircall says no.** A 429 (or "no request left") blocks every caller until Aircall's reset, and the message
  goes back to the queue; so does a message Aircall could not be reached for. Nothing sent is ever retried.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from aircall_sms.domain import phone, quiet_hours, quota, segments
from aircall_sms.domain.access import ADMIN_CLIENT_ID, GATEWAY_CLIENT_ID
from aircall_sms.domain.status import WAITING
from aircall_sms.domain.timeutil import iso, parse_time, utcnow
from aircall_sms.errors import GatewayError, NumberNotConfigured, Unauthorized
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import budget, client_keys, messages, numbers, usage
from aircall_sms.store.transactions import Guard, Plan, Refusal, transact
from aircall_sms.use_cases import campaigns
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.send import quiet, rules
from aircall_sms.use_cases.send.outcome import call_aircall
from aircall_sms.use_cases.send.prepare import PreparedSend, sender_of
from aircall_sms.use_cases.send.reserve import add_charges, limit_error, reservation_of

RUN_LENGTH = timedelta(seconds=58)  # the next run starts a minute after this one
QUEUE_PAGE = 50
ATTEMPTS_PER_MESSAGE = 3
FAILURES_PER_RUN = 3
CLAIM = Guard("claim")


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What became of one deferred message the dispatcher tried.

    `outcome`: "sent" (Aircall took it, or its outcome is unknown and the callbacks will tell), "failed" (Aircall
    refused it), "rejected" (a rule refuses it now: an opt-out since, the number removed...), "requeued" (nothing
    was sent: back in the queue), "postponed" (quiet hours at the recipient's: until `retry_at`), "taken" (not
    deferred any more: another run has it, or it expired), "retry" (the number changed under the cache: try
    again), "window_full" (one of the number's windows, until `retry_at`,
    None: the message can never fit), "campaign_share" (a campaign's message: the number's windows are at the
    campaigns' share, `CAMPAIGN_SHARE_PERCENT`, until `retry_at`; live messages of the number go on), "budget" (the
    company's Aircall budget, until `retry_at`)."""

    outcome: str
    retry_at: datetime | None = None


@dataclass(slots=True)
class RunReport:
    """What one run did; `held` are the numbers set aside because a window was full, `campaigns_held` the numbers
    whose campaign messages were set aside because their windows were at the campaigns' share."""

    outcomes: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    held: list[str] = field(default_factory=list)
    campaigns_held: list[str] = field(default_factory=list)
    stopped: str = "empty"
    usage_max_percent: float = 0.0
    campaign_messages: int = 0

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcomes": dict(sorted(self.outcomes.items())),
            "expired": self.expired,
            "held": self.held,
            "campaigns_held": self.campaigns_held,
            "stopped": self.stopped,
            "usage_max_percent": self.usage_max_percent,
            "campaign_messages": self.campaign_messages,
        }


def run(*, until: datetime | None = None, sleep: Callable[[float], None] = time.sleep) -> RunReport:
    """One dispatcher run: expire, then send until `until` (default: a minute's run) or the queue is done.
    `sleep` waits on the gateway's clock (simulations pass one that moves it)."""
    started = utcnow()
    deadline = until or started + RUN_LENGTH
    configured = numbers.list_all()
    report = RunReport(expired=expire(configured, started))
    # The running campaigns' share of what this minute's budget leaves after live traffic: due messages now.
    try:
        report.campaign_messages = campaigns.materialise(started)
    except Exception:  # a campaign that cannot be read must not stop the queue
        logger.exception("materialising the campaigns failed")
    # Scheduled messages due in this run's minute are in its queue; one due later in the minute waits for its time.
    queue = _Queue([number.number_id for number in configured], due_until=quota.minute_end(started))
    pacer = _Pacer(sleep)
    retries = failures = 0
    while (record := queue.peek()) is not None:
        now = pacer.wait_for_slot(deadline)
        if now is None:
            report.stopped = "deadline"
            break
        if (parse_time(record.not_after) or now) <= now:
            report.expired += _expire_one(record.id, now)
            queue.pop()
            continue
        if record.campaign_id and record.number_id in report.campaigns_held:
            queue.pop()  # its number is at the campaigns' share: it waits for the next runs, live messages go on
            continue
        due = parse_time(record.not_before) if messages.is_scheduled_queue(record) else None
        if due is not None and due > now:  # scheduled later in this minute: at its time
            if not pacer.wait_until(due, deadline):
                report.stopped = "deadline"
                break
            continue
        try:
            result = dispatch_deferred(record, now)
        except Exception:
            # One message that cannot be handled must not hold the queue; a run that fails on every message
            # (DynamoDB unreachable...) fails, so Lambda retries it and the dead-letter alarm tells.
            failures += 1
            logger.exception("dispatching a deferred message failed", extra={"message_id": record.id})
            if failures >= FAILURES_PER_RUN:
                raise
            result = Dispatched("error")
        if result.outcome == "budget":  # a live send took the rest of the minute, or Aircall said stop
            if not pacer.wait_until(result.retry_at, deadline):
                report.stopped = "budget"
                break
            continue
        if result.outcome == "retry" and retries + 1 < ATTEMPTS_PER_MESSAGE:
            retries += 1
            continue
        retries = 0
        report.count(result.outcome)
        if result.outcome == "window_full":
            queue.hold(record.number_id)
            report.held.append(record.number_id)
            continue
        if result.outcome == "campaign_share":
            report.campaigns_held.append(record.number_id)
        queue.pop()
        if result.outcome in ("sent", "failed", "requeued"):
            pacer.spent()
        if result.outcome == "requeued":  # Aircall said no or could not be reached: the next run tries again
            report.stopped = "aircall"
            break
    report.usage_max_percent = record_usage(configured, utcnow())
    _publish(report)
    return report


# ------------------------------------------------------------------------------------------------ queue
class _Queue:
    """The heads of every number's queues, merged by rank (priority, then age); each queue is read lazily. A number
    has two: its deferred messages, and its scheduled ones due before `due_until` (they rank by priority, then
    their `send_at`)."""

    def __init__(self, number_ids: list[str], due_until: datetime) -> None:
        self._pages: dict[str, Iterator[messages.MessageRecord]] = {}
        self._heap: list[tuple[str, str]] = []
        self._heads: dict[str, tuple[str, messages.MessageRecord]] = {}
        for number_id in number_ids:
            deferred, scheduled = messages.queue_partitions(number_id)
            self._pages[deferred] = messages.deferred_queue(number_id, page_size=QUEUE_PAGE)
            self._pages[scheduled] = messages.due_scheduled(number_id, due_until, page_size=QUEUE_PAGE)
            self._advance(deferred)
            self._advance(scheduled)

    def _advance(self, partition: str) -> None:
        record = next(self._pages[partition], None)
        if record is None:
            self._heads.pop(partition, None)
            return
        rank = _rank(record)
        self._heads[partition] = (rank, record)
        heapq.heappush(self._heap, (rank, partition))

    def peek(self) -> messages.MessageRecord | None:
        while self._heap:
            rank, partition = self._heap[0]
            head = self._heads.get(partition)
            if head is not None and head[0] == rank:
                return head[1]
            heapq.heappop(self._heap)  # a held number's stale entry
        return None

    def pop(self) -> None:
        _, partition = heapq.heappop(self._heap)
        self._advance(partition)

    def hold(self, number_id: str) -> None:
        """Set the number aside for the rest of the run (a window is full): both of its queues."""
        for partition in messages.queue_partitions(number_id):
            self._heads.pop(partition, None)


def _rank(record: messages.MessageRecord) -> str:
    """A message's place in the merged order: a scheduled one ranks as if it was created at its `send_at`."""
    if messages.is_scheduled_queue(record) and record.not_before:
        return messages.dispatch_rank(record.purpose, record.not_before, record.id)
    return record.dispatch_rank or ""


# ------------------------------------------------------------------------------------------------ pace
class _Pacer:
    """Spreads the company budget left in the current UTC minute evenly over the seconds left in it."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self._minute: str | None = None
        self._left = 0
        self._next = utcnow()

    def wait_for_slot(self, deadline: datetime) -> datetime | None:
        """Wait for the next send slot; the time then, or None when the run ends first."""
        while True:
            if not self.wait_until(self._next, deadline):
                return None
            now = utcnow()
            minute = quota.minute_key(now)
            if minute != self._minute:  # a new minute (or the run's first): its budget, and the first slot in it
                self._minute, self._left = minute, _budget_left(now)
                self._next = self._slot(now)
                continue
            if self._left > 0:
                return now
            self._next = quota.minute_end(now)

    def spent(self) -> None:
        """One request of the budget was used."""
        self._left -= 1
        self._next = self._slot(utcnow())

    def _slot(self, now: datetime) -> datetime:
        """The `left` requests are spread evenly over the rest of the minute, an equal share from either end: the
        last one is not next to the next minute's first, even when another run sends that one."""
        if self._left <= 0:
            return quota.minute_end(now)
        seconds_left = (quota.minute_end(now) - now).total_seconds()
        return now + timedelta(seconds=seconds_left / (self._left + 1))

    def wait_until(self, moment: datetime | None, deadline: datetime) -> bool:
        """Sleep until `moment` unless the run ends first (then False)."""
        if moment is None or moment >= deadline:
            return False
        now = utcnow()
        if moment > now:
            self._sleep((moment - now).total_seconds())
        return True


def _budget_left(now: datetime) -> int:
    """Requests left in this minute's company budget (one read of its counter)."""
    return get_settings().aircall_requests_per_minute - budget.requests_used(now)


# ------------------------------------------------------------------------------------------------ expiry
def expire(configured: list[numbers.NumberRecord], now: datetime) -> int:
    """Every deferred message whose `not_after` has passed becomes `expired` (the sparse `expiring` index)."""
    expired = 0
    for number in configured:
        expired += sum(_expire_one(message_id, now) for message_id in messages.expired_ids(number.number_id, now))
    return expired


def _expire_one(message_id: str, now: datetime) -> int:
    error = {"code": "expired", "message": "The message could not be sent before its not_after."}
    moved = messages.advance(
        message_id,
        "expired",
        at=now,
        source="dispatcher",
        detail="not_after passed",
        error=error,
        only_from=WAITING,
    )
    if moved:
        logger.info("deferred message expired", extra={"message_id": message_id})
    return int(moved)


# ------------------------------------------------------------------------------------------------ usage
def record_usage(configured: list[numbers.NumberRecord], now: datetime) -> float:
    """The highest share (%) of a current window any number has used, also per window name (metric
    `WindowUsagePercent`, dimension `window`); the numbers past the alert share are logged by name. The overall
    highest (`WindowUsageMaxPercent`) feeds the template's usage alarm."""
    alert = get_settings().usage_alert_percent
    highest: dict[str, float] = {}
    for number, window, used in usage.current_usage(current_windows(configured, now)):
        share = 100.0 * used / window.limit if window.limit else 100.0
        highest[window.name] = max(highest.get(window.name, 0.0), share)
        if share >= alert:
            logger.warning(
                "a number is past the usage alert share of a window",
                extra={"number_id": number.number_id, "window": window.name, "used": used, "limit": window.limit},
            )
    for name, share in sorted(highest.items()):
        with single_metric(name="WindowUsagePercent", unit=MetricUnit.Percent, value=round(share, 1)) as metric:
            metric.add_dimension(name="window", value=name)
    return round(max(highest.values(), default=0.0), 1)


def current_windows(
    configured: list[numbers.NumberRecord], now: datetime
) -> list[tuple[numbers.NumberRecord, quota.Window]]:
    """Every window containing `now` of every number in `configured`."""
    return [(number, window) for number in configured for window in number_windows(number, now)]


def _publish(report: RunReport) -> None:
    metrics.add_metric(name="WindowUsageMaxPercent", unit="Percent", value=report.usage_max_percent)
    metrics.add_metric(name="DeferredExpired", unit="Count", value=report.expired)
    for outcome, name in (("sent", "DeferredSent"), ("failed", "DeferredFailed"), ("rejected", "DeferredRejected")):
        metrics.add_metric(name=name, unit="Count", value=report.outcomes.get(outcome, 0))
    logger.info("dispatch run", extra=report.to_dict())


# ------------------------------------------------------------------------------------------------ one message
def dispatch_deferred(record: messages.MessageRecord, now: datetime) -> Dispatched:
    """Send one deferred message, with every rule and limit checked again now; the claim (`deferred` ->
    `unknown`) is in the same transaction as the reservation, so two overlapping runs never both send it."""
    number = numbers.cached(record.number_id, get_settings().number_cache_seconds)
    if number is None:
        return _reject_deferred(record, NumberNotConfigured("The sender number is no longer configured."), now)
    if record.client_id and revoked(record.client_id):
        refusal = Unauthorized("The client key that sent this message was revoked before it could go out.")
        return _reject_deferred(record, refusal, now)
    prepared = _prepared_from_record(record, number)
    static = prepared.static_refusal()
    if static is not None:
        return _reject_deferred(record, static, now)
    held = quiet.verdict(prepared, now)
    if not held.allowed:
        return _quiet_hours(record, held, now)
    # A campaign's message is charged against the campaign's share of each window: live sends keep the rest.
    window_list = number_windows(prepared.number, now, campaign=prepared.campaign_id is not None)
    reservation = reservation_of(window_list, now)
    plan = Plan()
    plan.add(messages.claim_update(record.id, reservation, now, seen_at=record.updated_at), CLAIM)
    rules.add_checks(plan, prepared, now)
    add_charges(plan, prepared, window_list, now)
    refusals = transact(plan)
    if refusals:
        return _dispatch_refused(record, prepared, refusals, window_list, now)
    record.status, record.updated_at, record.reservation = "unknown", iso(now), reservation
    record.status_history = [*record.status_history, messages.change("unknown", now, "dispatcher", "calling Aircall")]
    record.dispatch_number = record.dispatch_rank = None
    try:
        outcome = call_aircall(prepared, record, window_list)
    except GatewayError:
        return Dispatched("failed")  # recorded on the message by the outcome
    return Dispatched("sent" if outcome.status_code == 201 else "requeued")


_key_checks: dict[str, tuple[float, bool]] = {}
KEY_CHECK_SECONDS = 60.0


def forget_key_checks() -> None:
    """Drop what this instance knows of keys' revocations (tests; a new instance knows nothing)."""
    _key_checks.clear()


def revoked(client_id: str) -> bool:
    """Whether the stored client key `client_id` was revoked (or is gone); known for a minute per instance. The
    deployment's admin key and the gateway itself have no record and are never revoked here."""
    if client_id in (ADMIN_CLIENT_ID, GATEWAY_CLIENT_ID):
        return False
    checked = _key_checks.get(client_id)
    if checked is not None and time.monotonic() - checked[0] < KEY_CHECK_SECONDS:
        return checked[1]
    record = client_keys.get(client_id)
    answer = record is None or bool(record.revoked_at)
    _key_checks[client_id] = (time.monotonic(), answer)
    return answer


def _dispatch_refused(
    record: messages.MessageRecord,
    prepared: PreparedSend,
    refusals: list[Refusal],
    window_list: list[quota.Window],
    now: datetime,
) -> Dispatched:
    by_kind = {refusal.guard.kind: refusal for refusal in refusals}
    if CLAIM.kind in by_kind:
        return Dispatched("taken")
    if rules.NUMBER_CHANGED.kind in by_kind:
        numbers.forget(record.number_id)
        return Dispatched("retry")
    rule = rules.refusal(by_kind)
    if rule is not None:
        return _reject_deferred(record, rule, now)
    full = [refusal for refusal in refusals if refusal.guard.kind == "quota"]
    budget_reopens = budget.retry_at(refusals, now)
    if full:
        error, reopens = limit_error(prepared, full, budget_reopens, window_list, now)
        if reopens is None:  # larger than a whole window (the limits were lowered since it was deferred)
            return _reject_deferred(record, error, now)
        # A campaign's message was refused at the campaigns' share of a window: it waits, the number's live
        # messages (charged against the whole window) go on.
        return Dispatched("campaign_share" if prepared.campaign_id else "window_full", reopens)
    if budget_reopens is not None:
        return Dispatched("budget", budget_reopens)
    logger.error("dispatch refused for no known reason", extra={"kinds": sorted(by_kind)})
    return Dispatched("retry")


def _quiet_hours(record: messages.MessageRecord, held: quiet_hours.Verdict, now: datetime) -> Dispatched:
    """Quiet hours at the recipient's now: a deferred message (or a scheduled one sent with `on_limit: "defer"`)
    waits for the next allowed time (it expires if its `not_after` comes first); a scheduled one sent with
    `on_limit: "reject"` ends `rejected` with `quiet_hours`."""
    assert held.next_allowed is not None
    if record.status == "scheduled" and record.on_limit != "defer":
        return _reject_deferred(record, quiet.refusal(held), now)
    if not messages.postpone(record, held.next_allowed, now, f"quiet hours until {iso(held.next_allowed)}"):
        return Dispatched("taken")
    return Dispatched("postponed", held.next_allowed)


def _prepared_from_record(record: messages.MessageRecord, number: numbers.NumberRecord) -> PreparedSend:
    """The deferred message as the send request it came from (validated when it was accepted)."""
    from aircall_sms.domain.requests import SendRequest  # pydantic: loaded by the first run that sends

    request = SendRequest.model_construct(
        sender=record.number_id,
        to=record.recipient,
        text=record.text,
        media_urls=list(record.media_urls or []),
        purpose=record.purpose or "conversational",
        on_limit="defer",
        not_after=parse_time(record.not_after),
        metadata=record.metadata,
        dry_run=False,
        human_author=record.human_author,
    )
    return PreparedSend(
        request=request,
        number=number,
        sender=sender_of(number),
        recipient=phone.parse(record.recipient),
        text=record.text,
        segmentation=segments.count(record.text or ""),
        not_after=parse_time(record.not_after) or utcnow(),
        client_id=record.client_id or ADMIN_CLIENT_ID,
        from_queue=True,
        campaign_id=record.campaign_id,
    )


def _reject_deferred(record: messages.MessageRecord, error: GatewayError, now: datetime) -> Dispatched:
    """A rule refuses the deferred message now: it ends `rejected` with the reason (nothing was reserved)."""
    moved = messages.advance(
        record.id,
        "rejected",
        at=now,
        source="dispatcher",
        detail=error.code,
        error=error.to_body()["error"],
        only_from=WAITING,
    )
    if not moved:
        return Dispatched("taken")
    metrics.add_metric(name="MessagesRejected", unit="Count", value=1)
    logger.info("deferred message refused", extra={"message_id": record.id, "code": error.code})
    return Dispatched("rejected")
