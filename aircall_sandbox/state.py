"""Everything the sandbox remembers, and the operations of the Aircall it imitates, under one lock.

Numbers, their proxy configurations, messages, per-number segment usage (Aircall's windows, and what carriers
let through from toll-free numbers awaiting verification), the company request budget, the request log,
injected faults, scheduled delivery failures and the account webhook. Status steps and callback deliveries
are handed to the `CallbackDispatcher`, and posted outside the lock.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import phonenumbers

from aircall_sandbox.callbacks import (
    WEBHOOK_ENVELOPE,
    CallbackDispatcher,
    CallbackTarget,
    Delivery,
    Happening,
    build_delivery,
    event_name,
    proxy_envelope,
)
from aircall_sandbox.clock import SandboxClock, iso_utc, render_time
from aircall_sandbox.config import SandboxConfig
from aircall_sandbox.errors import AircallError, ControlError, invalid_payload, number_not_found
from aircall_sandbox.faults import Fault
from aircall_sandbox.limits import (
    TOLL_FREE_WINDOWS,
    WINDOWS,
    BudgetReading,
    RequestBudget,
    SegmentUsage,
    Window,
    window_key,
    window_reset,
)
from aircall_sandbox.messages import CarrierOutcome, EventShape, Message, Route, new_message_id
from aircall_sandbox.numbers import AircallNumber, NumberDefinitionError
from aircall_sandbox.payloads import (
    E164,
    MAX_FRENCH_BODY_CHARACTERS,
    parse_callback_url,
    parse_json_object,
    parse_send,
)
from aircall_sandbox.webhooks import Webhook, edited, new_webhook, webhook_not_found
from aircall_sms.domain.segments import count as count_segments


@dataclass(frozen=True)
class NumberConfiguration:
    token: str
    callback_url: str | None

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "callbackUrl": self.callback_url, "type": "Public Api"}


@dataclass(frozen=True)
class AccountWebhook:
    url: str
    token: str


class SandboxState:
    def __init__(
        self,
        config: SandboxConfig,
        lock: threading.RLock,
        clock: SandboxClock,
        dispatcher: CallbackDispatcher,
        initial_numbers: list[AircallNumber],
    ) -> None:
        self._config = config
        self._lock = lock
        self._clock = clock
        self._dispatcher = dispatcher
        self._initial_numbers = {number.id: number for number in initial_numbers}
        if len(self._initial_numbers) != len(initial_numbers):
            raise NumberDefinitionError("number ids must be unique across the seed and the numbers file")
        self._proxy_envelope = proxy_envelope(config)
        self._event_shape = EventShape(
            contact_style=config.contact_style,
            data_timestamps=config.data_timestamps,
            inbound_media=config.inbound_media,
        )
        self._clear()

    def _clear(self) -> None:
        self._numbers: dict[int, AircallNumber] = dict(self._initial_numbers)
        self._configurations: dict[int, NumberConfiguration] = {}
        self._messages: dict[str, Message] = {}
        self._usage = SegmentUsage(WINDOWS)
        self._toll_free_usage = SegmentUsage(TOLL_FREE_WINDOWS)  # what carriers let through, to the US
        self._toll_free_filtered: dict[int, int] = {}
        self._budget = RequestBudget(self._config.requests_per_minute)
        self._requests: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._failures_next = 0
        self._failures_to: dict[str, int] = {}
        self._webhook: AccountWebhook | None = None
        self._webhooks: dict[str, Webhook] = {}

    def reset(self) -> None:
        """Back to the initial state: seed (and file) numbers only, nothing configured, sent or counted."""
        with self._lock:
            self._clear()
            self._clock.reset()
            self._dispatcher.clear()

    # Numbers

    def numbers(self) -> list[AircallNumber]:
        with self._lock:
            return sorted(self._numbers.values(), key=lambda number: number.id)

    def number(self, number_id: int) -> AircallNumber:
        with self._lock:
            number = self._numbers.get(number_id)
        if number is None:
            raise number_not_found(number_id)
        return number

    def add_numbers(self, numbers: list[AircallNumber]) -> None:
        with self._lock:
            ids = [number.id for number in numbers]
            clashes = sorted({number_id for number_id in ids if number_id in self._numbers or ids.count(number_id) > 1})
            if clashes:
                raise ControlError(f"number ids already in use or repeated: {clashes}", 409)
            self._numbers.update({number.id: number for number in numbers})

    def set_toll_free_verification(self, number_id: int, verification: object) -> AircallNumber:
        with self._lock:
            number = self._numbers.get(number_id)
            if number is None:
                raise ControlError(f"unknown number_id {number_id}", 404)
            try:
                updated = number.with_verification(verification)
            except NumberDefinitionError as exc:
                raise ControlError(str(exc)) from None
            self._numbers[number_id] = updated
            return updated

    # Proxy-mode configuration

    def configure(self, number_id: int, raw_body: bytes) -> NumberConfiguration:
        with self._lock:
            number = self.number(number_id)
            if not number.sms_enabled:
                raise _not_sms_enabled(number)
            callback_url = parse_callback_url(
                parse_json_object(raw_body, allow_empty=True),
                allow_http_loopback=self._config.allow_http_loopback_callbacks,
            )
            existing = self._configurations.get(number_id)
            token = existing.token if existing else secrets.token_hex(16)
            configuration = NumberConfiguration(token=token, callback_url=callback_url)
            self._configurations[number_id] = configuration
            return configuration

    def configuration(self, number_id: int) -> NumberConfiguration:
        with self._lock:
            self.number(number_id)
            configuration = self._configurations.get(number_id)
        if configuration is None:
            raise AircallError(404, "NotFound", f"Number {number_id} has no messaging configuration")
        return configuration

    def delete_configuration(self, number_id: int) -> None:
        with self._lock:
            self.configuration(number_id)
            del self._configurations[number_id]

    # Sending

    def send(self, number_id: int, route: Route, raw_body: bytes, base_url: str) -> dict[str, Any]:
        """Accept a send and answer Aircall's message object (a snapshot: the worker moves the status on)."""
        with self._lock:
            number = self.number(number_id)
            configured = number_id in self._configurations
            if route == "proxy" and not configured:
                raise AircallError(
                    403,
                    "LineIsNotNativeException",
                    f"Line {number_id} is not configured for the messaging API: "
                    "POST /v1/numbers/{id}/messages/configuration first, or use /messages/native/send",
                )
            if route == "native" and configured:
                raise AircallError(
                    403,
                    "LineIsNotNativeException",
                    f"Line {number_id} is configured for the messaging API: use /messages/send, "
                    "or DELETE its configuration to send in agent conversations",
                )
            request = parse_send(parse_json_object(raw_body))
            if not number.sms_enabled:
                raise _not_sms_enabled(number)
            if request.media_urls and not number.mms_enabled:
                raise invalid_payload(f"Line {number_id} cannot send MMS: send text only")
            if request.to == number.e164:
                raise AircallError(400, "SameDestinationAsSender", "Cannot send a message to the sending number")
            too_long_for_france = len(request.body) > MAX_FRENCH_BODY_CHARACTERS
            if self._config.french_length_limit and number.country == "FR" and too_long_for_france:
                raise invalid_payload(
                    f"'body' must be at most {MAX_FRENCH_BODY_CHARACTERS} characters on French numbers, "
                    f"got {len(request.body)}"
                )
            segmentation = count_segments(request.body)
            # An MMS without text still costs one message.
            segments = max(segmentation.segments, 1)
            moment = self._clock.now_datetime()
            limits = self._config.segment_limits.for_kind(number.kind).as_dict()
            breached = self._usage.first_breach(number_id, limits, segments, moment)
            if breached is not None:
                raise AircallError(
                    403,
                    "ForbiddenException",
                    f"Forbidden Exception: the line exceeded number of messages limit for the current {breached} (UTC)",
                )
            self._usage.add(number_id, segments, moment)
            carrier_outcome = self._carrier_outcome(number, request.to, segments, moment)
            now_ms = int(moment.timestamp() * 1000)
            message_id = new_message_id()
            message = Message(
                id=message_id,
                route=route,
                direction="outbound",
                status="pending",
                body=request.body,
                external_number=request.to,
                direct_link=f"{base_url}/v1/numbers/{number_id}/messages/{message_id}",
                number=number.to_json(base_url),
                event_number=number.event_json(base_url),
                created_at=now_ms,
                updated_at=now_ms,
                sent_at=now_ms,
                media_url=request.media_urls,
                segments=segments,
                encoding=segmentation.encoding,
                agent_id=request.agent_id if route == "native" else None,
                scheduled_failure=self._take_failure(request.to),
                carrier_outcome=carrier_outcome,
                status_history=[{"status": "pending", "at": now_ms}],
            )
            message.steps = self._status_steps(message.fails)
            self._messages[message_id] = message
            self._dispatcher.schedule(self._step_delay_s, partial(self._advance, message_id))
            return message.send_answer(with_contact=self._config.send_response_contact)

    def _carrier_outcome(
        self, number: AircallNumber, to: str, segments: int, moment: datetime
    ) -> CarrierOutcome | None:
        """What carriers do with a send from a US/CA toll-free number that is not verified: blocked (every
        send of an unverified number; sends to Canada of one awaiting verification) or filtered (sends to the
        US past the reduced limits of one awaiting verification). Filtered messages do not count."""
        if not number.toll_free or number.toll_free_verification == "verified":
            return None
        if number.toll_free_verification == "unverified":
            return "blocked"
        region = _region(to)
        if region == "CA":
            return "blocked"
        if region != "US":
            return None
        limits = self._config.toll_free_pending_limits.as_dict()
        if self._toll_free_usage.first_breach(number.id, limits, segments, moment) is not None:
            self._toll_free_filtered[number.id] = self._toll_free_filtered.get(number.id, 0) + 1
            return "filtered"
        self._toll_free_usage.add(number.id, segments, moment)
        return None

    def _status_steps(self, fails: bool) -> list[str]:
        """The status words a sent message goes through after `pending`, in the configured vocabulary."""
        final = "failed" if fails else "delivered"
        match self._config.status_words:
            case "standard":
                return ["sent", final]
            case "unknown_extra":
                return ["sent", self._unknown_word(), final]
            case "unknown_final":
                return ["sent", self._unknown_word()]

    def _unknown_word(self) -> str:
        # A fresh word per message unless one is configured: a word no receiver can have seen before.
        return self._config.unknown_status_word or f"status_{secrets.token_hex(4)}"

    @property
    def _step_delay_s(self) -> float:
        return self._config.callback_delay_ms / 1000

    def _take_failure(self, to: str) -> bool:
        if self._failures_to.get(to, 0) > 0:
            self._failures_to[to] -= 1
            return True
        if self._failures_next > 0:
            self._failures_next -= 1
            return True
        return False

    def _advance(self, message_id: str) -> None:
        """One status step (e.g. pending -> sent -> delivered | failed), announced to the message's target."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is None or not message.steps:
                return
            status = message.steps.pop(0)
            message.move_to(status, self._clock.now_ms())
            happening: Happening = "sent" if status == "sent" else "status"
            if message.steps:
                self._dispatcher.schedule(self._step_delay_s, partial(self._advance, message_id))
            deliveries = self._deliveries_for(message, happening)
        for delivery in deliveries:
            self._dispatcher.deliver(delivery)

    def _targets_for(self, message: Message, happening: Happening) -> list[CallbackTarget]:
        """A proxy number's callback URL; for a number in agent conversation, every account webhook that listens
        to the event (the control's webhook listens to all)."""
        if message.route == "proxy":
            configuration = self._configurations.get(message.number_id)
            if configuration is None or configuration.callback_url is None:
                return []
            return [CallbackTarget("callback", configuration.callback_url, configuration.token, self._proxy_envelope)]
        # Account webhooks always speak the webhook envelope.
        targets = (
            [CallbackTarget("webhook", self._webhook.url, self._webhook.token, WEBHOOK_ENVELOPE)]
            if self._webhook
            else []
        )
        for webhook in self._webhooks.values():
            target = CallbackTarget("webhook", webhook.url, webhook.token, WEBHOOK_ENVELOPE)
            if webhook.listens_to(event_name(target, happening)):
                targets.append(target)
        return targets

    def _deliveries_for(self, message: Message, happening: Happening) -> list[Delivery]:
        data = message.event_data(self._event_shape)
        now_ms = self._clock.now_ms()
        return [build_delivery(target, happening, data, now_ms) for target in self._targets_for(message, happening)]

    # Inbound (control)

    def receive(
        self, number_id: int, sender: str, body: str, media_details: list[dict[str, Any]], base_url: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An inbound message from `sender`, posted (synchronously) to the number's callback or the webhook.
        Answers the message as Aircall posts it (the event's `data`) and the delivery attempt."""
        with self._lock:
            number = self._numbers.get(number_id)
            if number is None:
                raise ControlError(f"unknown number_id {number_id}", 404)
            if not number.sms_enabled:
                raise ControlError(f"number {number_id} is not SMS-enabled")
            if not E164.match(sender):
                raise ControlError("'from' must be a phone number in E.164 format")
            now_ms = self._clock.now_ms()
            message_id = new_message_id()
            message = Message(
                id=message_id,
                route="proxy" if number_id in self._configurations else "native",
                direction="inbound",
                status="received",
                body=body,
                external_number=sender,
                direct_link=f"{base_url}/v1/numbers/{number_id}/messages/{message_id}",
                number=number.to_json(base_url),
                event_number=number.event_json(base_url),
                created_at=now_ms,
                updated_at=now_ms,
                sent_at=None,
                media_details=tuple(media_details),
                status_history=[{"status": "received", "at": now_ms}],
            )
            self._messages[message_id] = message
            snapshot = message.event_data(self._event_shape)
            deliveries = self._deliveries_for(message, "received")
        attempts = [self._dispatcher.deliver(delivery) for delivery in deliveries]
        return snapshot, (attempts[0] if attempts else None)

    # Controls: failures, faults, webhook

    def schedule_failures(self, *, to: str | None, next_count: int) -> dict[str, Any]:
        with self._lock:
            if to is not None:
                self._failures_to[to] = self._failures_to.get(to, 0) + next_count
            else:
                self._failures_next += next_count
            return self.failures()

    def failures(self) -> dict[str, Any]:
        with self._lock:
            return {"next": self._failures_next, "to": {to: n for to, n in self._failures_to.items() if n > 0}}

    def clear_failures(self) -> None:
        with self._lock:
            self._failures_next = 0
            self._failures_to.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, with one use spent."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def set_webhook(self, url: str, token: str) -> AccountWebhook:
        with self._lock:
            self._webhook = AccountWebhook(url=url, token=token)
            return self._webhook

    def delete_webhook(self) -> None:
        with self._lock:
            self._webhook = None

    # Account webhooks (the Webhooks API)

    def create_webhook(self, raw_body: bytes) -> Webhook:
        with self._lock:
            created_at = render_time(self._clock.now_ms(), "iso8601")
            webhook = new_webhook(
                parse_json_object(raw_body),
                created_at=str(created_at),
                allow_http_loopback=self._config.allow_http_loopback_callbacks,
                count=len(self._webhooks),
            )
            self._webhooks[webhook.webhook_id] = webhook
            return webhook

    def webhooks(self) -> list[Webhook]:
        with self._lock:
            return list(self._webhooks.values())

    def webhook(self, webhook_id: str) -> Webhook:
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise webhook_not_found(webhook_id)
        return webhook

    def edit_webhook(self, webhook_id: str, raw_body: bytes, events_action: str | None) -> Webhook:
        with self._lock:
            webhook = edited(
                self.webhook(webhook_id),
                parse_json_object(raw_body, allow_empty=True),
                events_action,
                allow_http_loopback=self._config.allow_http_loopback_callbacks,
            )
            self._webhooks[webhook_id] = webhook
            return webhook

    def remove_webhook(self, webhook_id: str) -> None:
        with self._lock:
            self.webhook(webhook_id)
            del self._webhooks[webhook_id]

    # Company budget and the request log

    def admit_request(self) -> BudgetReading:
        with self._lock:
            return self._budget.admit(self._clock.now())

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append({"seq": len(self._requests) + 1, **entry})

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def message_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [message.control_json() for message in self._messages.values()]

    def usage(self) -> dict[str, Any]:
        """Per-number segment usage in the current windows, and the company budget."""
        with self._lock:
            moment = self._clock.now_datetime()
            budget = self._budget.read(moment.timestamp())
            numbers = []
            for number in self.numbers():
                limits = self._config.segment_limits.for_kind(number.kind).as_dict()
                used = self._usage.used(number.id, moment)
                numbers.append(
                    {
                        "number_id": number.id,
                        "e164": number.e164,
                        "kind": number.kind,
                        "configured": number.id in self._configurations,
                        "limits": limits,
                        "used": used,
                        "remaining": _remaining(limits, used),
                        "windows": {window: window_key(window, moment) for window in WINDOWS},
                        "resets_at": {window: iso_utc(window_reset(window, moment)) for window in WINDOWS},
                        "toll_free": self._toll_free_usage_json(number, moment),
                    }
                )
            return {
                "now": iso_utc(moment),
                "company": {
                    "limit": budget.limit,
                    "used": budget.limit - budget.remaining,
                    "remaining": budget.remaining,
                    "reset": budget.reset,
                },
                "numbers": numbers,
            }

    def _toll_free_usage_json(self, number: AircallNumber, moment: datetime) -> dict[str, Any] | None:
        """A toll-free number's verification and what carriers let through while it awaits verification."""
        if not number.toll_free:
            return None
        limits = self._config.toll_free_pending_limits.as_dict()
        used = self._toll_free_usage.used(number.id, moment)
        return {
            "verification": number.toll_free_verification,
            "pending_limits": limits,
            "used": used,
            "remaining": _remaining(limits, used),
            "filtered": self._toll_free_filtered.get(number.id, 0),
            "windows": {window: window_key(window, moment) for window in TOLL_FREE_WINDOWS},
            "resets_at": {window: iso_utc(window_reset(window, moment)) for window in TOLL_FREE_WINDOWS},
        }


def _region(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None


def _remaining(limits: dict[str, int], used: dict[Window, int]) -> dict[Window, int]:
    return {window: max(limits[window] - count, 0) for window, count in used.items()}


def _not_sms_enabled(number: AircallNumber) -> AircallError:
    return AircallError(403, "ForbiddenException", f"Forbidden Exception: line {number.id} is not enabled for SMS")
