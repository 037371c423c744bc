"""Publish the archive's and the contacts' changes on the gateway's event bus (the EventsFunction).

One batch of DynamoDB stream records in, PutEvents calls of at most 10 entries out (entries of several records
share a call), in stream order. The answer is the sequence numbers of the records that were not entirely
published, for Lambda's `ReportBatchItemFailures`. Lambda retries a stream batch from the lowest sequence
number reported, so every record after the first failure is retried anyway: publishing stops at the first
record that cannot be mapped or whose entries EventBridge refused, and that record and all the later ones are
reported. Entries already accepted in the failing call are published again on the retry: delivery is at least
once, and consumers deduplicate (docs/api.md, "Events").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import events, services
from ..observability import logger, metrics

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit


def publish_changes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Publish the events of `records`; returns the sequence numbers of the records to retry (none: all done)."""
    pending: list[tuple[int, dict[str, Any]]] = []  # (index of the record, entry), in stream order
    first_failed = len(records)
    failed_entries = 0
    for index, record in enumerate(records):
        try:
            pending.extend((index, entry) for entry in events.entries(record))
        except Exception:
            logger.exception("stream record could not be mapped to events", extra=_describe(record))
            first_failed, failed_entries = index, 1
            break
    published = 0
    for start in range(0, len(pending), MAX_ENTRIES_PER_CALL):
        chunk = pending[start : start + MAX_ENTRIES_PER_CALL]
        if chunk[0][0] >= first_failed:
            break
        refused = _put(chunk)
        published += len(chunk) - len(refused)
        failed_entries += len(refused)
        if refused:
            first_failed = min(first_failed, *refused)
            break
    metrics.add_metric(name="EventsPublished", unit="Count", value=published)
    metrics.add_metric(name="EventsFailed", unit="Count", value=failed_entries)
    retry = [_sequence_number(record) for record in records[first_failed:]]
    if retry:
        logger.warning("stream records left for a retry", extra={"records": len(retry), "first": retry[0]})
    return retry


def _put(chunk: list[tuple[int, dict[str, Any]]]) -> list[int]:
    """One PutEvents call; the record indexes of the entries it did not publish (all of them if it failed)."""
    try:
        answer = services.event_bridge().put_events(Entries=[entry for _, entry in chunk])
    except Exception:
        logger.exception("PutEvents failed", extra={"entries": len(chunk)})
        return [index for index, _ in chunk]
    results = answer.get("Entries") or []
    refused: list[int] = []
    for position, (index, entry) in enumerate(chunk):
        result = results[position] if position < len(results) else {"ErrorCode": "NoResult"}
        if result.get("ErrorCode") or not result.get("EventId"):
            refused.append(index)
            logger.error(
                "event refused by EventBridge",
                extra={
                    "detail_type": entry["DetailType"],
                    "error_code": result.get("ErrorCode"),
                    "error_message": result.get("ErrorMessage"),
                },
            )
    return refused


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")


def _describe(record: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a record in the logs, without its images (phone numbers, texts)."""
    return {
        "sequence_number": _sequence_number(record),
        "event_name": record.get("eventName"),
        "table": events.table_name(str(record.get("eventSourceARN") or "")),
    }
