"""Events out: what one change of the archive or of the contacts publishes on the gateway's event bus.

A pure mapping from one DynamoDB stream record, as Lambda delivers it (`eventName`, `eventSourceARN`,
`dynamodb.NewImage` / `OldImage` in DynamoDB JSON), to the EventBridge `PutEvents` entries it stands for:

    table     change                         detail type              detail
    messages  INSERT, direction "inbound"    message.received         {"message"}
              ... and its keyword is HELP    contact.help_requested   {"contact", "number_id", "message_id", "at"}
    messages  INSERT, direction "outbound"   message.status_changed   {"previous_status": null, "message"}
    messages  MODIFY that changes `status`   message.status_changed   {"previous_status", "message"}
    contacts  INSERT of an opt-out item      contact.opted_out        {"contact", "number_id", "at", "source",
                                                                       "detail"}
    contacts  REMOVE of an opt-out item      contact.opted_in         the same fields, `at` the removal's

`message` is the contract's Message object (`MessageRecord.to_api()`); `number_id` of an opt-out is null when it
covers every number. Nothing else publishes anything: a MODIFY that leaves the status alone, a message that
expired or was erased, consents, conversations, another table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aircall_sms.domain.timeutil import iso
from aircall_sms.settings import get_settings
from aircall_sms.store.contacts import EVERY_NUMBER, optout_sk
from aircall_sms.store.messages import MessageRecord

SOURCE = "aircall-sms"
MESSAGE_RECEIVED = "message.received"
MESSAGE_STATUS_CHANGED = "message.status_changed"
CONTACT_OPTED_OUT = "contact.opted_out"
CONTACT_OPTED_IN = "contact.opted_in"
CONTACT_HELP_REQUESTED = "contact.help_requested"
DETAIL_TYPES = (MESSAGE_RECEIVED, MESSAGE_STATUS_CHANGED, CONTACT_OPTED_OUT, CONTACT_OPTED_IN, CONTACT_HELP_REQUESTED)

Table = Literal["messages", "contacts"]
_OPT_OUT_PREFIX = optout_sk("")


def entries(record: Mapping[str, Any], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The PutEvents entries of one stream record, in the order they are to be published (often none).

    `Time` is when the change was written (the record's `ApproximateCreationDateTime`), else `now`. Raises on a
    record that names a known table but cannot be read (a missing image, an image pynamodb cannot deserialise).
    """
    table = source_table(record)
    if table is None:
        return []
    change = record.get("dynamodb") or {}
    written_at = _written_at(change) or now or datetime.now(UTC)
    event_name = record.get("eventName")
    if table == "messages":
        details = _message_details(event_name, change)
    else:
        details = _contact_details(event_name, change, written_at)
    bus = get_settings().event_bus_name
    return [
        {
            "Source": SOURCE,
            "EventBusName": bus,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
            "Time": written_at,
        }
        for detail_type, detail in details
    ]


def source_table(record: Mapping[str, Any]) -> Table | None:
    """Which of the gateway's tables the record comes from, by the table name in its `eventSourceARN`
    (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`); None for any other."""
    name = table_name(str(record.get("eventSourceARN") or ""))
    settings = get_settings()
    if name is not None and name == settings.messages_table:
        return "messages"
    if name is not None and name == settings.contacts_table:
        return "contacts"
    return None


def table_name(stream_arn: str) -> str | None:
    """The table name in a DynamoDB stream (or table) ARN; None when it is not one."""
    parts = stream_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "dynamodb":
        return None
    resource = parts[5].split("/")
    if len(resource) < 2 or resource[0] != "table" or not resource[1]:
        return None
    return resource[1]


def _message_details(event_name: object, change: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if event_name == "INSERT":
        message = _message(change, "NewImage")
        if message.direction == "inbound":
            details: list[tuple[str, dict[str, Any]]] = [(MESSAGE_RECEIVED, {"message": message.to_api()})]
            if message.keyword == "help":
                help_requested = {
                    "contact": message.contact,
                    "number_id": message.number_id,
                    "message_id": message.id,
                    "at": message.created_at,
                }
                details.append((CONTACT_HELP_REQUESTED, help_requested))
            return details
        return [(MESSAGE_STATUS_CHANGED, {"previous_status": None, "message": message.to_api()})]
    if event_name == "MODIFY":
        message = _message(change, "NewImage")
        previous = _string(change.get("OldImage"), "status")
        if previous == message.status:
            return []
        return [(MESSAGE_STATUS_CHANGED, {"previous_status": previous, "message": message.to_api()})]
    return []  # REMOVE: the archive's TTL, or an erasure; neither is news for the customer's systems


def _contact_details(
    event_name: object, change: Mapping[str, Any], written_at: datetime
) -> list[tuple[str, dict[str, Any]]]:
    keys = change.get("Keys") or {}
    sort_key = _string(keys, "sk") or ""
    if not sort_key.startswith(_OPT_OUT_PREFIX):
        return []
    scope = sort_key.removeprefix(_OPT_OUT_PREFIX)
    if event_name == "INSERT":
        image = _image(change, "NewImage")
        detail_type, at = CONTACT_OPTED_OUT, _string(image, "at")
    elif event_name == "REMOVE":
        image = _image(change, "OldImage")
        detail_type, at = CONTACT_OPTED_IN, iso(written_at)
    else:
        return []
    detail = {
        "contact": _string(image, "contact") or _string(keys, "contact"),
        "number_id": None if scope == EVERY_NUMBER else scope,
        "at": at,
        "source": _string(image, "source"),
        "detail": _string(image, "detail"),
    }
    return [(detail_type, detail)]


def _message(change: Mapping[str, Any], image_name: str) -> MessageRecord:
    return MessageRecord.from_raw_data(_image(change, image_name))


def _image(change: Mapping[str, Any], image_name: str) -> dict[str, Any]:
    image = change.get(image_name)
    if not isinstance(image, dict) or not image:
        raise ValueError(f"the stream record has no {image_name} (the stream must be NEW_AND_OLD_IMAGES)")
    return image


def _string(image: object, name: str) -> str | None:
    """A string attribute of an image in DynamoDB JSON (`{"S": "..."}`), else None."""
    if not isinstance(image, Mapping):
        return None
    value = image.get(name)
    text = value.get("S") if isinstance(value, Mapping) else None
    return text if isinstance(text, str) else None


def _written_at(change: Mapping[str, Any]) -> datetime | None:
    """`ApproximateCreationDateTime`: epoch seconds in Lambda's event (a datetime from a boto3 client)."""
    value = change.get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None
