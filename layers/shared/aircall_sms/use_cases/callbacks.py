"""POST /webhooks/aircall: authenticate Aircall's callback, then move an outbound message's status forward or
archive an inbound message.

Aircall's callback envelope is not settled (reference §3.2), so every documented variant is accepted:
`event` or `event_name`; `message.status_updated`, `message.updated` or `message.sent`; `message.received`;
timestamps in seconds, milliseconds or ISO 8601. The only credential is the `token` in the body: it must match
the number's callback token (stored as a SHA-256 digest, compared in constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import PutError

from .. import phone, segments
from ..errors import GatewayError, InvalidRequest, PayloadTooLarge, Unauthorized
from ..observability import logger, metrics
from ..status import from_aircall
from ..store import contacts, messages, numbers
from ..timeutil import iso, parse_time, utcnow

MAX_CALLBACK_BYTES = 256 * 1024
STATUS_EVENTS = frozenset({"message.status_updated", "message.updated", "message.sent"})
RECEIVED_EVENTS = frozenset({"message.received"})


class InvalidCallback(GatewayError):
    code = "invalid_callback"
    status = 400


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    event: str
    result: str  # "updated", "unchanged", "archived", "duplicate", "unmatched", "ignored"
    message_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        return {"received": True, "event": self.event, "result": self.result, "message_id": self.message_id}


def handle_callback(raw_body: str | None) -> CallbackOutcome:
    payload = _parse(raw_body)
    event = payload.get("event") or payload.get("event_name")
    if not isinstance(event, str) or not event:
        raise InvalidCallback("The callback names no event (event or event_name).")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidCallback("The callback has no data object.")
    number = _authenticate(payload.get("token"), data)
    if event in STATUS_EVENTS:
        return _status_update(event, data, payload)
    if event in RECEIVED_EVENTS:
        return _inbound(event, data, number, payload)
    logger.info("callback event not handled", extra={"event": event[:64]})
    return CallbackOutcome(event=event[:64], result="ignored")


def _parse(raw_body: str | None) -> dict[str, Any]:
    if raw_body is None or not raw_body.strip():
        raise InvalidCallback("The callback body is empty.")
    if len(raw_body) > MAX_CALLBACK_BYTES:
        raise PayloadTooLarge(
            f"The callback body is larger than {MAX_CALLBACK_BYTES} bytes.", details={"limit_bytes": MAX_CALLBACK_BYTES}
        )
    try:
        payload = json.loads(raw_body)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidRequest("The callback body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidCallback("The callback body must be a JSON object.")
    return payload


def _authenticate(token: object, data: dict[str, Any]) -> numbers.NumberRecord:
    number_ref = data.get("number")
    number_id = number_ref.get("id") if isinstance(number_ref, dict) else None
    if isinstance(number_id, bool) or not isinstance(number_id, int | str) or not str(number_id).isdigit():
        raise InvalidCallback("The callback's data.number.id is missing or not a number id.")
    if not isinstance(token, str) or not token or len(token) > 1024:
        raise Unauthorized("The callback token is missing or invalid.")
    record = numbers.get(str(int(number_id))) if len(str(number_id)) <= 18 else None
    digest = hashlib.sha256(token.encode()).hexdigest()
    expected = record.callback_token_sha256 if record and record.callback_token_sha256 else ""
    # Compare even for unknown numbers, so timing tells nothing about which numbers exist.
    if not hmac.compare_digest(digest, expected or "0" * 64) or record is None or not expected:
        metrics.add_metric(name="CallbacksRefused", unit="Count", value=1)
        raise Unauthorized("The callback token is missing or invalid.")
    return record


def _status_update(event: str, data: dict[str, Any], payload: dict[str, Any]) -> CallbackOutcome:
    aircall_id = data.get("id")
    status = from_aircall(data.get("status"))
    if not isinstance(aircall_id, str | int) or isinstance(aircall_id, bool) or status is None:
        raise InvalidCallback("A status callback needs data.id and a known data.status.")
    record = messages.find_by_aircall_id(str(aircall_id))
    if record is None:
        logger.warning("status callback for an unknown message", extra={"event": event})
        return CallbackOutcome(event=event, result="unmatched")
    at = parse_time(data.get("updated_at")) or parse_time(payload.get("timestamp")) or utcnow()
    error = None
    if status == "failed":
        error = {"code": "delivery_failed", "message": "Aircall reported the message as not delivered.", "details": {}}
    moved = messages.advance(record.id, status, at=at, source="callback", detail=event, error=error)
    return CallbackOutcome(event=event, result="updated" if moved else "unchanged", message_id=record.id)


def _inbound(
    event: str, data: dict[str, Any], number: numbers.NumberRecord, payload: dict[str, Any]
) -> CallbackOutcome:
    aircall_id = data.get("id")
    if not isinstance(aircall_id, str | int) or isinstance(aircall_id, bool) or str(aircall_id) == "":
        raise InvalidCallback("An inbound message needs data.id.")
    raw_contact = data.get("external_number") or data.get("raw_digits") or data.get("from")
    try:
        contact = phone.parse(str(raw_contact), default_region=number.region).e164
    except phone.InvalidPhoneNumber:
        raise InvalidCallback("The inbound message's external_number is not a phone number.") from None
    body = data.get("body") if isinstance(data.get("body"), str) else None
    received_at = parse_time(data.get("created_at")) or parse_time(payload.get("timestamp")) or utcnow()
    media = _media_urls(data)
    # The gateway id is derived from Aircall's id, so a redelivered callback writes nothing new.
    message_id = "msg_in_" + hashlib.sha256(f"{number.number_id}:{aircall_id}".encode()).hexdigest()[:26]
    segmentation = segments.count(body or "")
    record = messages.MessageRecord(
        id=message_id,
        aircall_id=str(aircall_id),
        number_id=number.number_id,
        sender=contact,
        recipient=number.e164,
        contact=contact,
        direction="inbound",
        text=body,
        media_urls=media,
        segments=segmentation.segments,
        encoding=segmentation.encoding,
        status="received",
        status_history=[messages.change("received", received_at, "callback", event)],
        created_at=iso(received_at),
        updated_at=iso(utcnow()),
    )
    # The contact wrote: a French mobile line may answer within the conversation window from now on.
    contacts.record_inbound(contact, number_id=number.number_id, at=min(received_at, utcnow()), message_id=message_id)
    try:
        record.save(condition=messages.MessageRecord.id.does_not_exist())
    except PutError as failure:
        if failure.cause_response_code == "ConditionalCheckFailedException":
            return CallbackOutcome(event=event, result="duplicate", message_id=message_id)
        raise
    metrics.add_metric(name="MessagesReceived", unit="Count", value=1)
    return CallbackOutcome(event=event, result="archived", message_id=message_id)


def _media_urls(data: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    details = data.get("media_details")
    if isinstance(details, list):
        urls.extend(
            item["presigned_url"]
            for item in details
            if isinstance(item, dict) and isinstance(item.get("presigned_url"), str)
        )
    plain = data.get("media_url")
    if isinstance(plain, list):
        urls.extend(url for url in plain if isinstance(url, str))
    elif isinstance(plain, str) and plain:
        urls.append(plain)
    return urls[:10]
