"""Campaigns: one text (with `{{placeholders}}`) or one text per recipient, sent to up to `MAX_RECIPIENTS`
recipients through the normal send path, paced by the dispatcher on what the company budget leaves after live
traffic.

The pure rules: a campaign's recipients checked (each mistake names its field and index) and rendered, the chunks
they are stored in (bounded in size: a campaign is a handful of items, never one item per recipient at creation),
the status machine of pause/resume/cancel, and the ETA from the minute's share of the budget and the number's
windows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aircall_sms.domain import phone
from aircall_sms.errors import CampaignInvalid, CampaignNotChangeable

MAX_RECIPIENTS = 10_000
MAX_VALUES = 20  # placeholder values per recipient
MAX_VALUE_CHARACTERS = 500
MAX_TEXT_CHARACTERS = 1600
# A chunk item stays far below DynamoDB's 400 KB item limit, whatever the texts: at most this many bytes of
# recipients (their number, values and own text as JSON), and at most this many recipients.
MAX_CHUNK_BYTES = 200_000
MAX_CHUNK_RECIPIENTS = 500
# The share of the company's per-minute Aircall budget a campaign may take, of what live traffic left of it.
BUDGET_SHARE = 0.5

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")

# status -> the statuses each action leads to from it
SCHEDULED, RUNNING, PAUSED, CANCELLED, DONE = "scheduled", "running", "paused", "cancelled", "done"
STATUSES = (SCHEDULED, RUNNING, PAUSED, CANCELLED, DONE)
_ACTIONS: Mapping[str, Mapping[str, str]] = {
    "pause": {SCHEDULED: PAUSED, RUNNING: PAUSED, PAUSED: PAUSED},
    "resume": {PAUSED: RUNNING, RUNNING: RUNNING, SCHEDULED: SCHEDULED},
    "cancel": {SCHEDULED: CANCELLED, RUNNING: CANCELLED, PAUSED: CANCELLED, CANCELLED: CANCELLED},
}

# what became of a recipient when its turn came (the campaign's progress counts): a message of the send path (its
# own status is in the archive), refused by a rule then, failed otherwise, or skipped (the recipient replied, or
# opted out, since the campaign was created)
OUTCOMES = ("queued", "refused", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient as stored in its chunk: `to` in E.164, the text it gets (rendered)."""

    to: str
    text: str

    def to_json(self) -> list[str]:
        return [self.to, self.text]

    @classmethod
    def from_json(cls, raw: Sequence[str]) -> Recipient:
        return cls(to=raw[0], text=raw[1])


def placeholders(text: str) -> list[str]:
    """The placeholder names in `text`, in order of first appearance."""
    return list(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(text)))


def render(text: str, values: Mapping[str, str], *, field: str = "text") -> str:
    """`text` with each `{{name}}` replaced by its value; 400 naming `field` and the names without a value."""
    missing = [name for name in placeholders(text) if name not in values]
    if missing:
        raise CampaignInvalid(
            f"{field} has placeholders without values: {', '.join(missing)}.",
            details={"field": field, "reason": "missing_values", "placeholders": missing},
        )
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def recipients_of(raw: Any, text: str | None, sender_region: str) -> list[Recipient]:
    """The campaign's recipients, checked and rendered: a list of 1 to `MAX_RECIPIENTS` objects `{"to", "values"?,
    "text"?}` (a recipient's own text, else the campaign's `text`). Every mistake is a 400 naming its field."""
    if not isinstance(raw, list) or not raw:
        raise _invalid("recipients", "empty", "recipients must be a non-empty list.")
    if len(raw) > MAX_RECIPIENTS:
        raise _invalid("recipients", "too_many", f"A campaign has at most {MAX_RECIPIENTS} recipients.", count=len(raw))
    found: list[Recipient] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"recipients[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"to", "values", "text"}:
            raise _invalid(where, "not_an_object", f'{where} must be an object with "to", "values" and "text".')
        to = entry.get("to")
        try:
            number = phone.parse(to, sender_region) if isinstance(to, str) else None
        except phone.InvalidPhoneNumber:
            number = None
        if number is None:
            raise _invalid(f"{where}.to", "invalid_phone", f"{where}.to is not a valid phone number.")
        if number.e164 in seen:
            raise _invalid(f"{where}.to", "duplicate", f"{where}.to appears twice in the campaign.")
        seen.add(number.e164)
        values = _values(entry.get("values"), f"{where}.values")
        own = entry.get("text")
        if own is not None and not (isinstance(own, str) and own):
            raise _invalid(f"{where}.text", "invalid", f"{where}.text must be a non-empty string.")
        template = own if own is not None else text
        if template is None:
            raise _invalid(f"{where}.text", "missing", f'{where} has no text and the campaign no "text".')
        rendered = render(template, values, field=f"{where}.text" if own is not None else f"{where}.values")
        if not rendered.strip() or len(rendered) > MAX_TEXT_CHARACTERS:
            raise _invalid(f"{where}.text", "length", f"{where}'s text must be 1 to {MAX_TEXT_CHARACTERS} characters.")
        found.append(Recipient(to=number.e164, text=rendered))
    return found


def _values(raw: Any, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_VALUES:
        raise _invalid(field, "invalid", f"{field} must be an object of at most {MAX_VALUES} string values.")
    for name, value in raw.items():
        if not isinstance(value, str) or len(value) > MAX_VALUE_CHARACTERS:
            raise _invalid(
                f"{field}.{name}", "invalid", f"{field}.{name} must be a string of at most {MAX_VALUE_CHARACTERS}."
            )
    return dict(raw)


def _invalid(field: str, reason: str, message: str, **more: Any) -> CampaignInvalid:
    return CampaignInvalid(message, details={"field": field, "reason": reason, **more})


def chunks(recipients: Sequence[Recipient]) -> list[list[Recipient]]:
    """The recipients in order, cut into chunks of at most `MAX_CHUNK_RECIPIENTS` and `MAX_CHUNK_BYTES` (as JSON)."""
    found: list[list[Recipient]] = []
    current: list[Recipient] = []
    size = 2
    for recipient in recipients:
        cost = len(json.dumps(recipient.to_json(), ensure_ascii=False).encode()) + 1
        if current and (len(current) >= MAX_CHUNK_RECIPIENTS or size + cost > MAX_CHUNK_BYTES):
            found.append(current)
            current, size = [], 2
        current.append(recipient)
        size += cost
    if current:
        found.append(current)
    return found


def change(status: str, action: str) -> str:
    """The status `action` ("pause", "resume", "cancel") leads to from `status` (doing it again changes nothing);
    409 `campaign_not_changeable` when it cannot."""
    after = _ACTIONS[action].get(status)
    if after is None:
        raise CampaignNotChangeable(
            f"A {status} campaign cannot be {'cancelled' if action == 'cancel' else action + 'd'}.",
            details={"status": status, "action": action},
        )
    return after


def campaign_share(budget_per_minute: int, live_used: int, share: float = BUDGET_SHARE) -> int:
    """How many requests of this minute's company budget a campaign may take: a share of what live traffic left
    (at least one while anything is left, so a campaign always moves; none when live traffic took it all)."""
    left = budget_per_minute - live_used
    if left <= 0:
        return 0
    return max(1, math.floor(left * share))


def window_cap(limit: int, share: float) -> int:
    """The most segments a campaign's message may leave used in a window of `limit` segments (live sends and
    campaigns together), `share` being the deployment's CAMPAIGN_SHARE_PERCENT / 100: the rest of the window is
    live traffic's alone."""
    return math.floor(limit * share)


@dataclass(frozen=True, slots=True)
class CappedRoom:
    """One of the number's windows as a campaign's minute sees it: its `cap` (`window_cap`), the segments `used`
    in it (by everyone), and the whole minutes left until it ends (`minutes_left`, at least 1)."""

    name: str
    cap: int
    used: int
    minutes_left: int


def minute_take(rooms: Sequence[CappedRoom], segments_each: int = 1) -> int:
    """How many messages of `segments_each` segments a number's campaigns may make this minute: what fits under
    every window's cap, and the room under the hour's cap spread evenly over the minutes left in the hour (rounded
    up), so a campaign never fills its share of the hour in a burst that leaves a live reply only the reserve."""
    if segments_each <= 0:
        segments_each = 1
    take: int | None = None
    for room in rooms:
        left = max(0, room.cap - room.used) // segments_each
        if room.name == "hour":
            left = min(left, math.ceil(left / max(1, room.minutes_left)))
        take = left if take is None else min(take, left)
    return MAX_RECIPIENTS if take is None else take


@dataclass(frozen=True, slots=True)
class WindowRoom:
    """One of the number's windows as the ETA sees it: `limit` segments per `seconds`, `used` of it now, and the
    seconds until it starts again (`resets_in`)."""

    limit: int
    seconds: int
    used: int
    resets_in: int


def eta_seconds(
    messages: int,
    segments_each: int,
    per_minute: int,
    windows: Sequence[WindowRoom],
) -> int | None:
    """Seconds until `messages` of `segments_each` segments are sent at `per_minute` requests a minute, each minute
    within every window's room (a full window waits for its reset); None when they can never be sent (a message
    larger than a window, or no budget at all)."""
    if messages <= 0:
        return 0
    if per_minute <= 0 or any(segments_each > window.limit for window in windows):
        return None
    room = [window.limit - window.used for window in windows]
    resets = [window.resets_in for window in windows]
    elapsed = 0
    left = messages
    while left > 0:
        fits = min([per_minute, left, *(max(0, r) // segments_each for r in room)])
        if fits > 0:
            left -= fits
            room = [r - fits * segments_each for r in room]
            if left == 0:
                break
            step = 60
        else:  # a window is full: straight to the soonest reset of a full one
            step = max(60, min(reset for reset, r in zip(resets, room, strict=True) if r < segments_each))
        elapsed += step
        for index, window in enumerate(windows):
            resets[index] -= step
            while resets[index] <= 0:
                resets[index] += window.seconds
                room[index] = window.limit
    return elapsed
