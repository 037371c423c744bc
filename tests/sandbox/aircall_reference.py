"""Aircall's objects as the public reference describes them, written from the reference alone (never from the
sandbox's code), so that parsing the sandbox's answers with it checks them against Aircall rather than against
themselves.

Every model forbids fields Aircall does not list: a sandbox that adds one of its own fails to parse.
Sources (resolved in the project's `docs/aircall-reference.md`, §2.2, §3.1 and §7):
- Number, its `messages` and the list `meta`: Aircall's API reference examples as transcribed by the
  `aircall-api` 2.x client (T2 `tests/payloads.py` NUMBER and META, `models/number.py`): `e164_digits` only in
  webhook events (T2, T6); `per_page` at most 50 (T6);
- the send answer: Aircall's help centre sample (S4: top level, `raw_digits` "13023063029", epoch-ms
  timestamps, `number{id, direct_link, ...}`) and T2's MESSAGE and MIGRATION notes (no envelope, no
  `external_number`); `media_url` echoed on sends, `channel` null for SMS/MMS (T2 `models/message.py`);
- message events: the webhook envelope `resource`, `event`, `timestamp`, `token`, `data` (T1, T3), with
  `external_number` and `media_details[{file_name, file_type, presigned_url}]` on events (T2, T5, T1);
  proxy callbacks name the event `event_name` with a millisecond `timestamp` (T1);
- the number configuration `{token, callbackUrl, type: "Public Api"}` (T3, T5).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DIGITS_ONLY = re.compile(r"^[1-9]\d{6,14}$")
NUMBER_LINK = re.compile(r"^https?://[^/]+/v1/numbers/\d+$")
MESSAGE_LINK = re.compile(r"^https?://[^/]+/v1/numbers/\d+/messages/[A-Za-z0-9]+$")


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"not {what}: {value!r}")
        return value

    return AfterValidator(check)


def _iso_8601(value: str) -> str:
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _time_zone(value: str) -> str:
    ZoneInfo(value)
    return value


# S4's example timestamps are epoch milliseconds, e.g. 1722758201825.
EpochMilliseconds = Annotated[int, Field(gt=10**12, lt=10**14)]
IsoTime = Annotated[str, AfterValidator(_iso_8601)]
E164Number = Annotated[str, _matching(E164, "an E.164 number")]
RawDigits = Annotated[str, _matching(DIGITS_ONLY, "digits without '+' (S4: '13023063029')")]


class AircallObject(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NumberMessages(AircallObject):
    """A Number's music and messages: public URLs of audio files."""

    welcome: str | None = None
    waiting: str | None = None
    ringing_tone: str | None = None
    unanswered_call: str | None = None
    after_hours: str | None = None
    ivr: str | None = None
    voicemail: str | None = None
    closed: str | None = None
    callback_later: str | None = None


class Number(AircallObject):
    id: int
    direct_link: Annotated[str, _matching(NUMBER_LINK, "a number link")]
    name: str
    digits: str  # Aircall's display form, e.g. "+33 1 76 11 11 11"
    created_at: IsoTime
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    time_zone: Annotated[str, AfterValidator(_time_zone)]
    open: bool
    availability_status: Literal["open", "custom", "closed"]
    is_ivr: bool
    live_recording_activated: bool
    priority: Literal[0, 1] | None
    messages: NumberMessages


class EventNumber(Number):
    """The Number inside a webhook event: the only place Aircall adds `e164_digits`."""

    e164_digits: E164Number


class Meta(AircallObject):
    count: int
    total: int
    current_page: Annotated[int, Field(ge=1)]
    per_page: Annotated[int, Field(ge=1, le=50)]
    next_page_link: str | None
    previous_page_link: str | None


class NumberList(AircallObject):
    numbers: list[Number]
    meta: Meta


class NumberAnswer(AircallObject):
    number: Number


class SentMessage(AircallObject):
    """What `POST /v1/numbers/{id}/messages/send` (and `native/send`) answers: the message at the top level."""

    id: str
    direct_link: Annotated[str, _matching(MESSAGE_LINK, "a message link")]
    direction: Literal["outbound"]
    status: str
    body: str
    raw_digits: RawDigits
    media_url: list[str]
    channel: None
    created_at: EpochMilliseconds
    sent_at: EpochMilliseconds
    updated_at: EpochMilliseconds
    number: Number


class MediaDetail(AircallObject):
    file_name: str
    file_type: str
    presigned_url: str


class EventMessage(AircallObject):
    """The message object inside a `message.*` event."""

    id: str
    direct_link: Annotated[str, _matching(MESSAGE_LINK, "a message link")]
    direction: Literal["inbound", "outbound"]
    status: str
    body: str
    external_number: E164Number | None = None
    raw_digits: RawDigits
    media_url: list[str] = []
    media_details: list[MediaDetail] = []
    channel: None
    created_at: EpochMilliseconds
    sent_at: EpochMilliseconds | None
    updated_at: EpochMilliseconds
    number: EventNumber


class MessageWebhook(AircallObject):
    """A `message.*` event in the webhook envelope: `timestamp` in UNIX seconds."""

    resource: Literal["message"]
    event: Literal["message.sent", "message.received", "message.status_updated"]
    timestamp: Annotated[int, Field(gt=10**9, lt=10**11)]
    token: str
    data: EventMessage


class MessageCallback(AircallObject):
    """A proxy-mode callback as T1 describes it: `event_name`, `timestamp` in milliseconds."""

    resource: Literal["message"]
    event_name: Literal["message.received", "message.updated"]
    timestamp: EpochMilliseconds
    token: str
    data: EventMessage


class Configuration(AircallObject):
    token: Annotated[str, Field(min_length=1)]
    callbackUrl: str | None  # noqa: N815 - Aircall's field name
    type: Literal["Public Api"]
