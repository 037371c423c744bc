"""The deployment's limit table (`LIMITS_JSON`, validated on first use, else Aircall's published limits) and
the quota windows a configured number sends in."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from aircall_sms.domain import quota
from aircall_sms.domain.limits import DEFAULT_TABLE, LimitTable
from aircall_sms.settings import get_settings
from aircall_sms.store.numbers import NumberRecord


@lru_cache(maxsize=4)
def _table(document: str) -> LimitTable:
    return LimitTable.from_json(document) if document else DEFAULT_TABLE


def limit_table() -> LimitTable:
    return _table(get_settings().limits_json)


def number_windows(number: NumberRecord, now: datetime) -> list[quota.Window]:
    """The quota windows of `number` containing `now`, with the number's limits, longest first."""
    limits = quota.limits_for(
        limit_table(), region=number.region, kind=number.kind, registration=number.registration, overrides=number.limits
    )
    return quota.windows_at(limits, now)
