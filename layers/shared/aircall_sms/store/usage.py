"""One consistent read of a number's usage: the counters of every quota window containing `now`, the company's
Aircall request counter of the minute and what Aircall said (blocked until), optionally with facts about one
contact, in one BatchGetItem. GET /numbers/{number_id}/quota and the dry run of a send both read through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aircall_sms.domain import quota
from aircall_sms.domain.timeutil import parse_time
from aircall_sms.settings import get_settings
from aircall_sms.store import ledger
from aircall_sms.store.base import raw_client
from aircall_sms.store.numbers import NumberRecord
from aircall_sms.store.transactions import used_of

BATCH_ATTEMPTS = 10
BATCH_KEYS = 100  # BatchGetItem's most keys per request


@dataclass(frozen=True, slots=True)
class Usage:
    """`used` in segments by window name; `company_used` Aircall requests this minute; `contact_items` the
    contact items asked for, by the caller's names (None: no such item)."""

    windows: list[quota.Window]
    used: dict[str, int]
    company_used: int
    blocked_until: datetime | None
    contact_items: dict[str, dict[str, Any] | None]


def read_usage(
    number_id: str,
    window_list: list[quota.Window],
    now: datetime,
    *,
    contact: str | None = None,
    contact_keys: Mapping[str, str] | None = None,
) -> Usage:
    """The usage of the number in `window_list` (its windows containing `now`) and, when `contact` is given, its
    ContactsTable items named by `contact_keys` (name -> sort key), all in one consistent BatchGetItem."""
    settings = get_settings()
    ledger_keys = {
        f"window:{window.name}": (ledger.quota_pk(number_id), ledger.window_sk(window.name, window.key))
        for window in window_list
    }
    ledger_keys["company"] = (ledger.COMPANY, ledger.requests_sk(quota.minute_key(now)))
    ledger_keys["aircall"] = (ledger.COMPANY, ledger.AIRCALL_STATE)
    wanted_contact_keys = dict(contact_keys or {}) if contact is not None else {}
    found = batch_read(
        {
            settings.contacts_table: [
                {"contact": {"S": contact}, "sk": {"S": sk}} for sk in wanted_contact_keys.values()
            ],
            settings.ledger_table: [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in set(ledger_keys.values())],
        }
    )

    def ledger_item(name: str) -> dict[str, Any]:
        return found.get((settings.ledger_table, *ledger_keys[name])) or {}

    return Usage(
        windows=window_list,
        used={window.name: used_of(ledger_item(f"window:{window.name}")) for window in window_list},
        company_used=used_of(ledger_item("company")),
        blocked_until=parse_time(ledger_item("aircall").get("blocked_until", {}).get("S")),
        contact_items={
            name: found.get((settings.contacts_table, contact or "", sk)) for name, sk in wanted_contact_keys.items()
        },
    )


def current_usage(
    wanted: list[tuple[NumberRecord, quota.Window]],
) -> list[tuple[NumberRecord, quota.Window, int]]:
    """The segments used in each window of `wanted` (consistent BatchGetItem, 100 windows per request)."""
    settings = get_settings()

    def key(number: NumberRecord, window: quota.Window) -> tuple[str, str]:
        return ledger.quota_pk(number.number_id), ledger.window_sk(window.name, window.key)

    keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in (key(*pair) for pair in wanted)]
    found = batch_read({settings.ledger_table: keys})
    return [
        (number, window, used_of(found.get((settings.ledger_table, *key(number, window))))) for number, window in wanted
    ]


def batch_read(keys_by_table: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """BatchGetItem (consistent), `BATCH_KEYS` keys per request, following UnprocessedKeys; items by (table, hash
    key, range key)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    pairs = [(table, key) for table, keys in keys_by_table.items() for key in keys]
    client = raw_client()
    for start in range(0, len(pairs), BATCH_KEYS):
        request: dict[str, Any] = {}
        for table, key in pairs[start : start + BATCH_KEYS]:
            request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
        for _ in range(BATCH_ATTEMPTS):
            if not request:
                break
            answer = client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                for item in items:
                    hash_key = item.get("contact", item.get("pk", {})).get("S", "")
                    found[(table, hash_key, item["sk"]["S"])] = item
            request = answer.get("UnprocessedKeys") or {}
    return found
