"""Atomic reservations in DynamoDB: one TransactWriteItems that either passes every check and charges every
counter, or changes nothing and says which items refused.

A `Plan` is a list of transaction items, each tagged with what its refusal means (`Guard`): an opt-out exists,
a quota window is full, the idempotency key was used before... `transact` runs it, retrying only
DynamoDB's own transaction conflicts (two transactions on one item at once), and returns the refusals. Conflicts
that persist and throttling that outlasts botocore's retries are `ServiceBusy` (nothing was written).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from aircall_sms.errors import ServiceBusy
from aircall_sms.observability import logger
from aircall_sms.store.base import THROTTLED, raw_client

CONFLICT_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Guard:
    """What a refused transaction item means: `kind` ("quota", "opted_out", ...) and kind-specific data."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refusal:
    guard: Guard
    item: dict[str, Any] | None  # the item as it was (ALL_OLD), when DynamoDB returned it


@dataclass(slots=True)
class Plan:
    items: list[dict[str, Any]] = field(default_factory=list)
    guards: list[Guard | None] = field(default_factory=list)

    def add(self, item: dict[str, Any], guard: Guard | None = None) -> None:
        self.items.append(item)
        self.guards.append(guard)

    def __len__(self) -> int:
        return len(self.items)


def transact(plan: Plan) -> list[Refusal]:
    """Run `plan` atomically. [] when it committed; else the refusals (nothing was written).

    A plan of one write is sent as that write (PutItem, UpdateItem, DeleteItem with the same condition): as
    atomic, and half the cost, since DynamoDB bills a transaction's writes twice."""
    client = raw_client()
    if len(plan) == 1:
        ((kind, operation),) = plan.items[0].items()
        if kind in _SINGLE_WRITES:
            return _write_one(client, kind, operation, plan.guards[0])
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            client.transact_write_items(TransactItems=plan.items)
        except ClientError as error:
            _raise_if_throttled(error)
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            refusals = [
                Refusal(guard=guard or Guard("unexpected"), item=dict(reason.get("Item") or {}) or None)
                for reason, guard in zip(reasons, plan.guards, strict=False)
                if reason.get("Code") == "ConditionalCheckFailed"
            ]
            if refusals:
                return refusals
            codes = {reason.get("Code") for reason in reasons} - {"None", None}
            if codes <= {"TransactionConflict"} and attempt + 1 < CONFLICT_ATTEMPTS:
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not cryptography # nosec B311
                continue
            logger.warning("reservation cancelled", extra={"reasons": sorted(str(code) for code in codes)})
            raise ServiceBusy(
                "The gateway is busy with concurrent requests on the same counters; retry shortly.",
                headers={"Retry-After": "1"},
            ) from None
        return []
    raise AssertionError("unreachable")


_SINGLE_WRITES = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}


def commit(items: list[dict[str, Any]]) -> bool:
    """Run `items` atomically when no refusal needs telling apart: True when committed, False when a condition
    refused them (nothing was written)."""
    plan = Plan()
    for item in items:
        plan.add(item)
    return not transact(plan)


def transact_one(item: dict[str, Any]) -> bool:
    """Run one write item alone (as its single write): True when written, False when its condition refused it."""
    return commit([item])


def _raise_if_throttled(error: ClientError) -> None:
    code = error.response.get("Error", {}).get("Code")
    if code in THROTTLED:
        logger.warning("DynamoDB throttled a write", extra={"code": code})
        raise ServiceBusy(
            "DynamoDB is throttling the gateway's writes; retry shortly.", headers={"Retry-After": "1"}
        ) from None


def _write_one(client: Any, kind: str, operation: dict[str, Any], guard: Guard | None) -> list[Refusal]:
    try:
        getattr(client, _SINGLE_WRITES[kind])(**operation)
    except ClientError as error:
        _raise_if_throttled(error)
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        old: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]  # with ALL_OLD
        return [Refusal(guard=guard or Guard("unexpected"), item=dict(old) if old else None)]
    return []


def number(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def text(value: str) -> dict[str, str]:
    return {"S": value}


def counter_update(
    table: str,
    key: Mapping[str, Any],
    *,
    amount: int,
    limit: int | None,
    expires_at: datetime,
) -> dict[str, Any]:
    """Add `amount` to `used`, only while `used + amount <= limit` (no limit: always)."""
    update: dict[str, Any] = {
        "TableName": table,
        "Key": dict(key),
        "UpdateExpression": "ADD used :amount SET expires_at = if_not_exists(expires_at, :expires)",
        "ExpressionAttributeValues": {":amount": number(amount), ":expires": number(int(expires_at.timestamp()))},
    }
    if limit is not None:
        update["UpdateExpression"] += ", #limit = :limit"
        # More than the whole limit never fits, not even in a window nobody has used yet.
        fits_when_unused = amount <= limit
        update["ConditionExpression"] = (
            "attribute_not_exists(used) OR used <= :max" if fits_when_unused else "used <= :max"
        )
        update["ExpressionAttributeNames"] = {"#limit": "limit"}
        update["ExpressionAttributeValues"] |= {":limit": number(limit), ":max": number(limit - amount)}
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": update}


def release_update(table: str, key: Mapping[str, Any], *, amount: int) -> dict[str, Any]:
    """Give back `amount` reserved earlier (the item exists: the reservation created it)."""
    return {
        "Update": {
            "TableName": table,
            "Key": dict(key),
            "UpdateExpression": "ADD used :amount",
            "ConditionExpression": "attribute_exists(used)",
            "ExpressionAttributeValues": {":amount": number(-amount)},
        }
    }


def condition_check(
    table: str,
    key: Mapping[str, Any],
    expression: str,
    *,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    return_old: bool = False,
) -> dict[str, Any]:
    check: dict[str, Any] = {"TableName": table, "Key": dict(key), "ConditionExpression": expression}
    if return_old:
        check["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names:
        check["ExpressionAttributeNames"] = dict(names)
    if values:
        check["ExpressionAttributeValues"] = dict(values)
    return {"ConditionCheck": check}


def put_new(table: str, item: Mapping[str, Any], key_attribute: str, *, return_old: bool = False) -> dict[str, Any]:
    put: dict[str, Any] = {
        "TableName": table,
        "Item": dict(item),
        "ConditionExpression": "attribute_not_exists(#key)",
        "ExpressionAttributeNames": {"#key": key_attribute},
    }
    if return_old:
        put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Put": put}


def used_of(item: Mapping[str, Any] | None) -> int:
    """`used` of a ledger item in DynamoDB JSON (0 when absent)."""
    if not item or "used" not in item:
        return 0
    return int(item["used"]["N"])
