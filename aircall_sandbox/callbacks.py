"""Posting `message.*` events to callback URLs and webhooks, from one background worker thread.

The worker runs scheduled jobs (status steps, webhook retries) in due order, one at a time, so a message's
status steps leave in the order they happened; a retried webhook may arrive after a later event (webhooks
are unordered, as the reference says). Each delivery attempt is recorded with its HTTP outcome.
Envelopes, as the reference documents them (`Envelope`):

- style "webhook":  {"resource", "event", "timestamp": <UNIX seconds>, "token", "data"}; status events are
  `message.status_updated`; failed attempts are retried (up to `retries` times, backing off from the delay).
- style "callback": {"resource", "event_name", "timestamp": <epoch ms>, "token", "data"}; status events are
  named `message.updated`; never retried (proxy callbacks are not retried per the reference).

Proxy callbacks take the configured style with the `callback_*` overrides applied (event key, status event
name, `resource` present or not, timestamp unit); account webhooks always speak the webhook envelope.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from aircall_sandbox.clock import SandboxClock, render_time
from aircall_sandbox.config import CallbackStyle, EventKey, SandboxConfig, StatusEvent, TimestampUnit

logger = logging.getLogger(__name__)

# What happened to a message, in the webhook vocabulary.
Happening = Literal["received", "sent", "status"]
# Where the event goes: a proxy number's configured callbackUrl, or the account webhook (native numbers).
TargetKind = Literal["callback", "webhook"]


@dataclass(frozen=True)
class Envelope:
    """How an event is wrapped around the message object."""

    style: CallbackStyle  # the preset it started from (recorded with each attempt)
    event_key: EventKey
    status_event: StatusEvent
    resource: bool
    timestamp: TimestampUnit
    retried: bool


WEBHOOK_ENVELOPE = Envelope("webhook", "event", "message.status_updated", True, "seconds", retried=True)
CALLBACK_ENVELOPE = Envelope("callback", "event_name", "message.updated", True, "milliseconds", retried=False)


def proxy_envelope(config: SandboxConfig) -> Envelope:
    """The envelope of proxy callbacks: the `callback_style` preset with the `callback_*` overrides applied."""
    preset = WEBHOOK_ENVELOPE if config.callback_style == "webhook" else CALLBACK_ENVELOPE
    return Envelope(
        style=preset.style,
        event_key=config.callback_event_key or preset.event_key,
        status_event=config.callback_status_event or preset.status_event,
        resource=preset.resource if config.callback_resource is None else config.callback_resource == "include",
        timestamp=config.callback_timestamp or preset.timestamp,
        retried=preset.retried,
    )


@dataclass(frozen=True)
class CallbackTarget:
    kind: TargetKind
    url: str
    token: str
    envelope: Envelope


@dataclass(frozen=True)
class Delivery:
    target: CallbackTarget
    message_id: str
    event: str
    payload: dict[str, Any]


def event_name(target: CallbackTarget, happening: Happening) -> str:
    if happening == "received":
        return "message.received"
    # Account webhooks announce an agent-conversation message leaving as `message.sent`.
    if happening == "sent" and target.kind == "webhook":
        return "message.sent"
    return target.envelope.status_event


def build_delivery(target: CallbackTarget, happening: Happening, message: dict[str, Any], now_ms: int) -> Delivery:
    event = event_name(target, happening)
    envelope = target.envelope
    payload: dict[str, Any] = {"resource": "message"} if envelope.resource else {}
    payload |= {
        envelope.event_key: event,
        "timestamp": render_time(now_ms, envelope.timestamp),
        "token": target.token,
        "data": message,
    }
    return Delivery(target=target, message_id=str(message["id"]), event=event, payload=payload)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once per process: loading the CA bundle is the slow part of creating an httpx client."""
    return ssl.create_default_context()


@dataclass(order=True)
class _Job:
    due: float  # time.monotonic()
    seq: int
    run: Callable[[], None] = field(compare=False)


class CallbackDispatcher:
    """Schedules jobs on one daemon worker and delivers events; shares the sandbox's one lock."""

    def __init__(
        self,
        lock: threading.RLock,
        clock: SandboxClock,
        *,
        timeout_s: float,
        retries: int,
        retry_delay_s: float,
    ) -> None:
        self._condition = threading.Condition(lock)
        self._clock = clock
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        self._timeout_s = timeout_s
        self._http: httpx.Client | None = None
        self._jobs: list[_Job] = []
        self._seq = itertools.count()
        self._generation = 0
        self._busy = False
        self._stopped = False
        self._worker: threading.Thread | None = None
        self._attempts: list[dict[str, Any]] = []

    def schedule(self, delay_s: float, run: Callable[[], None]) -> None:
        with self._condition:
            if self._stopped:
                return
            heapq.heappush(self._jobs, _Job(time.monotonic() + delay_s, next(self._seq), run))
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="aircall-sandbox-callbacks", daemon=True)
                self._worker.start()
            self._condition.notify_all()

    def deliver(self, delivery: Delivery, attempt: int = 1) -> dict[str, Any]:
        """Post one attempt now (in the caller's thread), record it, and schedule a retry where the style allows."""
        with self._condition:
            generation = self._generation
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            response = self._client().post(delivery.target.url, json=delivery.payload)
            status_code = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ok = status_code is not None and 200 <= status_code < 300
        record: dict[str, Any] = {
            "message_id": delivery.message_id,
            "event": delivery.event,
            "target": delivery.target.kind,
            "style": delivery.target.envelope.style,
            "url": delivery.target.url,
            "attempt": attempt,
            "ok": ok,
            "status_code": status_code,
            "error": error,
            "at": self._clock.now_ms(),
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "payload": delivery.payload,
        }
        with self._condition:
            if generation != self._generation:  # the sandbox was reset while this attempt was in flight
                return record
            record["id"] = len(self._attempts) + 1
            self._attempts.append(record)
        if not ok and delivery.target.envelope.retried and attempt <= self._retries:
            backoff = self._retry_delay_s * 2 ** (attempt - 1)
            self.schedule(backoff, lambda: self._retry(delivery, attempt + 1))
        return record

    def _client(self) -> httpx.Client:
        with self._condition:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self._timeout_s,
                    verify=_tls_context(),
                    headers={"User-Agent": "aircall-sandbox", "Aircall-Origin": "webhooks"},
                )
            return self._http

    def _retry(self, delivery: Delivery, attempt: int) -> None:
        self.deliver(delivery, attempt)

    def attempts(self) -> list[dict[str, Any]]:
        with self._condition:
            return list(self._attempts)

    def pending(self) -> int:
        with self._condition:
            return len(self._jobs) + int(self._busy)

    def drain(self, timeout_s: float) -> bool:
        """Wait until no job is queued or running; False if `timeout_s` ran out first."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._jobs and not self._busy, timeout=timeout_s)

    def clear(self) -> None:
        """Drop queued jobs and recorded attempts; an attempt in flight is not recorded."""
        with self._condition:
            self._jobs.clear()
            self._attempts.clear()
            self._generation += 1
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._stopped = True
            self._jobs.clear()
            self._condition.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout=10)
        if self._http is not None:
            self._http.close()

    def _work(self) -> None:
        while True:
            with self._condition:
                job = self._next_due_job()
                if job is None:
                    return
                self._busy = True
            try:
                job.run()
            except Exception:
                logger.exception("callback job failed")
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def _next_due_job(self) -> _Job | None:
        """Block (under the lock) until a job is due; None once stopped."""
        while not self._stopped:
            if not self._jobs:
                self._condition.wait()
                continue
            wait_s = self._jobs[0].due - time.monotonic()
            if wait_s > 0:
                self._condition.wait(wait_s)
                continue
            return heapq.heappop(self._jobs)
        return None
