"""Messages the sandbox has sent or received, and their JSON in Aircall's message-object shape."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["outbound", "inbound"]
# Which way Aircall talks back about the message: a proxy number's callbackUrl, or the account webhook.
Route = Literal["proxy", "native"]


def new_message_id() -> str:
    return "SM" + uuid.uuid4().hex


@dataclass
class Message:
    id: str
    route: Route
    direction: Direction
    status: str
    body: str
    external_number: str
    direct_link: str
    number: dict[str, Any]  # the sender's (or receiver's) number summary, as embedded by Aircall
    created_at: int  # epoch ms, sandbox clock
    updated_at: int
    sent_at: int | None
    media_url: tuple[str, ...] = ()
    media_details: tuple[dict[str, Any], ...] = ()
    segments: int = 0
    encoding: str | None = None
    agent_id: int | None = None
    fails: bool = False  # a scheduled delivery failure: the status goes sent -> failed
    status_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def number_id(self) -> int:
        return int(self.number["id"])

    def to_json(self) -> dict[str, Any]:
        """The message object as Aircall returns it on send and in callbacks."""
        message: dict[str, Any] = {
            "id": self.id,
            "direct_link": self.direct_link,
            "direction": self.direction,
            "status": self.status,
            "body": self.body,
        }
        if self.direction == "outbound":
            message["to"] = self.external_number
        message |= {
            "external_number": self.external_number,
            "raw_digits": self.external_number.lstrip("+"),
            "channel": None,
        }
        if self.direction == "outbound":
            message["media_url"] = list(self.media_url)
        else:
            message["media_details"] = [dict(item) for item in self.media_details]
        message |= {
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "updated_at": self.updated_at,
            "number": dict(self.number),
        }
        return message

    def sandbox_json(self) -> dict[str, Any]:
        """The message plus what only the sandbox knows, for `GET /_sandbox/messages`."""
        return self.to_json() | {
            "sandbox": {
                "route": self.route,
                "segments": self.segments,
                "encoding": self.encoding,
                "agent_id": self.agent_id,
                "scheduled_failure": self.fails,
                "status_history": list(self.status_history),
            }
        }

    def move_to(self, status: str, at_ms: int) -> None:
        self.status = status
        self.updated_at = at_ms
        self.status_history.append({"status": status, "at": at_ms})
