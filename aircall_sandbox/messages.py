"""Messages the sandbox has sent or received, and their JSON in Aircall's Message-object shape.

One message renders three ways:
- `send_answer`: what a send answers (Aircall's object at the top level: no `to`, no `external_number`, unless
  the compatibility switch asks for them);
- `event_data`: the `data` of a callback or webhook, in the configured variant (contact fields, timestamp unit,
  inbound media field names);
- `control_json`: `GET /_sandbox/messages`: every contact field, epoch-ms timestamps and the `sandbox` block.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from aircall_sandbox.clock import render_time
from aircall_sandbox.config import ContactStyle, InboundMedia, TimestampUnit

Direction = Literal["outbound", "inbound"]
# Which way Aircall talks back about the message: a proxy number's callbackUrl, or the account webhook.
Route = Literal["proxy", "native"]
# Why carriers stopped a message Aircall accepted (toll-free numbers awaiting verification, or unverified).
CarrierOutcome = Literal["filtered", "blocked"]


def new_message_id() -> str:
    return "SM" + uuid.uuid4().hex


@dataclass(frozen=True)
class EventShape:
    """The variant of the message object that callbacks and webhooks carry (see `SandboxConfig`)."""

    contact_style: ContactStyle
    data_timestamps: TimestampUnit
    inbound_media: InboundMedia


@dataclass
class Message:
    id: str
    route: Route
    direction: Direction
    status: str
    body: str
    external_number: str  # the contact, E.164
    direct_link: str
    number: dict[str, Any]  # Aircall's Number object of the sending (or receiving) number
    event_number: dict[str, Any]  # the same, as callbacks and webhooks show it (with `e164_digits`)
    created_at: int  # epoch ms, sandbox clock
    updated_at: int
    sent_at: int | None
    media_url: tuple[str, ...] = ()
    media_details: tuple[dict[str, Any], ...] = ()
    segments: int = 0
    encoding: str | None = None
    agent_id: int | None = None
    scheduled_failure: bool = False  # POST /_sandbox/failures picked this message
    carrier_outcome: CarrierOutcome | None = None
    steps: list[str] = field(default_factory=list)  # the status words still to announce, in order
    status_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def number_id(self) -> int:
        return int(self.number["id"])

    @property
    def fails(self) -> bool:
        """Whether the message ends in a failure rather than `delivered`."""
        return self.scheduled_failure or self.carrier_outcome is not None

    @property
    def raw_digits(self) -> str:
        """Aircall's `raw_digits`: the contact's digits without the `+` (e.g. "13023063029")."""
        return self.external_number.lstrip("+")

    def send_answer(self, *, with_contact: bool) -> dict[str, Any]:
        """The message object a send answers, at the top level."""
        message: dict[str, Any] = {
            "id": self.id,
            "direct_link": self.direct_link,
            "direction": self.direction,
            "status": self.status,
            "body": self.body,
            "raw_digits": self.raw_digits,
        }
        if with_contact:
            message |= {"to": self.external_number, "external_number": self.external_number}
        return message | {
            "media_url": list(self.media_url),
            "channel": None,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "updated_at": self.updated_at,
            "number": dict(self.number),
        }

    def event_data(self, shape: EventShape) -> dict[str, Any]:
        """The message object inside a callback or webhook."""
        message: dict[str, Any] = {
            "id": self.id,
            "direct_link": self.direct_link,
            "direction": self.direction,
            "status": self.status,
            "body": self.body,
        }
        if shape.contact_style in ("both", "external_number"):
            message["external_number"] = self.external_number
        if shape.contact_style in ("both", "raw_digits"):
            message["raw_digits"] = self.raw_digits
        if self.direction == "outbound":
            message["media_url"] = list(self.media_url)
        else:
            message |= self._inbound_media(shape.inbound_media)
        return message | {
            "channel": None,
            "created_at": render_time(self.created_at, shape.data_timestamps),
            "sent_at": None if self.sent_at is None else render_time(self.sent_at, shape.data_timestamps),
            "updated_at": render_time(self.updated_at, shape.data_timestamps),
            "number": dict(self.event_number),
        }

    def _inbound_media(self, names: InboundMedia) -> dict[str, Any]:
        media: dict[str, Any] = {}
        if names in ("media_details", "both"):
            media["media_details"] = [dict(item) for item in self.media_details]
        if names in ("media_url", "both"):
            media["media_url"] = [str(item["presigned_url"]) for item in self.media_details]
        return media

    def control_json(self) -> dict[str, Any]:
        """The message for `GET /_sandbox/messages`: Aircall's fields with every contact field (whatever the
        contact style), epoch-ms timestamps, and what only the sandbox knows."""
        message: dict[str, Any] = {
            "id": self.id,
            "direct_link": self.direct_link,
            "direction": self.direction,
            "status": self.status,
            "body": self.body,
            "external_number": self.external_number,
            "raw_digits": self.raw_digits,
        }
        if self.direction == "outbound":
            message["media_url"] = list(self.media_url)
        else:
            message["media_details"] = [dict(item) for item in self.media_details]
        return message | {
            "channel": None,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "updated_at": self.updated_at,
            "number": dict(self.number),
            "sandbox": {
                "route": self.route,
                "segments": self.segments,
                "encoding": self.encoding,
                "agent_id": self.agent_id,
                "scheduled_failure": self.scheduled_failure,
                "carrier_outcome": self.carrier_outcome,
                "status_history": list(self.status_history),
            },
        }

    def move_to(self, status: str, at_ms: int) -> None:
        self.status = status
        self.updated_at = at_ms
        self.status_history.append({"status": status, "at": at_ms})
