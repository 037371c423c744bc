"""Events out: what one change of the archive or of the contacts publishes on the gateway's event bus.

    change                                   detail type              detail
    a message archived, direction "inbound"  message.received         {"message"}
    ... and its keyword is HELP              contact.help_requested   {"contact", "number_id", "message_id", "at"}
    a message archived, direction "outbound" message.status_changed   {"previous_status": null, "message"}
    a message whose `status` changed         message.status_changed   {"previous_status", "message"}
    an opt-out recorded                      contact.opted_out        {"contact", "number_id", "at", "source",
                                                                       "detail"}
    an opt-out removed                       contact.opted_in         the same fields, `at` the removal's

`message` is the contract's Message object; `number_id` of an opt-out is null when it covers every number.
Nothing else publishes anything: a change that leaves the status alone, a message that expired or was erased,
consents, conversations. Reading the changes out of DynamoDB's stream records is `store.streams`.
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
DETAIL_TYPES = (MESSAGE_RECEIVED, MESSAGE_STATUS_CHANGED, CONTACT_OPTED_OUT, CONTACT_OPTED_IN, CONTACT_HELP_REQUESTED)

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
    }
    return [(detail_type, detail)]


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
