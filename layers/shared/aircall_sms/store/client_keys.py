"""Client keys (KeysTable), keyed by the key's id: its name, scopes, numbers, the SHA-256 of its secret (the
secret itself is never stored), who made it and when, and when it was revoked. A revoked key stays recorded
(the audit trail names it); the authorizer refuses it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from aircall_sms.domain.access import NewKey, Principal
from aircall_sms.domain.timeutil import iso
from aircall_sms.store.base import GatewayModel, TableName, raw_client


class ClientKeyRecord(GatewayModel):
    class Meta:
        table_name = TableName("keys_table")

    key_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    scopes: ListAttribute[str] = ListAttribute(of=UnicodeAttribute)  # type: ignore[arg-type]
    # null: every number
    number_ids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    secret_sha256 = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)

    def principal(self) -> Principal:
        numbers: list[str] | None = self.number_ids
        return Principal(self.key_id, frozenset(self.scopes), None if numbers is None else frozenset(numbers))

    def to_api(self) -> dict[str, Any]:
        """The contract's key object, without its secret (nor its digest)."""
        return {
            "id": self.key_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "number_ids": None if self.number_ids is None else [int(number) for number in self.number_ids],
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
        }


@dataclass(frozen=True, slots=True)
class KeyPage:
    items: list[ClientKeyRecord]
    last_key: dict[str, Any] | None


def create(
    new: NewKey, *, name: str, scopes: frozenset[str], number_ids: list[str] | None, created_by: str, now: datetime
) -> ClientKeyRecord:
    record = ClientKeyRecord(
        key_id=new.key_id,
        name=name,
        scopes=sorted(scopes),
        number_ids=number_ids,
        secret_sha256=new.digest,
        created_at=iso(now),
        created_by=created_by,
    )
    try:
        record.save(condition=ClientKeyRecord.key_id.does_not_exist())
    except PutError as failure:  # an id is 80 random bits and a millisecond: a clash is a bug, never a retry
        raise RuntimeError("a new key's id is already taken") from failure
    return record


def get(key_id: str, *, consistent: bool = False) -> ClientKeyRecord | None:
    """The key as stored (by default eventually consistent: a revocation is seen within a second, well inside
    the authorizer's cache time)."""
    try:
        return ClientKeyRecord.get(key_id, consistent_read=consistent)
    except DoesNotExist:
        return None


def page(limit: int, start: dict[str, Any] | None) -> KeyPage:
    """One page of the keys (a deployment has tens of keys: a scan is their natural read)."""
    request: dict[str, Any] = {"TableName": ClientKeyRecord.Meta.table_name, "Limit": limit}
    if start is not None:
        request["ExclusiveStartKey"] = start
    answer = raw_client().scan(**request)
    items = [ClientKeyRecord.from_raw_data(item) for item in answer.get("Items", [])]
    return KeyPage(sorted(items, key=lambda record: record.created_at), answer.get("LastEvaluatedKey") or None)


def revoke(key_id: str, *, by: str, now: datetime) -> ClientKeyRecord | None:
    """Revoke the key (the first revocation stays: a repeated one changes nothing); None when there is none."""
    record = ClientKeyRecord(key_id=key_id)
    try:
        record.update(
            actions=[ClientKeyRecord.revoked_at.set(iso(now)), ClientKeyRecord.revoked_by.set(by)],
            condition=ClientKeyRecord.key_id.exists() & ClientKeyRecord.revoked_at.does_not_exist(),
        )
    except UpdateError as failure:
        if failure.cause_response_code != "ConditionalCheckFailedException":
            raise
    return get(key_id, consistent=True)
