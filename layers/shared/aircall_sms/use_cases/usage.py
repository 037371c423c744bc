"""Monthly usage per number: counting the archive's changes (the UsageFunction, on MessagesTable's stream) and
the report (GET /usage?month=YYYY-MM[&number_id=]).

Why the stream: the counters must see every write that creates or moves a message — the send, its outcome, the
dispatcher's claims and expiries, the callbacks, a number's removal — and the send path may not pay another
round trip. The stream sees every one of them in one place, after the fact, at no cost to any request; the
report lags the archive by the stream's delay (a second or two). A Query of the archive at report time would
read every message of the month (tens of thousands for a busy number) and forget what the retention period or
an erasure removed; counters keep usage as history.

Lambda delivers a stream record at least once, so each change is counted in one transaction with a marker of
its stream event id (`store.month_counters`): a redelivered change counts nothing. The batch is counted in
stream order; the first record that cannot be counted and every later one are reported for Lambda to retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from aircall_sms.domain import phone
from aircall_sms.domain.access import Principal
from aircall_sms.domain.prices import PriceTable
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.domain.usage_counts import counts_of, report_item
from aircall_sms.errors import InvalidRequest
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import month_counters, streams
from aircall_sms.use_cases.numbers import parse_number_id

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


# ------------------------------------------------------------------------------------------------ counting
def count_changes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Count the archive changes of one stream batch; the sequence numbers of the records to retry (none: all
    counted)."""
    counted = 0
    for index, record in enumerate(records):
        try:
            if streams.source_table(record) != "messages":
                continue
            counts = counts_of(record, _country)
            if counts is not None:
                counted += month_counters.count_once(_event_id(record), counts, utcnow())
        except Exception:
            logger.exception("an archive change could not be counted", extra=_describe(record))
            retry = [_sequence_number(later) for later in records[index:]]
            metrics.add_metric(name="UsageChangesCounted", unit="Count", value=counted)
            metrics.add_metric(name="UsageChangesFailed", unit="Count", value=len(retry))
            return retry
    metrics.add_metric(name="UsageChangesCounted", unit="Count", value=counted)
    return []


def _country(contact: str) -> str | None:
    try:
        return phone.parse(contact).region
    except phone.InvalidPhoneNumber:
        return None


# ------------------------------------------------------------------------------------------------ the report
def usage_report(principal: Principal, month: str | None, number_id: str | None) -> dict[str, Any]:
    """GET /usage: every number's usage of `month` (default: the current UTC month), or `number_id`'s alone
    (zeros when it had none), number by number; a key limited to numbers sees those numbers only."""
    if month is None or month == "":
        month = utcnow().strftime("%Y-%m")
    elif not _MONTH.fullmatch(month):
        raise InvalidRequest("month is a UTC month as YYYY-MM, e.g. 2026-11.", details={"field": "month"})
    named = parse_number_id(number_id) if number_id else None
    if named is not None:
        principal.require_number(named)
    counters = {
        number: found for number, found in month_counters.read_month(month, named).items() if principal.allows(number)
    }
    if named is not None:
        counters.setdefault(named, {})
    prices = price_table()
    items = [report_item(number, counters[number], prices) for number in sorted(counters, key=int)]
    return {"month": month, "items": items, "next_cursor": None}


def price_table() -> PriceTable | None:
    """The deployment's price table (`PRICE_TABLE_JSON`, validated on first use); None: no cost estimates."""
    return _table(get_settings().price_table_json)


@lru_cache(maxsize=4)
def _table(document: str) -> PriceTable | None:
    return PriceTable.from_json(document) if document else None


def _event_id(record: Mapping[str, Any]) -> str:
    """What names this change for good: Lambda's `eventID` (the same on every delivery of the record)."""
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("the stream record has no eventID")
    return event_id


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")


def _describe(record: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a record in the logs, without its images (phone numbers, texts)."""
    return {"sequence_number": _sequence_number(record), "event_name": record.get("eventName")}
