"""What the gateway knows about a contact (ContactsTable), keyed by the contact's E.164 number:

    contact        sk                           what
    +33612345678   optout#<number_id> | optout#*   the contact opted out of one number, or of every number
                   consent#marketing            consents by scope: {"*" | number_id: {source, captured_at, ...}}
                   conversation#<number_id>     the last message the contact sent to that number

One partition per contact: the send path checks these items inside its reservation transaction, and erasing a
contact is one query on its partition (`erase_facts`: everything but the opt-outs). The sparse index `by_scope`
(only opt-outs carry `scope`) lists the opt-outs of one number, or the company-wide ones, newest first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from aircall_sms.domain.timeutil import iso
from aircall_sms.store.base import GatewayModel, TableName, batch_delete, query_all, raw_client
from aircall_sms.store.transactions import condition_check

EVERY_NUMBER = "*"
OPT_OUTS_INDEX = "by_scope"


class ByScope(GlobalSecondaryIndex["ContactItem"]):  # type: ignore[no-untyped-call]
    """Sparse: the opt-outs (the only items with `scope`), by scope (a number_id or "*") and time."""

    class Meta:
        index_name = OPT_OUTS_INDEX
        projection = AllProjection()

    scope = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)


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

    by_scope = ByScope()


@dataclass(frozen=True, slots=True)
class OptOut:
    """One opt-out as stored: who, from which number ("*": every number), when, from where, and which client key
    recorded it (None: the contact, by a keyword)."""

    contact: str
    scope: str
    at: str
    source: str
    detail: str | None
    client_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "contact": self.contact,
            "number_id": None if self.scope == EVERY_NUMBER else int(self.scope),
            "at": self.at,
            "source": self.source,
            "detail": self.detail,
            "client_id": self.client_id,
        }

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> OptOut:
        return cls(
            contact=item["contact"]["S"],
            scope=item["scope"]["S"],
            at=item["at"]["S"],
            source=item.get("source", {}).get("S", ""),
            detail=item.get("detail", {}).get("S"),
            client_id=item.get("client_id", {}).get("S"),
        )


def optout_sk(scope: str) -> str:
    return f"optout#{scope}"


def consent_sk(purpose: str) -> str:
    return f"consent#{purpose}"


def conversation_sk(number_id: str) -> str:
    return f"conversation#{number_id}"


class OptOutFacts(TypedDict, total=False):
    """What an opt-out records (`opt_out_update`)."""

    number_id: Required[str | None]  # None: every number
    at: Required[datetime]
    source: Required[str]
    detail: str | None
    client_id: str | None  # the client key that recorded it (None: the contact, by a keyword)


def opt_out_update(
    contact: str,
    *,
    number_id: str | None,
    at: datetime,
    source: str,
    detail: str | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """The write of an opt-out of `number_id` (None: of every number) as a TransactWriteItems `Update`: it
    creates the record, and a repeated opt-out keeps the first one's time, source, detail and client key (the
    audit trail)."""
    scope = number_id or EVERY_NUMBER
    values: dict[str, Any] = {":scope": {"S": scope}, ":at": {"S": iso(at)}, ":source": {"S": source}}
    assignments = ["#scope = if_not_exists(#scope, :scope)", "#at = if_not_exists(#at, :at)"]
    assignments.append("#source = if_not_exists(#source, :source)")
    names = {"#scope": "scope", "#at": "at", "#source": "source"}
    for name, value in (("detail", detail), ("client_id", client_id)):
        if value is not None:
            values[f":{name}"] = {"S": value}
            names[f"#{name}"] = name
            assignments.append(f"#{name} = if_not_exists(#{name}, :{name})")
    return {
        "Update": {
            "TableName": ContactItem.Meta.table_name,
            "Key": {"contact": {"S": contact}, "sk": {"S": optout_sk(scope)}},
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def opt_in_delete(contact: str, *, number_id: str) -> dict[str, Any]:
    """The transaction item that removes the contact's opt-out of `number_id` (a START keyword)."""
    return {"Delete": {"TableName": ContactItem.Meta.table_name, "Key": _key(contact, optout_sk(number_id))}}


# ------------------------------------------------------------------------------------------------ the send rules' facts
# Each rule that depends on a stored fact has both of its forms here, side by side: the condition a send's
# reservation transaction checks, and the same rule read on the item (the dry run reads the items instead).
def _key(contact: str, sk: str) -> dict[str, Any]:
    return {"contact": {"S": contact}, "sk": {"S": sk}}


def not_opted_out_check(contact: str, scope: str) -> dict[str, Any]:
    """The contact has no opt-out of `scope` (a number_id, or EVERY_NUMBER)."""
    return condition_check(ContactItem.Meta.table_name, _key(contact, optout_sk(scope)), "attribute_not_exists(sk)")


def is_opted_out(item: dict[str, Any] | None) -> bool:
    return item is not None


def conversation_open_check(contact: str, number_id: str, since: datetime) -> dict[str, Any]:
    """The contact wrote to `number_id` at `since` or later."""
    return condition_check(
        ContactItem.Meta.table_name,
        _key(contact, conversation_sk(number_id)),
        "last_inbound_at >= :since",
        values={":since": {"S": iso(since)}},
    )


def is_conversation_open(item: dict[str, Any] | None, since: datetime) -> bool:
    last = (item or {}).get("last_inbound_at", {}).get("S")
    return bool(last) and last >= iso(since)


def consent_check(contact: str, number_id: str) -> dict[str, Any]:
    """The contact's marketing consent covers `number_id` (or every number)."""
    return condition_check(
        ContactItem.Meta.table_name,
        _key(contact, consent_sk("marketing")),
        "attribute_exists(scopes.#number) OR attribute_exists(scopes.#every)",
        names={"#number": number_id, "#every": EVERY_NUMBER},
    )


def has_consent(item: dict[str, Any] | None, number_id: str) -> bool:
    scopes = (item or {}).get("scopes", {}).get("M", {})
    return number_id in scopes or EVERY_NUMBER in scopes


def opt_out(contact: str, **facts: Unpack[OptOutFacts]) -> bool:
    """The contact opts out of `facts["number_id"]` (None: of every number). Repeating it keeps the first record;
    True when this call created it."""
    update = opt_out_update(contact, **facts)["Update"]
    answer = raw_client().update_item(**update, ReturnValues="ALL_OLD")
    return "at" not in answer.get("Attributes", {})


def get_opt_out(contact: str, *, number_id: str | None) -> OptOut | None:
    """The opt-out of `contact` from `number_id` (None: the company-wide one), read consistently."""
    answer = raw_client().get_item(
        TableName=ContactItem.Meta.table_name,
        Key={"contact": {"S": contact}, "sk": {"S": optout_sk(number_id or EVERY_NUMBER)}},
        ConsistentRead=True,
    )
    item = answer.get("Item")
    return OptOut.from_wire(item) if item and "scope" in item and "at" in item else None


def list_opt_outs(
    number_id: str | None, *, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[OptOut], dict[str, Any] | None]:
    """One page of the opt-outs of `number_id` (None: the company-wide ones), newest first, from the sparse
    index; the second value is where the next page starts (None: this was the last one)."""
    request: dict[str, Any] = {
        "TableName": ContactItem.Meta.table_name,
        "IndexName": OPT_OUTS_INDEX,
        "KeyConditionExpression": "#scope = :scope",
        "ExpressionAttributeNames": {"#scope": "scope"},
        "ExpressionAttributeValues": {":scope": {"S": number_id or EVERY_NUMBER}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start_key:
        request["ExclusiveStartKey"] = start_key
    answer = raw_client().query(**request)
    items = answer.get("Items", [])
    last_key = answer.get("LastEvaluatedKey") or None
    if last_key is None and len(items) == limit:
        # A full page: DynamoDB would name its last item (emulators may not), the next page may be empty.
        last_key = {name: items[-1][name] for name in ("contact", "sk", "scope", "at")}
    return [OptOut.from_wire(item) for item in items], last_key


def opt_in(contact: str, *, number_id: str | None, removed_by: str, at: datetime) -> bool:
    """Remove the opt-out of `number_id` (None: the company-wide one); False when there was none. The item first
    records who removes it (`removed_by`, `removed_at`), so the removal's stream record (its old image) says so."""
    client = raw_client()
    key = _key(contact, optout_sk(number_id or EVERY_NUMBER))
    try:
        client.update_item(
            TableName=ContactItem.Meta.table_name,
            Key=key,
            UpdateExpression="SET removed_by = :by, removed_at = :at",
            ConditionExpression="attribute_exists(sk)",
            ExpressionAttributeValues={":by": {"S": removed_by}, ":at": {"S": iso(at)}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    client.delete_item(TableName=ContactItem.Meta.table_name, Key=key)
    return True


def record_consent(
    contact: str, *, purpose: str, number_id: str | None, evidence: dict[str, str], changed_by: str
) -> None:
    """Store the consent of `contact` for `purpose` from `number_id` (None: from every number); `changed_by`,
    the client key recording it, is kept on the item (its stream record says who changed it)."""
    client = raw_client()
    key = {"contact": {"S": contact}, "sk": {"S": consent_sk(purpose)}}
    value = {"M": {name: {"S": text} for name, text in evidence.items()}}
    table = ContactItem.Meta.table_name
    scope = number_id or EVERY_NUMBER
    by = {":by": {"S": changed_by}}
    for _ in range(3):  # the item may be created by a concurrent consent between the two attempts
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET scopes.#scope = :evidence, changed_by = :by",
                ConditionExpression="attribute_exists(scopes)",
                ExpressionAttributeNames={"#scope": scope},
                ExpressionAttributeValues={":evidence": value} | by,
            )
            return
        except client.exceptions.ConditionalCheckFailedException:
            pass
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET scopes = :scopes, changed_by = :by",
                ConditionExpression="attribute_not_exists(scopes)",
                ExpressionAttributeValues={":scopes": {"M": {scope: value}}} | by,
            )
            return
        except client.exceptions.ConditionalCheckFailedException:
            pass
    raise RuntimeError("could not record the consent")


def consents(contact: str) -> dict[str, dict[str, dict[str, str]]]:
    """Every consent of `contact`: purpose -> scope (a number_id or "*") -> evidence."""
    answer = raw_client().query(
        TableName=ContactItem.Meta.table_name,
        KeyConditionExpression="contact = :contact AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":contact": {"S": contact}, ":prefix": {"S": consent_sk("")}},
        ConsistentRead=True,
    )
    found: dict[str, dict[str, dict[str, str]]] = {}
    for item in answer.get("Items", []):
        purpose = item["sk"]["S"].removeprefix(consent_sk(""))
        scopes = item.get("scopes", {}).get("M", {})
        found[purpose] = {
            scope: {name: value["S"] for name, value in evidence.get("M", {}).items() if "S" in value}
            for scope, evidence in scopes.items()
        }
    return found


def withdraw_consent(contact: str, *, purpose: str, number_id: str | None, changed_by: str) -> int:
    """Remove the consent of `contact` for `purpose` from `number_id`, or every consent for `purpose` when
    `number_id` is None; the number of consents removed. The item names who withdrew them (`changed_by`) first,
    so the change's stream record says so (for every consent, the item is then deleted: its old image does)."""
    client = raw_client()
    key = {"contact": {"S": contact}, "sk": {"S": consent_sk(purpose)}}
    table = ContactItem.Meta.table_name
    if number_id is None:
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET changed_by = :by",
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeValues={":by": {"S": changed_by}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return 0
        old = client.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD").get("Attributes") or {}
        return len(old.get("scopes", {}).get("M", {}))
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="REMOVE scopes.#scope SET changed_by = :by",
            ConditionExpression="attribute_exists(scopes.#scope)",
            ExpressionAttributeNames={"#scope": number_id},
            ExpressionAttributeValues={":by": {"S": changed_by}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return 0
    return 1


def conversation_update(contact: str, *, number_id: str, at: datetime, message_id: str) -> dict[str, Any]:
    """The contact wrote to `number_id` at `at`: the conversation window is open from then, never moved back
    (a `Update` for TransactWriteItems; its condition fails for a message older than the last one)."""
    return {
        "Update": {
            "TableName": ContactItem.Meta.table_name,
            "Key": {"contact": {"S": contact}, "sk": {"S": conversation_sk(number_id)}},
            "UpdateExpression": "SET last_inbound_at = :at, last_inbound_id = :message",
            "ConditionExpression": "attribute_not_exists(last_inbound_at) OR last_inbound_at < :at",
            "ExpressionAttributeValues": {":at": {"S": iso(at)}, ":message": {"S": message_id}},
        }
    }


def record_inbound(contact: str, *, number_id: str, at: datetime, message_id: str) -> None:
    """Open the conversation window now (see `conversation_update`)."""
    client = raw_client()
    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
        client.update_item(**conversation_update(contact, number_id=number_id, at=at, message_id=message_id)["Update"])


def erase_facts(contact: str, *, number_ids: frozenset[str] | None = None) -> dict[str, int]:
    """Delete every item of `contact` but its opt-outs (the fact that keeps a STOP honoured): its consents and
    conversations; with `number_ids`, only what concerns those numbers (their conversations, and the consents'
    scopes of those numbers). Counts `consents` (one per number or "every number" a consent covered),
    `conversations`, and the `opt_outs` kept."""
    table = ContactItem.Meta.table_name
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "contact = :contact",
        "ExpressionAttributeValues": {":contact": {"S": contact}},
        "ConsistentRead": True,
    }
    counts = {"consents": 0, "conversations": 0, "opt_outs": 0}
    erased: list[dict[str, Any]] = []
    for item in query_all(request):
        sort_key = item["sk"]["S"]
        if sort_key.startswith(optout_sk("")):
            counts["opt_outs"] += 1
            continue
        if sort_key.startswith(consent_sk("")):
            scopes = set(item.get("scopes", {}).get("M", {}))
            if number_ids is not None and not scopes <= number_ids:
                counts["consents"] += _erase_scopes(item, scopes & number_ids)
                continue
            counts["consents"] += len(scopes)
        elif sort_key.startswith(conversation_sk("")):
            if number_ids is not None and sort_key.removeprefix(conversation_sk("")) not in number_ids:
                continue
            counts["conversations"] += 1
        erased.append({"contact": item["contact"], "sk": item["sk"]})
    batch_delete(table, erased)
    return counts


def _erase_scopes(item: dict[str, Any], scopes: set[str]) -> int:
    """Remove these scopes of a consent item that keeps others (a key limited to numbers erasing its own)."""
    if not scopes:
        return 0
    names = {f"#s{index}": scope for index, scope in enumerate(sorted(scopes))}
    raw_client().update_item(
        TableName=ContactItem.Meta.table_name,
        Key={"contact": item["contact"], "sk": item["sk"]},
        UpdateExpression="REMOVE " + ", ".join(f"scopes.{name}" for name in names),
        ExpressionAttributeNames=names,
    )
    return len(scopes)


def wrote_since(contact: str, number_id: str, since: datetime) -> bool:
    """Whether the contact wrote to `number_id` at `since` or later (one consistent read)."""
    item = (
        raw_client()
        .get_item(
            TableName=ContactItem.Meta.table_name, Key=_key(contact, conversation_sk(number_id)), ConsistentRead=True
        )
        .get("Item")
    )
    return is_conversation_open(item, since)
