"""Sender pools (LedgerTable, `pk` "pool", `sk` the pool id): the numbers a send from "pool:<id>" chooses among.

One partition holds every pool, so GET /pools is one Query. A send caches the pool per instance (as it caches
numbers) and its reservation checks that the pool is unchanged (`unchanged_check`), so a pool edited or deleted
meanwhile starts the send over on a fresh read.
"""

from __future__ import annotations

import time
from typing import Any

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist

from aircall_sms.store.base import GatewayModel, TableName
from aircall_sms.store.transactions import condition_check

POOLS_PK = "pool"


class PoolRecord(GatewayModel):
    class Meta:
        table_name = TableName("ledger_table")

    pk = UnicodeAttribute(hash_key=True, default=POOLS_PK)
    pool_id = UnicodeAttribute(range_key=True, attr_name="sk")
    number_ids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]
    client_id = UnicodeAttribute(null=True)  # the client key that last wrote it (audit)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.pool_id,
            "number_ids": [int(number_id) for number_id in self.number_ids],
            "client_id": self.client_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def get(pool_id: str) -> PoolRecord | None:
    try:
        record = PoolRecord.get(POOLS_PK, pool_id, consistent_read=True)
    except DoesNotExist:
        _cache.pop(pool_id, None)
        return None
    _cache[pool_id] = (time.monotonic(), record)
    return record


def list_all() -> list[PoolRecord]:
    return list(PoolRecord.query(POOLS_PK, consistent_read=True))


def save(record: PoolRecord) -> None:
    record.save()
    _cache.pop(record.pool_id, None)


def delete(pool_id: str) -> bool:
    """Delete the pool; False when there was none."""
    _cache.pop(pool_id, None)
    try:
        PoolRecord(POOLS_PK, pool_id).delete(condition=PoolRecord.pool_id.exists())
    except DeleteError as failure:
        if failure.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def unchanged_check(record: PoolRecord) -> dict[str, Any]:
    """The transaction item that holds only while the pool is as `record` read it (its `updated_at`)."""
    return condition_check(
        PoolRecord.Meta.table_name,
        {"pk": {"S": POOLS_PK}, "sk": {"S": record.pool_id}},
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
