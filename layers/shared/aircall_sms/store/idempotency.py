"""Idempotency records in the ledger (`idempotency#<sha256 of the client id and the key>` / `-`): the only code that
knows their keys and attributes.

A record holds the first request's fingerprint, the id of the message it archived and, once known, the answer
it was given (`{"status", "body"}` as JSON, deflated: the record stays within one write unit), so a repeated
request replays that answer instead of sending again.
It expires `IDEMPOTENCY_TTL_HOURS` after the first request (DynamoDB TTL).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from aircall_sms.domain.timeutil import iso
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger
from aircall_sms.store.base import pack_text, raw_client, unpack_text
from aircall_sms.store.transactions import put_new, text, transact_one


def digest(client_id: str, idempotency_key: str) -> str:
    """What the ledger keeps of a key: the SHA-256 of the client key's id and the key (the key itself may carry
    an order number or an email). Keys are scoped per client key: two clients' "order-1042" are two keys."""
    return hashlib.sha256(f"{client_id}\n{idempotency_key}".encode()).hexdigest()


def _key(key_digest: str) -> dict[str, Any]:
    return {"pk": text(ledger.idempotency_pk(key_digest)), "sk": text(ledger.IDEMPOTENCY_SK)}


def claim_item(
    key_digest: str, *, message_id: str, fingerprint: str, now: datetime, answer: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The transaction item that takes the key for a new request (refused, with the record as it is, when the key
    was taken before); `answer` when the request's answer is already known (a deferral)."""
    ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
    item = _key(key_digest) | {
        "message_id": text(message_id),
        "fingerprint": text(fingerprint),
        "created_at": text(iso(now)),
        "expires_at": {"N": str(int((now + ttl).timestamp()))},
    }
    if answer is not None:
        item["answer"] = pack_text(json.dumps(answer, ensure_ascii=False))
    return put_new(get_settings().ledger_table, item, "pk", return_old=True)


def answer_update(key_digest: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The transaction item that records the answer given to the key's request (while the record exists)."""
    return {
        "Update": {
            "TableName": get_settings().ledger_table,
            "Key": _key(key_digest),
            "UpdateExpression": "SET answer = :answer",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {
                ":answer": pack_text(json.dumps({"status": status, "body": body}, ensure_ascii=False))
            },
        }
    }


def release_item(key_digest: str, message_id: str) -> dict[str, Any]:
    """The transaction item that gives the key up (nothing was sent: a retry may use it), while it still names
    `message_id` (after its TTL the key may name another request)."""
    return {
        "Delete": {
            "TableName": get_settings().ledger_table,
            "Key": _key(key_digest),
            "ConditionExpression": "message_id = :message",
            "ExpressionAttributeValues": {":message": text(message_id)},
        }
    }


def read(key_digest: str) -> dict[str, Any] | None:
    """The record as it is now (consistent read), in DynamoDB JSON; None when the key is free."""
    answer = raw_client().get_item(TableName=get_settings().ledger_table, Key=_key(key_digest), ConsistentRead=True)
    item: dict[str, Any] | None = answer.get("Item")
    return item


def stored_answer(item: dict[str, Any]) -> dict[str, Any] | None:
    """The answer a record (DynamoDB JSON, as `read` gives it) holds: `{"status", "body"}`; None while unknown."""
    value = item.get("answer")
    if not value:
        return None
    answer: dict[str, Any] = json.loads(unpack_text(value))
    return answer


def record_answer(key_digest: str, status: int, body: dict[str, Any]) -> None:
    """Record the answer on its own (after the transaction that should have carried it was refused)."""
    transact_one(answer_update(key_digest, status, body))


def forget(client_id: str, idempotency_key: str, message_id: str) -> bool:
    """Delete the record of `idempotency_key` of `client_id` (it holds the first answer: the message, its text and
    recipient) if it still names `message_id` (erasure); True when deleted."""
    return transact_one(release_item(digest(client_id, idempotency_key), message_id))
