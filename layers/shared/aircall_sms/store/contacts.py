"""What the gateway knows about a contact (ContactsTable), keyed by the contact's E.164 number:

    contact        sk                           what
    +33612345678   optout#<number_id> | optout#*   the contact opted out of one number, or of every number
                   consent#marketing            consents by scope: {"*" | number_id: {source, captured_at, ...}}
                   conversation#<number_id>     the last message the contact sent to that number

One partition per contact: the send path checks these items inside its reservation transaction, and erasing a
contact is one query on its partition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from ..timeutil import iso
from .base import GatewayModel, TableName, raw_client

EVERY_NUMBER = "*"


class ContactItem(GatewayModel):
    class Meta:
        table_name = TableName("contacts_table")

    contact = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    scope = UnicodeAttribute(null=True)  # opt-outs: the number_id or "*"
    at = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    scopes: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]  # consents: scope -> evidence
    last_inbound_at = UnicodeAttribute(null=True)  # conversations
    last_inbound_id = UnicodeAttribute(null=True)


def optout_sk(scope: str) -> str:
    return f"optout#{scope}"


def consent_sk(purpose: str) -> str:
    return f"consent#{purpose}"


def conversation_sk(number_id: str) -> str:
    return f"conversation#{number_id}"


def opt_out(contact: str, *, number_id: str | None, at: datetime, source: str, detail: str | None = None) -> None:
    """The contact opts out of `number_id` (None: of every number). Repeating it keeps the first record."""
    scope = number_id or EVERY_NUMBER
    item = ContactItem(contact=contact, sk=optout_sk(scope), scope=scope, at=iso(at), source=source, detail=detail)
    try:
        item.save(condition=ContactItem.sk.does_not_exist())
    except Exception as failure:
        if getattr(failure, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise


def opt_in(contact: str, *, number_id: str | None) -> bool:
    """Remove the opt-out of `number_id` (None: the company-wide one); False when there was none."""
    item = ContactItem(contact=contact, sk=optout_sk(number_id or EVERY_NUMBER))
    try:
        item.delete(condition=ContactItem.sk.exists())
    except Exception as failure:
        if getattr(failure, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_consent(contact: str, *, purpose: str, number_id: str | None, evidence: dict[str, str]) -> None:
    """Store the consent of `contact` for `purpose` from `number_id` (None: from every number)."""
    client = raw_client()
    key = {"contact": {"S": contact}, "sk": {"S": consent_sk(purpose)}}
    value = {"M": {name: {"S": text} for name, text in evidence.items()}}
    table = ContactItem.Meta.table_name
    scope = number_id or EVERY_NUMBER
    for _ in range(3):  # the item may be created by a concurrent consent between the two attempts
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET scopes.#scope = :evidence",
                ConditionExpression="attribute_exists(scopes)",
                ExpressionAttributeNames={"#scope": scope},
                ExpressionAttributeValues={":evidence": value},
            )
            return
        except client.exceptions.ConditionalCheckFailedException:
            pass
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET scopes = :scopes",
                ConditionExpression="attribute_not_exists(scopes)",
                ExpressionAttributeValues={":scopes": {"M": {scope: value}}},
            )
            return
        except client.exceptions.ConditionalCheckFailedException:
            pass
    raise RuntimeError("could not record the consent")


def record_inbound(contact: str, *, number_id: str, at: datetime, message_id: str) -> None:
    """The contact wrote to `number_id` at `at`: the conversation window is open from then (never moved back)."""
    moment = iso(at)
    item = ContactItem(contact=contact, sk=conversation_sk(number_id))
    try:
        item.update(
            actions=[ContactItem.last_inbound_at.set(moment), ContactItem.last_inbound_id.set(message_id)],
            condition=ContactItem.last_inbound_at.does_not_exist() | (ContactItem.last_inbound_at < moment),
        )
    except UpdateError as failure:
        if failure.cause_response_code != "ConditionalCheckFailedException":
            raise
