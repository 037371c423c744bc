"""Preparing a send: everything that can be checked without side effects — the sender number (cached per
instance), the recipient normalised to E.164, the text and media, the segmentation, `not_after` — and the rules
that need only the request (domestic, registration, French mobile purpose).

Raises the contract's 400 and 404 errors; a `PreparedSend` is what the later steps work on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aircall_sms.domain import compliance, phone, schedule, segments
from aircall_sms.domain.access import Principal
from aircall_sms.domain.ids import is_number_id, new_id
from aircall_sms.domain.timeutil import iso
from aircall_sms.errors import (
    ComplianceRefusal,
    EmptyMessage,
    InvalidMedia,
    InvalidPhone,
    InvalidRequest,
    MessageTooLong,
    NumberNotConfigured,
)
from aircall_sms.settings import get_settings
from aircall_sms.store import idempotency, messages, numbers

if TYPE_CHECKING:  # an annotation only: pydantic is loaded by the routes that validate
    from aircall_sms.domain.requests import SendRequest

MAX_TEXT_CHARACTERS = 1600
# Aircall caps a message from a French number (mobile or fixed) lower ("French messaging limits").
MAX_TEXT_CHARACTERS_BY_REGION = {"FR": 670}
MAX_MEDIA = 10
MAX_METADATA_BYTES = 4096
MAX_NOT_AFTER = timedelta(days=31)


class StartOver(Exception):
    """Start the send over with a fresh read of the number: it changed or vanished since it was cached, or the
    earlier request with the same Idempotency-Key gave its key up (nothing was sent)."""


@dataclass(frozen=True, slots=True)
class PreparedSend:
    """A send request with its parts resolved: the number, the normalised recipient, the segmentation."""

    request: SendRequest
    number: numbers.NumberRecord
    sender: phone.PhoneNumber
    recipient: phone.PhoneNumber
    text: str | None
    segmentation: segments.Segmentation
    not_after: datetime
    client_id: str
    idempotency_key: str | None = None
    confirms_opt_out: bool = False
    from_queue: bool = False  # a deferred message sent by the dispatcher (nobody waits for the answer)
    sender_choice: dict[str, str] | None = None  # sent from a pool: {"pool_id", "reason"}
    send_at: datetime | None = None  # a scheduled send (`use_cases.send.schedule`)
    campaign_id: str | None = None  # a campaign's message: charged at the campaign's share of the windows

    @property
    def segments(self) -> int:
        """Segments charged: the text's, and at least one (an MMS without text is one message)."""
        return max(1, self.segmentation.segments)

    @property
    def key_digest(self) -> str | None:
        """The Idempotency-Key as the ledger knows it: scoped to the client key that sent it."""
        return None if self.idempotency_key is None else idempotency.digest(self.client_id, self.idempotency_key)

    @property
    def fingerprint(self) -> str:
        """What makes two requests "the same request" for an Idempotency-Key."""
        body = self.request.model_dump(mode="json", by_alias=True, exclude={"dry_run"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def static_refusal(self) -> ComplianceRefusal | None:
        """The rules decided on the request alone (domestic, registration, French mobile purpose)."""
        return compliance.static_refusal(
            sender=self.sender,
            registration=self.number.registration or "none",
            recipient=self.recipient,
            purpose=self.request.purpose,
        )

    def new_record(self, now: datetime, *, status: str, note: str) -> messages.MessageRecord:
        """The archive record of this send in `status`, created now."""
        request = self.request
        return messages.MessageRecord(
            id=new_id("msg"),
            number_id=self.number.number_id,
            sender=self.number.e164,
            recipient=self.recipient.e164,
            contact=self.recipient.e164,
            direction="outbound",
            text=self.text,
            media_urls=list(request.media_urls),
            purpose=request.purpose,
            segments=self.segmentation.segments,
            encoding=self.segmentation.encoding,
            status=status,
            status_history=[messages.change(status, now, "gateway", note)],
            created_at=iso(now),
            updated_at=iso(now),
            not_after=iso(self.not_after),
            metadata=request.metadata,
            idempotency_key=self.idempotency_key,
            human_author=request.human_author,
            client_id=self.client_id,
            unresolved_at=iso(now) if status == "unknown" else None,
            expires_at=messages.retention_end(now, not_after=self.not_after),
            sender_choice=self.sender_choice,
            campaign_id=self.campaign_id,
        )


def prepare(
    request: SendRequest,
    *,
    principal: Principal,
    now: datetime,
    idempotency_key: str | None = None,
    confirms_opt_out: bool = False,
    campaign_id: str | None = None,
) -> PreparedSend:
    """Everything that can be checked without side effects; raises the contract's 400, 403 `number_not_allowed`
    and 404 errors."""
    number = resolve_number(request.sender)
    principal.require_number(number.number_id)
    recipient = parse_recipient(request.to, number.region)
    text_value = request.text if request.text else None
    if text_value is None and not request.media_urls:
        raise EmptyMessage("A message needs text, media_urls, or both.")
    limit = max_text_characters(number.region)
    if text_value is not None and len(text_value) > limit:
        where = " from a French number" if limit < MAX_TEXT_CHARACTERS else ""
        raise MessageTooLong(
            f"The text has {len(text_value)} characters; Aircall accepts at most {limit}{where}.",
            details={"characters": len(text_value), "limit": limit},
        )
    check_media(request.media_urls)
    if request.metadata is not None:
        size = len(json.dumps(request.metadata, ensure_ascii=False).encode())
        if size > MAX_METADATA_BYTES:
            raise InvalidRequest(
                f"metadata is {size} bytes; at most {MAX_METADATA_BYTES} are stored.",
                details={"field": "metadata", "bytes": size, "limit": MAX_METADATA_BYTES},
            )
    send_at = None if request.send_at is None else schedule.check_send_at(request.send_at, now)
    return PreparedSend(
        request=request,
        number=number,
        sender=sender_of(number),
        recipient=recipient,
        text=text_value,
        segmentation=segments.count(text_value or ""),
        not_after=_not_after(request, now)
        if send_at is None
        else schedule.scheduled_not_after(send_at, request.not_after, get_settings().default_not_after_hours),
        client_id=principal.client_id,
        idempotency_key=idempotency_key,
        confirms_opt_out=confirms_opt_out,
        send_at=send_at,
        campaign_id=campaign_id,
    )


def max_text_characters(region: str) -> int:
    """The longest text Aircall accepts from a number of `region` (characters, as Aircall counts them)."""
    return MAX_TEXT_CHARACTERS_BY_REGION.get(region.upper(), MAX_TEXT_CHARACTERS)


def sender_of(number: numbers.NumberRecord) -> phone.PhoneNumber:
    return phone.PhoneNumber(e164=number.e164, region=number.region, kind=number.kind, country_code=0)


def _not_after(request: SendRequest, now: datetime) -> datetime:
    if request.not_after is None:
        return now + timedelta(hours=get_settings().default_not_after_hours)
    if request.not_after <= now:
        raise InvalidRequest("not_after is in the past.", details={"field": "not_after"})
    if request.not_after > now + MAX_NOT_AFTER:
        raise InvalidRequest(f"not_after is at most {MAX_NOT_AFTER.days} days ahead.", details={"field": "not_after"})
    return request.not_after


def resolve_number(sender: str | int) -> numbers.NumberRecord:
    """The configured number named by Aircall's number_id or by its E.164 digits."""
    raw = str(sender).strip()
    max_age = get_settings().number_cache_seconds
    record = None
    if is_number_id(raw):
        record = numbers.cached(str(int(raw)), max_age)
    if record is None:
        try:
            record = numbers.cached_by_e164(phone.parse(raw).e164, max_age)
        except phone.InvalidPhoneNumber:
            record = None
    if record is None:
        raise NumberNotConfigured(
            "The sender is not a number configured in this gateway (PUT /numbers/{number_id} first).",
            details={"from": raw if is_number_id(raw) else None},
        )
    if numbers.is_configuring_without_token(record):
        raise NumberNotConfigured(
            "The sender's configuration in Aircall did not finish: PUT /numbers/{number_id} again.",
            details={"from": raw if is_number_id(raw) else None, "state": numbers.CONFIGURING},
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
