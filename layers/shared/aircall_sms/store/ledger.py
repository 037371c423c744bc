"""The ledger (LedgerTable): quota counters, the company's Aircall request budget, idempotency records.

Items share one table, told apart by their keys:

    pk                              sk                        what
    quota#<number_id>               hour#2026-11-26T14        segments admitted in that window (`used`)
                                    day#2026-11-26 / week#2026-W48 / month#2026-11
    usage#<number_id>               hour#2026-11-26T14 ...    a closed window's final count (usage history)
    usage_month#2026-11             <number_id>               the month's message counters of a number (GET /usage)
    usage_event#<stream event id>   -                         that archive change was counted (2 days, TTL)
    company                         requests#2026-11-26T14:05 Aircall API requests made in that UTC minute
    company                         aircall                   what Aircall said: blocked until (after a 429)
    idempotency#<sha256 of client+key> -                      the first request's fingerprint and answer
    sweep#callbacks                 receipts                  the callbacks' sweep's mark (`mark`): every callback
                                                              received up to it was examined (store.callbacks)

Counters are keyed by window, so nothing has to reset them: a new window is a new item. Each carries
`expires_at` (TTL) days after its window ends; the scheduled rollover first copies the closed windows into the
usage history, which does not expire. The monthly message counters are written by the UsageFunction from the
archive's stream (`use_cases.usage`) and do not expire either.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from aircall_sms.domain import quota
from aircall_sms.store.base import GatewayModel, TableName
from aircall_sms.store.transactions import counter_update, release_update

COMPANY = "company"
AIRCALL_STATE = "aircall"


class LedgerItem(GatewayModel):
    """Every ledger item; which attributes are set depends on the kind (see the module docstring)."""

    class Meta:
        table_name = TableName("ledger_table")

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    used = NumberAttribute(null=True)
    limit = NumberAttribute(null=True)
    blocked_until = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    fingerprint = UnicodeAttribute(null=True)
    answer = JSONAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def quota_pk(number_id: str) -> str:
    return f"quota#{number_id}"


def usage_pk(number_id: str) -> str:
    return f"usage#{number_id}"


def usage_month_pk(month: str) -> str:
    return f"usage_month#{month}"


def usage_event_pk(event_id: str) -> str:
    return f"usage_event#{event_id}"


def window_sk(window: str, key: str) -> str:
    return f"{window}#{key}"


def requests_sk(minute_key: str) -> str:
    return f"requests#{minute_key}"


def idempotency_pk(key_digest: str) -> str:
    return f"idempotency#{key_digest}"


IDEMPOTENCY_SK = "-"


def window_key(number_id: str, window: quota.Window) -> dict[str, Any]:
    return {"pk": {"S": quota_pk(number_id)}, "sk": {"S": window_sk(window.name, window.key)}}


def window_charge(number_id: str, window: quota.Window, segments: int) -> dict[str, Any]:
    """The transaction item that charges `segments` to the number's `window`, only while they fit its limit."""
    return counter_update(
        LedgerItem.Meta.table_name,
        window_key(number_id, window),
        amount=segments,
        limit=window.limit,
        expires_at=window.end + quota.COUNTER_RETENTION,
    )


def window_release(number_id: str, window: quota.Window, segments: int) -> dict[str, Any]:
    """The transaction item that gives back `segments` charged earlier (nothing was sent)."""
    return release_update(LedgerItem.Meta.table_name, window_key(number_id, window), amount=segments)
