"""Events out: what one change of the archive or of the contacts publishes on the gateway's event bus.

    change                                   detail type              detail
    a message archived, direction "inbound"  message.received         {"message"}
    ... and its keyword is HELP              contact.help_requested   {"contact", "number_id", "message_id", "at"}
    a message archived, direction "outbound" message.status_changed   {"previous_status": null, "message"}
    a message whose `status` changed         message.status_changed   {"previous_status", "message"}
    an opt-out recorded                      contact.opted_out        {"contact", "number_id", "at", "source",
                                                                       "detail", "client_id"}
    an opt-out removed                       contact.opted_in         the same fields, `at` the removal's,
                                                                       `client_id` the remover's (null: a START)
    a consent recorded (or its evidence      contact.consent_recorded {"contact", "number_id", "purpose",
    replaced)                                                          "source", "captured_at", "client_id"}
    a consent withdrawn                      contact.consent_withdrawn the same fields, `client_id` the withdrawer's
    a contact erased (published at once by   contact.erased           {"erasure_id", "client_id", "at",
    the erasure, not from a stream)                                    "number_ids", "complete", "erased"}

`message` is the contract's Message object (its `client_id` names the key that sent it); `number_id` of an opt-out
or a consent is null when it covers every number. Nothing else publishes anything: a change that leaves the
status alone, a message that expired or was erased, conversations. Reading the changes out of DynamoDB's stream
records is `store.streams`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

SOURCE = "aircall-sms"
MESSAGE_RECEIVED = "message.received"
MESSAGE_STATUS_CHANGED = "message.status_changed"
CONTACT_OPTED_OUT = "contact.opted_out"
CONTACT_OPTED_IN = "contact.opted_in"
CONTACT_HELP_REQUESTED = "contact.help_requested"
CONTACT_CONSENT_RECORDED = "contact.consent_recorded"
CONTACT_CONSENT_WITHDRAWN = "contact.consent_withdrawn"
CONTACT_ERASED = "contact.erased"
DETAIL_TYPES = (
    MESSAGE_RECEIVED,
    MESSAGE_STATUS_CHANGED,
    CONTACT_OPTED_OUT,
    CONTACT_OPTED_IN,
    CONTACT_HELP_REQUESTED,
    CONTACT_CONSENT_RECORDED,
    CONTACT_CONSENT_WITHDRAWN,
    CONTACT_ERASED,
)

Change = Literal["created", "modified", "removed"]
Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OptOutChange:
    """An opt-out recorded (`created`) or removed (`removed`): who, of which number (None: every number), when."""

    change: Change
    contact: str | None
    number_id: str | None
    at: str | None
    source: str | None
    detail: str | None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """A consent of one scope recorded (or its evidence replaced) or withdrawn, and the client key that did it."""

    recorded: bool
    contact: str
    number_id: str | None
    purpose: str
    source: str | None
    captured_at: str | None
    client_id: str | None


def message_events(change: Change, message: dict[str, Any] | None, previous_status: str | None) -> list[Event]:
    """The events of one change of a message (`message`: the Message object after it)."""
    if message is None or change == "removed":
        return []  # the archive's TTL, or an erasure: neither is news for the customer's systems
    if change == "created":
        if message["direction"] == "inbound":
            found: list[Event] = [(MESSAGE_RECEIVED, {"message": message})]
            if message.get("keyword") == "help":
                help_requested = {
                    "contact": message["from"],
                    "number_id": message["number_id"],
                    "message_id": message["id"],
                    "at": message["created_at"],
                }
                found.append((CONTACT_HELP_REQUESTED, help_requested))
            return found
        return [(MESSAGE_STATUS_CHANGED, {"previous_status": None, "message": message})]
    if previous_status == message["status"]:
        return []
    return [(MESSAGE_STATUS_CHANGED, {"previous_status": previous_status, "message": message})]


def opt_out_events(change: OptOutChange) -> list[Event]:
    if change.change == "modified":
        return []
    detail_type = CONTACT_OPTED_OUT if change.change == "created" else CONTACT_OPTED_IN
    detail = {
        "contact": change.contact,
        "number_id": change.number_id,
        "at": change.at,
        "source": change.source,
        "detail": change.detail,
        "client_id": change.client_id,
    }
    return [(detail_type, detail)]


def consent_events(changes: list[ConsentChange]) -> list[Event]:
    return [
        (
            CONTACT_CONSENT_RECORDED if change.recorded else CONTACT_CONSENT_WITHDRAWN,
            {
                "contact": change.contact,
                "number_id": change.number_id,
                "purpose": change.purpose,
                "source": change.source,
                "captured_at": change.captured_at,
                "client_id": change.client_id,
            },
        )
        for change in changes
    ]


def erasure_event(erasure: dict[str, Any]) -> Event:
    """`contact.erased`: who erased, when, how much (never the contact: an erasure must not keep it)."""
    return (CONTACT_ERASED, dict(erasure))


def entry(event: Event, *, bus: str, at: datetime) -> dict[str, Any]:
    """The PutEvents entry of one event, dated `at` (when the change was written)."""
    detail_type, detail = event
    return {
        "Source": SOURCE,
        "EventBusName": bus,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
        "Time": at,
    }
