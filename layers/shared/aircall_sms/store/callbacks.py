"""Aircall's callbacks as they arrived (CallbacksTable), recorded before any other work.

The id is a digest of the number and the payload (without its token), so a redelivered callback finds its
first record. The token is never stored.

Two ways the reconciliation sweep finds a callback not applied yet, so that a callback is written once on its
way in and once when it is settled, and no index entry is written and then removed:
- every callback is in the keys-only index `by_receipt` (`received_day`, `received_at`) from its record on, and
  never leaves it: the sweep reads it from its mark (`sweep_mark`, in the ledger: every callback received up to
  it was examined) and applies those still `received` — the ones a crash, a timeout or a failed write left
  between their record and their settling;
- a callback that could not be applied when it was looked at (a status for a message whose Aircall id is not
  recorded yet, a failed attempt) gets `pending` (sparse index `pending`, read by the sweep every minute until
  it is applied or abandoned).
The keys-only index `by_aircall_id` finds the callbacks about one Aircall message, to erase them with it
(DELETE /contacts/{phone}).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from aircall_sms.domain.timeutil import iso
from aircall_sms.settings import get_settings
from aircall_sms.store.base import GatewayModel, PackedTextAttribute, TableName, batch_delete, query_all, raw_client

RETENTION = timedelta(days=30)
PENDING = "pending"
READ_BATCH = 100  # BatchGetItem's most keys per request
READ_ATTEMPTS = 10


class Pending(GlobalSecondaryIndex["CallbackRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "pending"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    received_at = UnicodeAttribute(range_key=True)


class ByReceipt(GlobalSecondaryIndex["CallbackRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_receipt"
        projection = KeysOnlyProjection()

    received_day = UnicodeAttribute(hash_key=True)
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
    received_day = UnicodeAttribute(null=True)  # YYYY-MM-DD of received_at (index `by_receipt`: one day a partition)
    payload = PackedTextAttribute()  # the JSON body without its token (deflated: the item stays within 1 KB)
    # received | applied | unmatched | failed | ignored | unknown_status | unusable | abandoned
    state = UnicodeAttribute()
    result = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    pending = UnicodeAttribute(null=True)  # PENDING once an attempt could not apply it (sparse index)
    attempts = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)

    by_pending = Pending()
    by_receipt = ByReceipt()
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
    """Store the callback (without its token) unless it was stored before: (the record, whether it is new).

    It is recorded `received`, in the index `by_receipt` only: until it is settled, the sweep finds it there."""
    without_token = {key: value for key, value in payload.items() if key != "token"}
    received_at = iso(at)
    item = CallbackRecord(
        id=callback_id(number_id, without_token),
        number_id=number_id,
        event=event[:64],
        aircall_id=aircall_id,
        received_at=received_at,
        received_day=received_at[:10],
        payload=_canonical(without_token),
        state="received",
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


def unapplied(callback: CallbackRecord) -> bool:
    """Not applied yet: `received` (recorded, never settled) or `pending` (an attempt could not apply it)."""
    return bool(callback.pending) or callback.state == "received"


def keep_pending(callback: CallbackRecord, state: str, *, give_up: bool) -> None:
    """Count an attempt that could not apply the callback, which puts it in the `pending` index (the sweep
    tries it every minute); `give_up` takes it out of the sweep for good."""
    actions: list[Action] = [
        CallbackRecord.state.set("abandoned" if give_up else state),
        CallbackRecord.attempts.add(1),
        CallbackRecord.pending.remove() if give_up else CallbackRecord.pending.set(PENDING),
    ]
    callback.update(actions=actions, add_version_condition=False)


def abandon(callback: CallbackRecord) -> None:
    """Stop trying: the callback leaves the sweep (it stays recorded, state `abandoned`)."""
    callback.update(
        actions=[CallbackRecord.state.set("abandoned"), CallbackRecord.pending.remove()], add_version_condition=False
    )


def pending_before(moment: datetime, limit: int) -> list[CallbackRecord]:
    """Callbacks not applied yet that arrived before `moment`, oldest first."""
    return list(CallbackRecord.by_pending.query(PENDING, CallbackRecord.received_at < iso(moment), limit=limit))


def received_after(mark: str | None, upto: datetime, first_day: datetime, limit: int) -> list[tuple[str, str]]:
    """(received_at, id) of the callbacks received after `mark` (a `received_at`; None: since `first_day`) and at
    or before `upto`, oldest first, from the index `by_receipt` (a Query a day). At least `limit` when there are
    that many, and then every one received at the same moment as the last (so a mark never splits a moment)."""
    end = iso(upto)
    if mark is not None and mark >= end:
        return []
    found: list[tuple[str, str]] = []
    for day in _days(mark[:10] if mark else iso(first_day)[:10], end[:10]):
        for key_only in _received_on(day, mark, end):
            if len(found) >= limit and key_only[0] != found[-1][0]:
                return found
            found.append(key_only)
    return found


def _days(first: str, last: str) -> Iterator[str]:
    day = datetime.fromisoformat(first)
    while (name := day.date().isoformat()) <= last:
        yield name
        day += timedelta(days=1)


def _received_on(day: str, after: str | None, upto: str) -> Iterator[tuple[str, str]]:
    values: dict[str, Any] = {":day": {"S": day}, ":upto": {"S": upto}}
    if after is not None and after[:10] == day:
        condition = "received_day = :day AND received_at BETWEEN :after AND :upto"
        values[":after"] = {"S": after}
    else:
        condition = "received_day = :day AND received_at <= :upto"
    request = {
        "TableName": CallbackRecord.Meta.table_name,
        "IndexName": "by_receipt",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    for item in query_all(request):
        received_at = item["received_at"]["S"]
        if after is None or received_at > after:  # BETWEEN includes the mark itself: examined already
            yield received_at, item["id"]["S"]


def get_many(callback_ids: list[str]) -> list[CallbackRecord]:
    """The records of `callback_ids` (consistent BatchGetItem, 100 a request); the missing ones are left out."""
    table = CallbackRecord.Meta.table_name
    wanted = list(dict.fromkeys(callback_ids))
    found: dict[str, dict[str, Any]] = {}
    client = raw_client()
    for start in range(0, len(wanted), READ_BATCH):
        request: dict[str, Any] = {
            table: {"Keys": [{"id": {"S": one}} for one in wanted[start : start + READ_BATCH]], "ConsistentRead": True}
        }
        for _ in range(READ_ATTEMPTS):
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                found[item["id"]["S"]] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError("DynamoDB kept some callbacks unread")
    return [CallbackRecord.from_raw_data(found[one]) for one in wanted if one in found]


SWEEP_MARK_PK = "sweep#callbacks"
SWEEP_MARK_SK = "receipts"


def sweep_mark() -> str | None:
    """The sweep's mark: every callback received up to it (a `received_at`) was examined. None before its first."""
    item = (
        raw_client()
        .get_item(
            TableName=get_settings().ledger_table,
            Key={"pk": {"S": SWEEP_MARK_PK}, "sk": {"S": SWEEP_MARK_SK}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return str(item["mark"]["S"]) if item and "mark" in item else None


def move_sweep_mark(mark: str) -> None:
    """Move the mark forward to `mark` (never back: of two sweeps at once, the one further on wins)."""
    try:
        raw_client().update_item(
            TableName=get_settings().ledger_table,
            Key={"pk": {"S": SWEEP_MARK_PK}, "sk": {"S": SWEEP_MARK_SK}},
            UpdateExpression="SET mark = :mark",
            ConditionExpression="attribute_not_exists(mark) OR mark < :mark",
            ExpressionAttributeValues={":mark": {"S": mark}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def ids_about(aircall_id: str) -> list[str]:
    """The ids of every callback recorded about the Aircall message `aircall_id` (applied or not)."""
    return [key_only.id for key_only in CallbackRecord.by_aircall_id.query(aircall_id)]


def delete_all(callback_ids: list[str]) -> int:
    return batch_delete(CallbackRecord.Meta.table_name, [{"id": {"S": callback_id}} for callback_id in callback_ids])
