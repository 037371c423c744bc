"""Sender pools: PUT, GET, list and DELETE /pools/{id} (sending from one is `use_cases.send.pool`).

A pool is 1-16 distinct configured numbers of one country (the US with Canada counts as one). A key limited to
numbers sees and manages only the pools made entirely of its numbers, and sends only from those: a pool is as
much as each of its numbers, never a way around a key's limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aircall_sms.domain import pools as rules
from aircall_sms.domain.access import Principal
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.errors import (
    DuplicateNumber,
    InvalidRequest,
    NumberNotAllowed,
    PoolEmpty,
    PoolMixedCountries,
    PoolNotFound,
    PoolNumberNotConfigured,
    PoolTooLarge,
)
from aircall_sms.store import numbers, pools
from aircall_sms.use_cases.numbers import parse_number_id

if TYPE_CHECKING:  # an annotation only: pydantic is loaded by the routes that validate
    from aircall_sms.domain.requests import PoolRequest


def parse_pool_id(raw: str) -> str:
    if not rules.is_pool_id(raw):
        raise InvalidRequest(
            "A pool id is 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit.",
            details={"field": "id"},
        )
    return raw


def require_pool(principal: Principal, record: pools.PoolRecord) -> None:
    """A key limited to numbers uses a pool only when it may use every number of it."""
    if any(not principal.allows(number_id) for number_id in record.number_ids):
        raise NumberNotAllowed(
            "This key is limited to numbers and the pool has others.", details={"pool_id": record.pool_id}
        )


def put_pool(principal: Principal, raw_id: str, request: PoolRequest) -> tuple[dict[str, Any], bool]:
    """Create or replace the pool; (the pool, created?)."""
    pool_id = parse_pool_id(raw_id)
    number_ids = _checked_numbers(principal, request)
    existing = pools.get(pool_id)
    if existing is not None:
        require_pool(principal, existing)
    now = iso(utcnow())
    record = pools.PoolRecord(
        pool_id=pool_id,
        number_ids=number_ids,
        client_id=principal.client_id,
        created_at=existing.created_at if existing is not None else now,
        updated_at=now,
    )
    pools.save(record)
    return record.to_api(), existing is None


def _checked_numbers(principal: Principal, request: PoolRequest) -> list[str]:
    if not request.number_ids:
        raise PoolEmpty("A pool needs at least one number.", details={"field": "number_ids"})
    if len(request.number_ids) > rules.MAX_POOL_NUMBERS:
        raise PoolTooLarge(
            f"A pool has at most {rules.MAX_POOL_NUMBERS} numbers.",
            details={"field": "number_ids", "count": len(request.number_ids), "limit": rules.MAX_POOL_NUMBERS},
        )
    number_ids: list[str] = []
    for index, raw in enumerate(request.number_ids):
        try:
            number_id = parse_number_id(str(raw))
        except InvalidRequest:
            raise InvalidRequest(
                "number_ids are Aircall's numeric number ids.", details={"field": "number_ids", "index": index}
            ) from None
        if number_id in number_ids:
            raise DuplicateNumber(
                "A number appears twice in the pool.",
                details={"field": "number_ids", "index": index, "number_id": int(number_id)},
            )
        principal.require_number(number_id)
        number_ids.append(number_id)
    regions: dict[str, str] = {}
    for index, number_id in enumerate(number_ids):
        record = numbers.get(number_id)
        if record is None:
            raise PoolNumberNotConfigured(
                "The pool names a number this gateway does not have (PUT /numbers/{number_id} first).",
                details={"field": "number_ids", "index": index, "number_id": int(number_id)},
            )
        regions[number_id] = record.region
    if not rules.same_country(list(regions.values())):
        raise PoolMixedCountries(
            "A pool's numbers are of one country (the US with Canada counts as one): Aircall sends domestic "
            "messages only.",
            details={"field": "number_ids", "regions": sorted(set(regions.values()))},
        )
    return number_ids


def get_pool(principal: Principal, raw_id: str) -> dict[str, Any]:
    record = pools.get(parse_pool_id(raw_id))
    if record is None or any(not principal.allows(number_id) for number_id in record.number_ids):
        raise PoolNotFound("No such pool.", details={"pool_id": raw_id})
    return record.to_api()


def list_pools(principal: Principal) -> list[dict[str, Any]]:
    return [
        record.to_api()
        for record in pools.list_all()
        if all(principal.allows(number_id) for number_id in record.number_ids)
    ]


def delete_pool(principal: Principal, raw_id: str) -> dict[str, Any]:
    pool_id = parse_pool_id(raw_id)
    record = pools.get(pool_id)
    if record is None:
        raise PoolNotFound("No such pool.", details={"pool_id": pool_id})
    require_pool(principal, record)
    if not pools.delete(pool_id):
        raise PoolNotFound("No such pool.", details={"pool_id": pool_id})
    return {"deleted": True, "id": pool_id}
