"""Sender pools (LedgerTable, `pk` "pool", `sk` the pool id): the numbers a send from "pool:<id>" chooses among.

One partition holds every pool, so GET /pools is one Query. A send caches the pool per instance (as it caches
numbers) and its reservation checks that the pool is unchanged (`unchanged_check`), so a pool edited or deleted
meanwhile starts the send over on a fresh read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aircall_sms.settings import get_settings
from aircall_sms.store.base import query_all, raw_client
from aircall_sms.store.transactions import condition_check

POOLS_PK = "pool"


@dataclass(slots=True)
class PoolRecord:
    """One pool as stored (a plain item of the ledger, written with the raw client: the ledger's pynamodb model
    is `ledger.LedgerItem`, and one table has one model)."""

    pool_id: str
    number_ids: list[str]
    created_at: str
    updated_at: str
    client_id: str | None = None  # the client key that last wrote it (audit)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.pool_id,
            "number_ids": [int(number_id) for number_id in self.number_ids],
            "client_id": self.client_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": POOLS_PK},
            "sk": {"S": self.pool_id},
            "number_ids": {"L": [{"S": number_id} for number_id in self.number_ids]},
            "created_at": {"S": self.created_at},
            "updated_at": {"S": self.updated_at},
        }
        if self.client_id is not None:
            item["client_id"] = {"S": self.client_id}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PoolRecord:
        return cls(
            pool_id=item["sk"]["S"],
            number_ids=[value["S"] for value in item.get("number_ids", {}).get("L", [])],
            created_at=item["created_at"]["S"],
            updated_at=item["updated_at"]["S"],
            client_id=item.get("client_id", {}).get("S"),
        )


def _table() -> str:
    return get_settings().ledger_table


def _key(pool_id: str) -> dict[str, Any]:
    return {"pk": {"S": POOLS_PK}, "sk": {"S": pool_id}}


def get(pool_id: str) -> PoolRecord | None:
    item = raw_client().get_item(TableName=_table(), Key=_key(pool_id), ConsistentRead=True).get("Item")
    if item is None:
        _cache.pop(pool_id, None)
        return None
    record = PoolRecord.from_item(item)
    _cache[pool_id] = (time.monotonic(), record)
    return record


def list_all() -> list[PoolRecord]:
    request = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": POOLS_PK}},
        "ConsistentRead": True,
    }
    return [PoolRecord.from_item(item) for item in query_all(request)]


def save(record: PoolRecord) -> None:
    raw_client().put_item(TableName=_table(), Item=record.to_item())
    _cache.pop(record.pool_id, None)


def delete(pool_id: str) -> bool:
    """Delete the pool; False when there was none."""
    _cache.pop(pool_id, None)
    client = raw_client()
    try:
        client.delete_item(TableName=_table(), Key=_key(pool_id), ConditionExpression="attribute_exists(pk)")
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def unchanged_check(record: PoolRecord) -> dict[str, Any]:
    """The transaction item that holds only while the pool is as `record` read it (its `updated_at`)."""
    return condition_check(
        _table(),
        _key(record.pool_id),
        "updated_at = :seen",
        values={":seen": {"S": record.updated_at}},
    )


# Warm instances keep the pools they used for a short while (never deciding correctness: see the docstring).
_cache: dict[str, tuple[float, PoolRecord]] = {}


def cached(pool_id: str, max_age: float) -> PoolRecord | None:
    entry = _cache.get(pool_id)
    if entry is not None and time.monotonic() - entry[0] < max_age:
        return entry[1]
    return get(pool_id)


def forget(pool_id: str | None = None) -> None:
    if pool_id is None:
        _cache.clear()
    else:
        _cache.pop(pool_id, None)
