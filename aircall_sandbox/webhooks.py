"""Aircall's Webhooks API (`/v1/webhooks`, docs/aircall-reference.md §3.1): account webhooks with their events
and token, as Aircall's reference describes them.

`POST /v1/webhooks` takes `url` (HTTPS), `custom_name` and `events` (empty or omitted: every event) and answers
201 `{"webhook": {webhook_id, direct_link, created_at, url, active, events, token, custom_name}}`; at most 100 per
company. `GET`/`PUT`/`DELETE /v1/webhooks/{id}` read, edit (`?events_action=add|remove` edits the event list; a
PUT re-activates a disabled webhook) and remove one. Webhooks are account-level: every active webhook subscribed
to an event receives it, for every number in agent conversation (proxy-mode numbers never appear in webhooks).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import Any

from aircall_sandbox.errors import AircallError, invalid_payload
from aircall_sandbox.payloads import callback_url_problem

MAX_WEBHOOKS = 100
MAX_CUSTOM_NAME = 255
EVENT_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    custom_name: str
    url: str
    events: tuple[str, ...]  # empty: every event
    token: str
    active: bool
    created_at: str

    def listens_to(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "webhook_id": self.webhook_id,
            "direct_link": f"{base_url}/v1/webhooks/{self.webhook_id}",
            "created_at": self.created_at,
            "url": self.url,
            "active": self.active,
            "events": list(self.events),
            "token": self.token,
            "custom_name": self.custom_name,
        }


def new_webhook(document: dict[str, object], *, created_at: str, allow_http_loopback: bool, count: int) -> Webhook:
    """A webhook from `POST /v1/webhooks`' body (`count`: how many the company has already)."""
    if count >= MAX_WEBHOOKS:
        raise invalid_payload(f"A company can have at most {MAX_WEBHOOKS} webhooks: delete one first")
    return Webhook(
        webhook_id=str(uuid.uuid4()),
        custom_name=_custom_name(document.get("custom_name", "Webhook")),
        url=_url(document.get("url"), allow_http_loopback),
        events=_events(document.get("events", [])),
        token=secrets.token_hex(16),
        active=True,
        created_at=created_at,
    )


def edited(
    webhook: Webhook, document: dict[str, object], events_action: str | None, *, allow_http_loopback: bool
) -> Webhook:
    """`PUT /v1/webhooks/{id}`: the fields given replace the webhook's (`events_action` adds or removes the given
    events instead), and the webhook is active again."""
    if events_action not in (None, "add", "remove"):
        raise invalid_payload("'events_action' must be 'add' or 'remove'")
    changes: dict[str, Any] = {"active": True}
    if "url" in document:
        changes["url"] = _url(document["url"], allow_http_loopback)
    if "custom_name" in document:
        changes["custom_name"] = _custom_name(document["custom_name"])
    if "events" in document:
        given = _events(document["events"])
        if events_action == "add":
            given = webhook.events + tuple(event for event in given if event not in webhook.events)
        elif events_action == "remove":
            given = tuple(event for event in webhook.events if event not in given)
        changes["events"] = given
    return replace(webhook, **changes)


def webhook_not_found(webhook_id: str) -> AircallError:
    return AircallError(404, "NotFound", f"Webhook {webhook_id} not found")


def _url(value: object, allow_http_loopback: bool) -> str:
    if not isinstance(value, str):
        raise invalid_payload("'url' is required: the https:// URL Aircall posts the events to")
    problem = callback_url_problem(value, allow_http_loopback=allow_http_loopback)
    if problem is not None:
        raise invalid_payload(f"'url' {problem}")
    return value


def _custom_name(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CUSTOM_NAME:
        raise invalid_payload(f"'custom_name' must be a string of 1-{MAX_CUSTOM_NAME} characters")
    return value


def _events(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(event, str) and EVENT_NAME.match(event) for event in value):
        raise invalid_payload("'events' must be a list of event names such as 'message.received'")
    return tuple(dict.fromkeys(value))
