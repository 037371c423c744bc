"""The company's Aircall request budget, shared by every Lambda instance through the ledger.

Aircall allows a company a fixed number of API requests per minute (every endpoint, every caller; 60 by
default, `AIRCALL_REQUESTS_PER_MINUTE`). The gateway counts each request it makes in a counter per UTC minute
before making it, and refuses (or defers) a request that would pass the budget. What Aircall says wins: after a
429, or an answer saying no request remains, every instance stops calling Aircall until the reset Aircall
named (a minute when it named none) — the "aircall" ledger item, checked by every reservation.

This module owns the ledger items of the budget; deciding what Aircall's answers mean is `use_cases.budget`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from aircall_sms.domain import quota
from aircall_sms.domain.timeutil import iso, parse_time
from aircall_sms.errors import ServiceBusy
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger
from aircall_sms.store.base import THROTTLED, raw_client
from aircall_sms.store.transactions import (
    Guard,
    Plan,
    Refusal,
    condition_check,
    counter_update,
    text,
    transact,
    used_of,
)

REQUESTS = Guard("company_budget")
BLOCKED = Guard("aircall_blocked")
DEFAULT_BLOCK = timedelta(seconds=60)


def _table() -> str:
    return get_settings().ledger_table


def minute_key(now: datetime) -> dict[str, Any]:
    return {"pk": text(ledger.COMPANY), "sk": text(ledger.requests_sk(quota.minute_key(now)))}


def state_key() -> dict[str, Any]:
    return {"pk": text(ledger.COMPANY), "sk": text(ledger.AIRCALL_STATE)}


def add_charge(plan: Plan, now: datetime, requests: int = 1) -> None:
    """Add to `plan`: not blocked by Aircall, and `requests` more fit in this minute's budget."""
    plan.add(
        condition_check(
            _table(),
            state_key(),
            "attribute_not_exists(blocked_until) OR blocked_until <= :now",
            values={":now": text(iso(now))},
            return_old=True,  # its blocked_until says when to retry
        ),
        BLOCKED,
    )
    plan.add(
        counter_update(
            _table(),
            minute_key(now),
            amount=requests,
            limit=get_settings().aircall_requests_per_minute,
            expires_at=quota.minute_end(now) + quota.COMPANY_COUNTER_RETENTION,
        ),
        REQUESTS,
    )


def requests_used(now: datetime) -> int:
    """Aircall requests counted so far in the UTC minute of `now` (one consistent read of its counter)."""
    answer = raw_client().get_item(TableName=_table(), Key=minute_key(now), ConsistentRead=True)
    return used_of(answer.get("Item"))


def retry_at(refusals: list[Refusal], now: datetime) -> datetime | None:
    """When the budget reopens, if `refusals` include the budget's; None when the budget did not refuse."""
    moments = []
    for refusal in refusals:
        if refusal.guard is REQUESTS:
            moments.append(quota.minute_end(now))
        elif refusal.guard is BLOCKED:
            blocked = parse_time((refusal.item or {}).get("blocked_until", {}).get("S"))
            moments.append(blocked if blocked and blocked > now else now + DEFAULT_BLOCK)
    return max(moments) if moments else None


def charge(now: datetime) -> None:
    """Reserve one Aircall request now (number configuration and other single calls), or raise RateLimited."""
    plan = Plan()
    add_charge(plan, now)
    refusals = transact(plan)
    if refusals:
        until = retry_at(refusals, now) or quota.minute_end(now)
        raise quota.rate_limited(until, now)


def block_until(until: datetime) -> None:
    """Stop every instance calling Aircall until `until` (never shortens a longer block)."""
    moment = iso(until)
    try:
        raw_client().update_item(
            TableName=_table(),
            Key=state_key(),
            UpdateExpression="SET blocked_until = :until",
            ConditionExpression="attribute_not_exists(blocked_until) OR blocked_until < :until",
            ExpressionAttributeValues={":until": text(moment)},
        )
    except ServiceBusy:  # throttled past botocore's retries (store.base): the block is not worth a failed send
        logger.warning("could not record Aircall's block (DynamoDB throttled)", extra={"until": moment})
        return
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in THROTTLED:  # the block only spares Aircall calls Aircall would refuse: never fail a send over it
            logger.warning("could not record Aircall's block (DynamoDB throttled)", extra={"until": moment})
            return
        if code != "ConditionalCheckFailedException":
            raise
    logger.warning("Aircall's request budget is spent: calls paused", extra={"until": moment})
