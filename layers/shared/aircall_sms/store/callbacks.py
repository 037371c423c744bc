"""Aircall's callbacks as they arrived (CallbacksTable), recorded before any other work.

The id is a digest of the number and the payload (without its token), so a redelivered callback finds its
first record. `pending` is set while the callback is not applied (index `pending`, read by the
reconciliation sweep): a status for a message whose Aircall id is not recorded yet, or a crash half-way.
The token is never stored. The keys-only index `by_aircall_id` finds the callbacks about one Aircall message, to
erase them with it (DELETE /contacts/{phone}).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from aircall_sms.domain.timeutil import iso
from aircall_sms.store.base import GatewayModel, PackedTextAttribute, TableName, batch_delete

RETENTION = timedelta(days=30)
PENDING = "pending"


class Pending(GlobalSecondaryIndex["CallbackRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "pending"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    received_at = UnicodeAttribute(range_key=True)


class ByAircallId(GlobalSecondaryIndex["CallbackRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_aircall_id"
        projection = KeysOnlyProjection()

    aircall_id = UnicodeAttribute(hash_key=True)


class CallbackRecord(GatewayModel):
    class Meta:
        table_name = TableName("callbacks_table")

    id = UnicodeAttribute(hash_key=True)
    number_id = UnicodeAttribute()
    event = UnicodeAttribute()
    aircall_id = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute()
    payload = PackedTextAttribute()  # the JSON body without its token (deflated: the item stays within 1 KB)
    # received | applied | unmatched | failed | ignored | unknown_status | unusable | abandoned
    state = UnicodeAttribute()
    result = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    pending = UnicodeAttribute(null=True)  # PENDING while not applied (sparse index)
    attempts = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)

    by_pending = Pending()
    by_aircall_id = ByAircallId()

    def body(self) -> dict[str, Any]:
        document = json.loads(self.payload)
        return document if isinstance(document, dict) else {}


def callback_id(number_id: str, payload: dict[str, Any]) -> str:
    return "cb_" + hashlib.sha256(f"{number_id}:{_canonical(payload)}".encode()).hexdigest()[:40]


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def record(
    number_id: str, event: str, aircall_id: str | None, payload: dict[str, Any], at: datetime
) -> tuple[CallbackRecord, bool]:
    """Store the callback (without its token) unless it was stored before: (the record, whether it is new)."""
    without_token = {key: value for key, value in payload.items() if key != "token"}
    item = CallbackRecord(
        id=callback_id(number_id, without_token),
        number_id=number_id,
        event=event[:64],
        aircall_id=aircall_id,
        received_at=iso(at),
        payload=_canonical(without_token),
        state="received",
        pending=PENDING,
        attempts=0,
        expires_at=at + RETENTION,
    )
    try:
        item.save(condition=CallbackRecord.id.does_not_exist())
    except PutError as failure:
        if failure.cause_response_code != "ConditionalCheckFailedException":
            raise
        return CallbackRecord.get(item.id, consistent_read=True), False
    return item, True


def settle_update(callback: CallbackRecord, state: str, result: str, message_id: str | None) -> dict[str, Any]:
    """The TransactWriteItems `Update` that marks the callback done (it leaves the `pending` index)."""
    values: dict[str, Any] = {":state": {"S": state}, ":result": {"S": result}, ":one": {"N": "1"}}
    assignments = ["#state = :state", "#result = :result"]
    if message_id:
        values[":message"] = {"S": message_id}
        assignments.append("message_id = :message")
    return {
        "Update": {
            "TableName": CallbackRecord.Meta.table_name,
            "Key": {"id": {"S": callback.id}},
            "UpdateExpression": "SET " + ", ".join(assignments) + " ADD attempts :one REMOVE pending",
            "ExpressionAttributeNames": {"#state": "state", "#result": "result"},
            "ExpressionAttributeValues": values,
        }
    }


def keep_pending(callback: CallbackRecord, state: str, *, give_up: bool) -> None:
    """Count an attempt that could not apply the callback; `give_up` takes it out of the sweep for good."""
    actions: list[Action] = [
        CallbackRecord.state.set("abandoned" if give_up else state),
        CallbackRecord.attempts.add(1),
    ]
    if give_up:
        actions.append(CallbackRecord.pending.remove())
    callback.update(actions=actions, add_version_condition=False)


def abandon(callback: CallbackRecord) -> None:
    """Stop trying: the callback leaves the sweep (it stays recorded, state `abandoned`)."""
    callback.update(
        actions=[CallbackRecord.state.set("abandoned"), CallbackRecord.pending.remove()], add_version_condition=False
    )


def pending_before(moment: datetime, limit: int) -> list[CallbackRecord]:
    """Callbacks not applied yet that arrived before `moment`, oldest first."""
    return list(CallbackRecord.by_pending.query(PENDING, CallbackRecord.received_at < iso(moment), limit=limit))


def ids_about(aircall_id: str) -> list[str]:
    """The ids of every callback recorded about the Aircall message `aircall_id` (applied or not)."""
    return [key_only.id for key_only in CallbackRecord.by_aircall_id.query(aircall_id)]


def delete_all(callback_ids: list[str]) -> int:
    return batch_delete(CallbackRecord.Meta.table_name, [{"id": {"S": callback_id}} for callback_id in callback_ids])
