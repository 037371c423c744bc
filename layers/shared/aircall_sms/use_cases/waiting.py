"""DELETE and PATCH /messages/{id}: a message still waiting to be sent (`scheduled`, or `deferred` by a full
window) is cancelled, or gets a new text or `send_at`, checked as a new send would be (the text's length for its
number's country, its segments; `send_at` from now to 31 days ahead and before its `not_after`).

A key sees and changes only its numbers' messages (another number's message is a 404, as for GET). A message
already on its way or ended answers 409 `message_not_waiting`; cancelling a cancelled message answers it again.
Every rule is checked again when the message goes out (the dispatcher), so a change cannot pass one.
"""

from __future__ import annotations

from typing import Any

from aircall_sms.domain import schedule, segments
from aircall_sms.domain.access import Principal
from aircall_sms.domain.requests import MessagePatch
from aircall_sms.domain.status import WAITING
from aircall_sms.domain.timeutil import parse_time, utcnow
from aircall_sms.errors import InvalidRequest, InvalidSendAt, MessageNotWaiting, MessageTooLong, NotFound, ServiceBusy
from aircall_sms.observability import logger
from aircall_sms.store import messages, numbers
from aircall_sms.use_cases.messages import MAX_ID_LENGTH
from aircall_sms.use_cases.send.prepare import MAX_TEXT_CHARACTERS, max_text_characters

ATTEMPTS = 3


def cancel(principal: Principal, message_id: str) -> dict[str, Any]:
    """The message `cancelled` (already cancelled: the same answer); 409 when it is not waiting any more."""
    for _ in range(ATTEMPTS):
        record = _visible(principal, message_id)
        if record.status == "cancelled":
            return {"message": record.to_api()}
        if record.status not in WAITING:
            raise _not_waiting(record)
        if messages.cancel(record.id, utcnow(), principal.client_id):
            logger.info("message cancelled", extra={"message_id": record.id})
            return {"message": _visible(principal, message_id).to_api()}
    raise ServiceBusy("The message keeps changing; retry shortly.", headers={"Retry-After": "1"})


def change(principal: Principal, message_id: str, patch: MessagePatch) -> dict[str, Any]:
    """The waiting message with its new text and/or `send_at`; 400 for a change a new send could not have."""
    if patch.text is None and patch.send_at is None:
        raise InvalidRequest("Give text, send_at, or both.", details={"field": "text"})
    for _ in range(ATTEMPTS):
        record = _visible(principal, message_id)
        if record.status not in WAITING:
            raise _not_waiting(record)
        now = utcnow()
        text = patch.text if patch.text is not None else record.text
        if patch.text is not None:
            _check_text(patch.text, record.number_id)
        send_at = None if patch.send_at is None else schedule.check_send_at(patch.send_at, now)
        not_after = parse_time(record.not_after)
        if send_at is not None and not_after is not None and send_at >= not_after:
            raise InvalidSendAt(
                "send_at must come before the message's not_after.",
                details={"field": "send_at", "reason": "after_not_after", "not_after": record.not_after},
            )
        counted = segments.count(text or "")
        changed = ", ".join(name for name in ("text", "send_at") if getattr(patch, name) is not None)
        if messages.change_waiting(
            record,
            now,
            text=patch.text,
            segments=counted.segments,
            encoding=counted.encoding,
            send_at=send_at,
            detail=f"changed: {changed}",
        ):
            logger.info("waiting message changed", extra={"message_id": record.id, "changed": changed})
            return {"message": _visible(principal, message_id).to_api()}
    raise ServiceBusy("The message keeps changing; retry shortly.", headers={"Retry-After": "1"})


def _visible(principal: Principal, message_id: str) -> messages.MessageRecord:
    record = messages.get(message_id) if 0 < len(message_id) <= MAX_ID_LENGTH else None
    if record is None or record.direction != "outbound" or not principal.allows(record.number_id):
        raise NotFound("No message with this id.", details={"id": message_id[:MAX_ID_LENGTH]})
    return record


def _not_waiting(record: messages.MessageRecord) -> MessageNotWaiting:
    return MessageNotWaiting(
        f"The message is {record.status}: only a scheduled or deferred message can be cancelled or changed.",
        details={"status": record.status, "updated_at": record.updated_at},
    )


def _check_text(text: str, number_id: str) -> None:
    number = numbers.get(number_id)
    region = number.region if number is not None else ""
    limit = max_text_characters(region)
    if len(text) > limit:
        where = " from a French number" if limit < MAX_TEXT_CHARACTERS else ""
        raise MessageTooLong(
            f"The text has {len(text)} characters; Aircall accepts at most {limit}{where}.",
            details={"characters": len(text), "limit": limit},
        )
