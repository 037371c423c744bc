"""POST /messages: validate, normalise, archive, call Aircall once, record the outcome.

Flow (DESIGN.md, "Flow of one send"): resolve the sender number -> normalise the recipient -> count segments
-> archive the message (status `unknown` until Aircall answers, so a crash leaves an explainable record)
-> call Aircall once -> record Aircall's id and status, or why it failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pynamodb.exceptions import PutError

from .. import phone, segments, services
from ..aircall import AircallFailure, AircallOutcomeUnknown, gateway_error
from ..api_models import SendRequest
from ..errors import EmptyMessage, InvalidMedia, InvalidPhone, InvalidRequest, MessageTooLong, NumberNotConfigured
from ..ids import new_id
from ..observability import logger, metrics
from ..status import from_aircall
from ..store import messages, numbers
from ..timeutil import iso, utcnow

MAX_TEXT_CHARACTERS = 1600
MAX_MEDIA = 10
MAX_METADATA_BYTES = 4096


@dataclass(frozen=True, slots=True)
class SendOutcome:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PreparedSend:
    """A send request with its parts resolved: the number, the normalised recipient, the segmentation."""

    number: numbers.NumberRecord
    recipient: phone.PhoneNumber
    text: str | None
    segmentation: segments.Segmentation


def send_message(request: SendRequest, *, idempotency_key: str | None = None) -> SendOutcome:
    now = utcnow()
    prepared = prepare(request)
    if request.dry_run:
        return SendOutcome(200, dry_run_verdict(prepared))
    record = _archive(request, prepared, now=now, idempotency_key=idempotency_key)
    native = prepared.number.mode == "agent"
    try:
        sent = services.aircall().send_message(
            prepared.number.number_id,
            to=prepared.recipient.e164,
            body=prepared.text,
            media_urls=request.media_urls,
            native=native,
        )
    except AircallFailure as failure:
        _record_failure(record.id, failure)
        raise gateway_error(failure) from None
    status = from_aircall(sent.status) or "queued"
    if status in ("received", "unknown"):
        status = "queued"
    answered = utcnow()
    messages.advance(
        record.id, status, at=answered, source="aircall_send", aircall_id=sent.aircall_id, sent_at=answered
    )
    metrics.add_metric(name="MessagesSent", unit="Count", value=1)
    metrics.add_metric(name="SegmentsSent", unit="Count", value=prepared.segmentation.segments)
    logger.info("message sent", extra={"message_id": record.id, "number_id": prepared.number.number_id})
    stored = messages.get(record.id)
    return SendOutcome(201, {"message": (stored or record).to_api()})


def prepare(request: SendRequest) -> PreparedSend:
    """Everything that can be checked without side effects; raises the contract's 4xx errors."""
    number = resolve_number(request.sender)
    recipient = parse_recipient(request.to, number.region)
    text = request.text if request.text else None
    if text is None and not request.media_urls:
        raise EmptyMessage("A message needs text, media_urls, or both.")
    if text is not None and len(text) > MAX_TEXT_CHARACTERS:
        raise MessageTooLong(
            f"The text has {len(text)} characters; Aircall accepts at most {MAX_TEXT_CHARACTERS}.",
            details={"characters": len(text), "limit": MAX_TEXT_CHARACTERS},
        )
    check_media(request.media_urls)
    if request.metadata is not None:
        size = len(json.dumps(request.metadata, ensure_ascii=False).encode())
        if size > MAX_METADATA_BYTES:
            raise InvalidRequest(
                f"metadata is {size} bytes; at most {MAX_METADATA_BYTES} are stored.",
                details={"field": "metadata", "bytes": size, "limit": MAX_METADATA_BYTES},
            )
    return PreparedSend(number=number, recipient=recipient, text=text, segmentation=segments.count(text or ""))


def dry_run_verdict(prepared: PreparedSend) -> dict[str, Any]:
    """The answer to `dry_run: true`: every check ran, nothing was reserved or sent."""
    segmentation = prepared.segmentation
    return {
        "verdict": "allowed",
        "reason": None,
        "segments": segmentation.segments,
        "encoding": segmentation.encoding,
        "non_gsm_characters": list(segmentation.non_gsm_characters),
        "quota": None,
    }


def resolve_number(sender: str | int) -> numbers.NumberRecord:
    """The configured number named by Aircall's number_id or by its E.164 digits."""
    raw = str(sender).strip()
    record = None
    if raw.isdigit() and len(raw) <= 18:
        record = numbers.get(str(int(raw)))
    if record is None:
        try:
            record = numbers.find_by_e164(phone.parse(raw).e164)
        except phone.InvalidPhoneNumber:
            record = None
    if record is None:
        raise NumberNotConfigured(
            "The sender is not a number configured in this gateway (PUT /numbers/{number_id} first).",
            details={"from": raw if raw.isdigit() else None},
        )
    return record


def parse_recipient(raw: str, sender_region: str) -> phone.PhoneNumber:
    try:
        return phone.parse(raw, default_region=sender_region)
    except phone.InvalidPhoneNumber:
        raise InvalidPhone("The recipient is not a valid phone number.", details={"field": "to"}) from None


def check_media(media_urls: list[str]) -> None:
    if len(media_urls) > MAX_MEDIA:
        raise InvalidMedia(f"At most {MAX_MEDIA} media URLs per message.", details={"count": len(media_urls)})
    for index, url in enumerate(media_urls):
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or len(url) > 2048:
            raise InvalidMedia("Media URLs must be public https URLs.", details={"index": index})


def _archive(
    request: SendRequest, prepared: PreparedSend, *, now: datetime, idempotency_key: str | None
) -> messages.MessageRecord:
    record = messages.MessageRecord(
        id=new_id("msg"),
        number_id=prepared.number.number_id,
        sender=prepared.number.e164,
        recipient=prepared.recipient.e164,
        contact=prepared.recipient.e164,
        direction="outbound",
        text=prepared.text,
        media_urls=list(request.media_urls),
        purpose=request.purpose,
        segments=prepared.segmentation.segments,
        encoding=prepared.segmentation.encoding,
        status="unknown",
        status_history=[messages.change("unknown", now, "gateway", "accepted; calling Aircall")],
        created_at=iso(now),
        updated_at=iso(now),
        not_after=iso(request.not_after) if request.not_after else None,
        metadata=request.metadata,
        idempotency_key=idempotency_key,
    )
    try:
        record.save(condition=messages.MessageRecord.id.does_not_exist())
    except PutError:
        logger.exception("archiving the message failed")
        raise
    return record


def _record_failure(message_id: str, failure: AircallFailure) -> None:
    error = gateway_error(failure)
    at = utcnow()
    if isinstance(failure, AircallOutcomeUnknown):
        # The request may have reached Aircall: the status stays `unknown`; callbacks will settle it.
        record = messages.MessageRecord(id=message_id)
        record.update(actions=[messages.MessageRecord.error.set(error.to_body()["error"])], add_version_condition=False)
        logger.warning("Aircall outcome unknown", extra={"message_id": message_id, "reason": str(failure)})
        return
    final = "rejected" if error.code == "rate_limited" else "failed"
    messages.advance(message_id, final, at=at, source="aircall_send", detail=error.code, error=error.to_body()["error"])
    logger.info("Aircall refused the send", extra={"message_id": message_id, "code": error.code, "key": failure.key})
