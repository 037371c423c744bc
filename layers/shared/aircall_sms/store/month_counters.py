"""The monthly usage counters in the ledger (LedgerTable): one item per month and number,
`usage_month#<YYYY-MM>` / `<number_id>`, whose attributes are counters (`usage_counts` names them).

A month is one partition, so the report of every number of a month is one Query, also for numbers removed since.
The counters are written from the archive's stream, which Lambda delivers at least once; every change is added
in one transaction with a marker of its stream event id (`usage_event#<id>`, kept two days: the stream keeps a
record for one), so a change delivered again is never counted twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aircall_sms.domain.timeutil import iso
from aircall_sms.domain.usage_counts import Counts
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger
from aircall_sms.store.base import query_all, raw_client
from aircall_sms.store.transactions import Guard, Plan, transact

MARKER_RETENTION = timedelta(days=2)
_COUNTED = "counted"


def count_once(event_id: str, counts: Counts, now: datetime) -> bool:
    """Add `counts` unless the change `event_id` was counted before; False when it was (nothing changes)."""
    table = get_settings().ledger_table
    names = {f"#c{index}": name for index, name in enumerate(counts.increments)}
    values = {f":c{index}": {"N": str(value)} for index, value in enumerate(counts.increments.values())}
    plan = Plan()
    plan.add(
        {
            "Put": {
                "TableName": table,
                "Item": {
                    "pk": {"S": ledger.usage_event_pk(event_id)},
                    "sk": {"S": ledger.IDEMPOTENCY_SK},
                    "created_at": {"S": iso(now)},
                    "expires_at": {"N": str(int((now + MARKER_RETENTION).timestamp()))},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        Guard(_COUNTED),
    )
    plan.add(
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": ledger.usage_month_pk(counts.month)}, "sk": {"S": counts.number_id}},
                "UpdateExpression": "ADD " + ", ".join(f"{name} :{name[1:]}" for name in names),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
    )
    refusals = transact(plan)
    if any(refusal.guard.kind != _COUNTED for refusal in refusals):
        raise RuntimeError("the usage counters refused an unconditional update")
    return not refusals


def read_month(month: str, number_id: str | None = None) -> dict[str, dict[str, int]]:
    """number_id -> counters of `month`: every number that has counters (one Query, following its pages), or
    only `number_id` (one GetItem)."""
    client = raw_client()
    table = get_settings().ledger_table
    partition = {"S": ledger.usage_month_pk(month)}
    if number_id is not None:
        item = client.get_item(TableName=table, Key={"pk": partition, "sk": {"S": number_id}}).get("Item")
        return {number_id: _counters(item)} if item else {}
    found: dict[str, dict[str, int]] = {}
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :month",
        "ExpressionAttributeValues": {":month": partition},
    }
    for item in query_all(request):
        found[item["sk"]["S"]] = _counters(item)
    return found


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}
