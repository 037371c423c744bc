"""The account webhook of agent mode: Aircall reports the messages of a number in agent conversation through its
account webhooks (`message.sent`, `message.status_updated`, `message.received`), never the proxy callback
(docs/aircall-reference.md §2.0, §3.1). The gateway registers one webhook for those events, pointed at its
callback URL, when the first number goes to agent mode, and removes it when the last one leaves.

Aircall puts the webhook's token in every event's body: the gateway keeps its SHA-256 digest on the webhook's
record and on every agent-mode number, so the callback route authenticates an agent-mode number's events exactly
as a proxy number's. Webhooks are account-level (they fire for every number of the company): an event with the
webhook's token about a number not in agent mode here is acknowledged and ignored (`use_cases.callbacks`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from aircall_sms.clients.aircall import (
    AircallClient,
    AircallFailure,
    AircallRateLimited,
    AircallRefused,
    Webhook,
    count_failure,
    gateway_error,
)
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.observability import logger
from aircall_sms.store import budget, numbers
from aircall_sms.use_cases import budget as aircall_budget
from aircall_sms.use_cases import services

MESSAGE_EVENTS = ("message.sent", "message.status_updated", "message.received")
CUSTOM_NAME = "aircall-sms-gateway (agent-mode numbers)"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure(client: AircallClient, callback_url: str) -> numbers.WebhookRecord:
    """The webhook agent-mode numbers report through, registered now if there is none (or Aircall lost it, or the
    callback URL changed), re-activated if Aircall disabled it after failed deliveries."""
    stored = numbers.get_webhook()
    if stored is not None and stored.url == callback_url:
        found = _existing(client, stored.webhook_id)
        if found is not None:
            if not found.active:
                webhook_id = found.webhook_id
                found = _call(client, lambda: client.reactivate_webhook(webhook_id))
                logger.warning("the agent-mode webhook was disabled by Aircall: re-activated")
            if digest(found.token) != stored.token_sha256:
                stored = numbers.save_webhook(stored.webhook_id, digest(found.token), stored.url, stored.created_at)
                _repoint(stored.token_sha256)
            return stored
    created = _call(client, lambda: client.create_webhook(callback_url, MESSAGE_EVENTS, CUSTOM_NAME))
    record = numbers.save_webhook(created.webhook_id, digest(created.token), callback_url, iso(utcnow()))
    if stored is not None and stored.webhook_id != created.webhook_id:
        _delete_in_aircall(client, stored.webhook_id)  # the one for the old callback URL
    _repoint(record.token_sha256)
    logger.info("agent-mode webhook registered with Aircall")
    return record


def release(leaving: str) -> None:
    """Remove the webhook when number `leaving` was the last agent-mode number (nothing is left to report)."""
    if any(record.mode == "agent" and record.number_id != leaving for record in numbers.list_all()):
        return
    stored = numbers.get_webhook()
    if stored is None:
        return
    _delete_in_aircall(services.aircall(), stored.webhook_id)
    numbers.delete_webhook()
    logger.info("agent-mode webhook removed from Aircall: no agent-mode number is left")


def _existing(client: AircallClient, webhook_id: str) -> Webhook | None:
    try:
        return _call(client, lambda: client.get_webhook(webhook_id), missing_ok=True)
    except _Missing:
        return None


def _delete_in_aircall(client: AircallClient, webhook_id: str) -> None:
    try:
        _call(client, lambda: client.delete_webhook(webhook_id), missing_ok=True)
    except _Missing:  # already gone in Aircall
        return


def _repoint(token_sha256: str) -> None:
    """Every agent-mode number authenticates its events with the webhook's token."""
    for record in numbers.list_all():
        if record.mode == "agent" and record.callback_token_sha256 != token_sha256:
            record.update(actions=[numbers.NumberRecord.callback_token_sha256.set(token_sha256)])
            numbers.forget(record.number_id)


class _Missing(Exception):
    """Aircall answered 404."""


def _call[Answer](client: AircallClient, request: Callable[[], Answer], *, missing_ok: bool = False) -> Answer:
    """One Aircall request within the company budget; its failure as the contract's error."""
    try:
        budget.charge(utcnow())
        answer = request()
    except AircallRefused as refusal:
        if missing_ok and refusal.status == 404:
            aircall_budget.learn(refusal.rate, utcnow())
            raise _Missing from None
        raise _failed(refusal) from None
    except AircallFailure as failure:
        raise _failed(failure) from None
    aircall_budget.learn(client.last_rate, utcnow())
    return answer


def _failed(failure: AircallFailure) -> Exception:
    count_failure(failure)
    aircall_budget.learn(failure.rate, utcnow(), limited=isinstance(failure, AircallRateLimited))
    return gateway_error(failure)
