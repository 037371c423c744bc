"""The deployment's limit table (`LIMITS_JSON`, validated on first use, else Aircall's published limits) and
the quota windows a configured number sends in."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import lru_cache

from aircall_sms.domain import campaigns, quota
from aircall_sms.domain.limits import DEFAULT_TABLE, LimitTable
from aircall_sms.settings import get_settings
from aircall_sms.store.numbers import NumberRecord


@lru_cache(maxsize=4)
def _table(document: str) -> LimitTable:
    return LimitTable.from_json(document) if document else DEFAULT_TABLE


def limit_table() -> LimitTable:
    return _table(get_settings().limits_json)


def number_windows(number: NumberRecord, now: datetime, *, campaign: bool = False) -> list[quota.Window]:
    """The quota windows of `number` containing `now`, with the number's limits, longest first. `campaign`: as a
    campaign's message is charged, each limit capped at the campaign's share (`CAMPAIGN_SHARE_PERCENT`), so live
    sends keep the rest of every window."""
    limits = quota.limits_for(
        limit_table(), region=number.region, kind=number.kind, registration=number.registration, overrides=number.limits
    )
    found = quota.windows_at(limits, now)
    return campaign_windows(found) if campaign else found


def campaign_windows(window_list: list[quota.Window]) -> list[quota.Window]:
    """`window_list` as a campaign's message sees it: each limit capped at the campaign's share."""
    share = get_settings().campaign_share_percent / 100
    return [dataclasses.replace(window, limit=campaigns.window_cap(window.limit, share)) for window in window_list]
