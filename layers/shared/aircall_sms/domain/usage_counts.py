"""What one change of the archive counts in a number's monthly usage (GET /usage), and the report built from
those counters. Pure: no I/O.

A change is one DynamoDB stream record of MessagesTable (`eventName`, `dynamodb.NewImage` / `OldImage` in
DynamoDB JSON). Each counter counts something that happens at most once to a message, read from what the
change moved (the old image against the new one; an INSERT moves from nothing):

    counter                                when
    outbound_messages, outbound_segments   an outbound message gets its Aircall id: Aircall took it
    inbound_messages, inbound_segments     an inbound message is archived
    segments#<direction>#<country>         with either of those two: the segments by the contact's country
    rejected                               a message becomes `rejected` (a rule, a full window, a removed number)
    deferred                               a message becomes `deferred` for the first time (it waited)
    expired                                a deferred message becomes `expired`
    failed                                 a message becomes `failed` (Aircall refused it or could not deliver it)
    media_files, media_bytes               an inbound MMS's files are copied into the media bucket (its media
                                           leaves `pending`): the files stored and their bytes

A change counts in the month (UTC) it happened: an INSERT in its `created_at`'s, a MODIFY in its `updated_at`'s.
A message counts at least one segment (an MMS without text is one message). Removals (the retention's TTL, an
erasure) count nothing: usage is history, and it stays when the messages go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aircall_sms.domain.prices import PriceTable

OUTBOUND_MESSAGES = "outbound_messages"
OUTBOUND_SEGMENTS = "outbound_segments"
INBOUND_MESSAGES = "inbound_messages"
INBOUND_SEGMENTS = "inbound_segments"
OUTCOMES = ("rejected", "deferred", "expired", "failed")
MEDIA_FILES = "media_files"
MEDIA_BYTES = "media_bytes"

COUNTRY_PREFIX = "segments#"
UNKNOWN_COUNTRY = "ZZ"  # phonenumbers' name for a region it cannot tell
_CENTS = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Counts:
    """What one change adds to the counters of `number_id` in `month` ("2026-11")."""

    number_id: str
    month: str
    increments: dict[str, int] = field(default_factory=dict)


def counts_of(record: Mapping[str, Any], country_of: Any) -> Counts | None:
    """The counters one stream record of the archive moves (None: it counts nothing). `country_of(e164)` names a
    contact's country (a region code)."""
    event_name = record.get("eventName")
    if event_name not in ("INSERT", "MODIFY"):
        return None
    change = record.get("dynamodb") or {}
    new = change.get("NewImage") or {}
    old = (change.get("OldImage") or {}) if event_name == "MODIFY" else {}
    if not new:
        raise ValueError("the stream record has no NewImage (the stream must be NEW_AND_OLD_IMAGES)")
    number_id, direction = _text(new, "number_id"), _text(new, "direction")
    at = _text(new, "created_at") if event_name == "INSERT" else _text(new, "updated_at") or _text(new, "created_at")
    if not number_id or not at or len(at) < 7:
        return None
    increments: dict[str, int] = {}
    segments = max(1, _number(new, "segments"))
    if direction == "inbound" and not old:
        increments |= {INBOUND_MESSAGES: 1, INBOUND_SEGMENTS: segments}
    if direction == "outbound" and _text(new, "aircall_id") and not _text(old, "aircall_id"):
        increments |= {OUTBOUND_MESSAGES: 1, OUTBOUND_SEGMENTS: segments}
    if INBOUND_SEGMENTS in increments or OUTBOUND_SEGMENTS in increments:
        increments[country_key(str(direction), country_of(_text(new, "contact") or ""))] = segments
    if _text(old, "media_status") == "pending" and _text(new, "media_status") in ("stored", "failed"):
        files = _stored_files(new)
        if files:
            increments |= {MEDIA_FILES: files, MEDIA_BYTES: _number(new, "media_bytes")}
    status, previous = _text(new, "status"), _text(old, "status")
    if status in OUTCOMES and status != previous and not (status == "deferred" and _was_deferred(old)):
        increments[str(status)] = 1
    return Counts(number_id=number_id, month=at[:7], increments=increments) if increments else None


def country_key(direction: str, country: str | None) -> str:
    return f"{COUNTRY_PREFIX}{direction}#{country or UNKNOWN_COUNTRY}"


def report_item(number_id: str, counters: Mapping[str, int], prices: PriceTable | None) -> dict[str, Any]:
    """One number's entry of the usage report, from its month's counters (absent counters are 0)."""
    by_country: dict[str, dict[str, int]] = {"outbound": {}, "inbound": {}}
    for name, value in sorted(counters.items()):
        if name.startswith(COUNTRY_PREFIX):
            direction, _, country = name.removeprefix(COUNTRY_PREFIX).partition("#")
            if direction in by_country and value:
                by_country[direction][country] = int(value)
    return {
        "number_id": int(number_id),
        "outbound": {
            "messages": int(counters.get(OUTBOUND_MESSAGES, 0)),
            "segments": int(counters.get(OUTBOUND_SEGMENTS, 0)),
            "segments_by_country": by_country["outbound"],
        },
        "inbound": {
            "messages": int(counters.get(INBOUND_MESSAGES, 0)),
            "segments": int(counters.get(INBOUND_SEGMENTS, 0)),
            "segments_by_country": by_country["inbound"],
        },
        **{outcome: int(counters.get(outcome, 0)) for outcome in OUTCOMES},
        "media": {"files": int(counters.get(MEDIA_FILES, 0)), "bytes": int(counters.get(MEDIA_BYTES, 0))},
        "estimated_cost": None if prices is None else _cost(by_country, prices),
    }


def _cost(by_country: Mapping[str, Mapping[str, int]], prices: PriceTable) -> dict[str, Any]:
    totals = {"outbound": Decimal(0), "inbound": Decimal(0)}
    unpriced = 0
    for direction, countries in by_country.items():
        for country, segments in countries.items():
            price = prices.price(country, direction)
            if price is None:
                unpriced += segments
            else:
                totals[direction] += price * segments
    return {
        "currency": prices.currency,
        "outbound": _amount(totals["outbound"]),
        "inbound": _amount(totals["inbound"]),
        "total": _amount(totals["outbound"] + totals["inbound"]),
        "unpriced_segments": unpriced,
    }


def _amount(value: Decimal) -> float:
    return float(value.quantize(_CENTS))


def _text(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name)
    text = value.get("S") if isinstance(value, Mapping) else None
    return text if isinstance(text, str) else None


def _number(image: Mapping[str, Any], name: str) -> int:
    value = image.get(name)
    raw = value.get("N") if isinstance(value, Mapping) else None
    try:
        return int(Decimal(raw)) if isinstance(raw, str) else 0
    except ArithmeticError:
        return 0


def _stored_files(image: Mapping[str, Any]) -> int:
    """How many files of an inbound MMS's `media` (JSON) were stored."""
    raw = _text(image, "media")
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return 0
    if not isinstance(entries, list):
        return 0
    return sum(1 for entry in entries if isinstance(entry, Mapping) and entry.get("status") == "stored")


def _was_deferred(image: Mapping[str, Any]) -> bool:
    """Whether the message waited in the queue before this change (its status history names `deferred`)."""
    history = image.get("status_history")
    changes = history.get("L") if isinstance(history, Mapping) else None
    return any(
        _text(entry.get("M") or {}, "status") == "deferred" for entry in changes or [] if isinstance(entry, Mapping)
    )
