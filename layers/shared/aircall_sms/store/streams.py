"""Reading the tables' DynamoDB stream records, as Lambda delivers them (`eventName`, `eventSourceARN`,
`dynamodb.Keys` / `NewImage` / `OldImage` in DynamoDB JSON, `ApproximateCreationDateTime`): which table a record
comes from, and the change it stands for, in the domain's terms (`domain.events`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aircall_sms.domain.events import Change, ConsentChange, OptOutChange
from aircall_sms.domain.timeutil import iso
from aircall_sms.settings import get_settings
from aircall_sms.store.contacts import EVERY_NUMBER, consent_sk, optout_sk
from aircall_sms.store.messages import MessageRecord

Table = Literal["messages", "contacts"]
_CHANGES: dict[str, Change] = {"INSERT": "created", "MODIFY": "modified", "REMOVE": "removed"}
_OPT_OUT_PREFIX = optout_sk("")
_CONSENT_PREFIX = consent_sk("")


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


def change_of(record: Mapping[str, Any]) -> Change | None:
    return _CHANGES.get(str(record.get("eventName")))


def written_at(record: Mapping[str, Any]) -> datetime | None:
    """`ApproximateCreationDateTime`: epoch seconds in Lambda's event (a datetime from a boto3 client)."""
    value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def message_change(record: Mapping[str, Any]) -> tuple[Change | None, dict[str, Any] | None, str | None]:
    """(the change, the Message object after it, the status before it) of an archive record; the message is None
    for a removal. Raises on a record whose image is missing or cannot be read."""
    change = change_of(record)
    images = record.get("dynamodb") or {}
    if change not in ("created", "modified"):
        return change, None, None
    message = MessageRecord.from_raw_data(_image(images, "NewImage")).to_api()
    previous = _string(images.get("OldImage"), "status") if change == "modified" else None
    return change, message, previous


def opt_out_change(record: Mapping[str, Any], at: datetime) -> OptOutChange | None:
    """The opt-out a contacts record records or removes (`at`: when a removal was written); None for every other
    contact item (consents, conversations)."""
    images = record.get("dynamodb") or {}
    keys = images.get("Keys") or {}
    sort_key = _string(keys, "sk") or ""
    change = change_of(record)
    if not sort_key.startswith(_OPT_OUT_PREFIX) or change is None:
        return None
    scope = sort_key.removeprefix(_OPT_OUT_PREFIX)
    if change == "modified":
        return OptOutChange(change, None, None, None, None, None)
    image = _image(images, "NewImage" if change == "created" else "OldImage")
    return OptOutChange(
        change=change,
        contact=_string(image, "contact") or _string(keys, "contact"),
        number_id=None if scope == EVERY_NUMBER else scope,
        at=_string(image, "at") if change == "created" else iso(at),
        source=_string(image, "source"),
        detail=_string(image, "detail"),
        client_id=_string(image, "client_id" if change == "created" else "removed_by"),
    )


def consent_changes(record: Mapping[str, Any]) -> list[ConsentChange]:
    """The consents a contacts record records, replaces or withdraws, one per scope (none for other items)."""
    images = record.get("dynamodb") or {}
    keys = images.get("Keys") or {}
    sort_key = _string(keys, "sk") or ""
    change = change_of(record)
    if not sort_key.startswith(_CONSENT_PREFIX) or change is None:
        return []
    old = images.get("OldImage") if change != "created" else None
    new = images.get("NewImage") if change != "removed" else None
    old_scopes, new_scopes = _scopes(old), _scopes(new)
    latest = new if new is not None else old
    changed_by = _string(latest, "changed_by")
    contact = _string(keys, "contact") or ""
    purpose = sort_key.removeprefix(_CONSENT_PREFIX)

    def consent(scope: str, evidence: Mapping[str, Any], recorded: bool) -> ConsentChange:
        return ConsentChange(
            recorded=recorded,
            contact=contact,
            number_id=None if scope == EVERY_NUMBER else scope,
            purpose=purpose,
            source=_string(evidence, "source"),
            captured_at=_string(evidence, "captured_at"),
            client_id=changed_by,
        )

    found = [
        consent(scope, evidence, True)
        for scope, evidence in sorted(new_scopes.items())
        if old_scopes.get(scope) != evidence
    ]
    found += [
        consent(scope, evidence, False) for scope, evidence in sorted(old_scopes.items()) if scope not in new_scopes
    ]
    return found


def _scopes(image: object) -> dict[str, Mapping[str, Any]]:
    """A consent image's scopes: scope -> evidence (DynamoDB JSON maps)."""
    if not isinstance(image, Mapping):
        return {}
    scopes = (image.get("scopes") or {}).get("M") or {}
    return {scope: value.get("M") or {} for scope, value in scopes.items() if isinstance(value, Mapping)}


def _image(images: Mapping[str, Any], name: str) -> dict[str, Any]:
    image = images.get(name)
    if not isinstance(image, dict) or not image:
        raise ValueError(f"the stream record has no {name} (the stream must be NEW_AND_OLD_IMAGES)")
    return image


def _string(image: object, name: str) -> str | None:
    """A string attribute of an image in DynamoDB JSON (`{"S": "..."}`), else None."""
    if not isinstance(image, Mapping):
        return None
    value = image.get(name)
    text = value.get("S") if isinstance(value, Mapping) else None
    return text if isinstance(text, str) else None


def pending_media(record: Mapping[str, Any]) -> MessageRecord | None:
    """The message of an archive record that archived an inbound MMS whose media is still to be copied (an INSERT
    with `media_status` pending); None for any other record."""
    if change_of(record) != "created":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not isinstance(image, Mapping) or _string(image, "media_status") != "pending":
        return None
    return MessageRecord.from_raw_data(dict(image))
