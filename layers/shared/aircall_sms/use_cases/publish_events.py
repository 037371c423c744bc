"""Publish the archive's and the contacts' changes on the gateway's event bus (the EventsFunction).

One batch of DynamoDB stream records in, PutEvents calls of at most 10 entries and 256 KiB out (entries of several
records share a call; an entry's size is counted as EventBridge counts it, `entry_size`), in stream order. The
answer is the sequence numbers of the records that were not entirely published, for Lambda's
`ReportBatchItemFailures`. Lambda retries a stream batch from the lowest sequence number reported, so every record
after the first failure is retried anyway: publishing stops at the first record that cannot be mapped or whose
entries EventBridge refused, and that record and all the later ones are reported. Entries already accepted in the
failing call are published again on the retry: delivery is at least once, and consumers deduplicate (docs/api.md,
"Events").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aircall_sms.domain import events
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import streams
from aircall_sms.use_cases import services

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limits: entries per request,
MAX_BYTES_PER_CALL = 256 * 1024  # and the sum of the entries' sizes per request (`entry_size`)
TIME_SIZE = 14  # what an entry's `Time` counts, whatever its value


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it against the request's 256 KiB ("Calculating PutEvents event entry
    size"): 14 bytes for a `Time`, and the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each `Resources`
    ARN; the bus name and the trace header do not count."""
    size = TIME_SIZE if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        if entry.get(name):
            size += len(str(entry[name]).encode("utf-8"))
    size += sum(len(str(resource).encode("utf-8")) for resource in entry.get("Resources") or ())
    return size


def calls(pending: Sequence[tuple[int, dict[str, Any]]]) -> list[list[tuple[int, dict[str, Any]]]]:
    """`pending` cut, in order, into PutEvents requests of at most MAX_ENTRIES_PER_CALL entries and
    MAX_BYTES_PER_CALL bytes. An entry larger than a request can be goes alone (EventBridge refuses it, and its
    record is retried, then dead-lettered, as any refused entry's)."""
    chunks: list[list[tuple[int, dict[str, Any]]]] = []
    current: list[tuple[int, dict[str, Any]]] = []
    current_bytes = 0
    for item in pending:
        size = entry_size(item[1])
        if current and (len(current) == MAX_ENTRIES_PER_CALL or current_bytes + size > MAX_BYTES_PER_CALL):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        chunks.append(current)
    return chunks


def entries(record: Mapping[str, Any], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The PutEvents entries of one stream record, in the order they are to be published (often none).

    `Time` is when the change was written (the record's `ApproximateCreationDateTime`), else `now`. Raises on a
    record that names a known table but cannot be read (a missing image, an image that cannot be deserialised).
    """
    table = streams.source_table(record)
    if table is None:
        return []
    written_at = streams.written_at(record) or now or datetime.now(UTC)
    found: list[events.Event] = []
    if table == "messages":
        change, message, previous_status = streams.message_change(record)
        if change is not None:
            found = events.message_events(change, message, previous_status)
    else:
        opt_out = streams.opt_out_change(record, written_at)
        if opt_out is not None:
            found = events.opt_out_events(opt_out)
        found += events.consent_events(streams.consent_changes(record))
    bus = get_settings().event_bus_name
    return [events.entry(event, bus=bus, at=written_at) for event in found]


def publish_changes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Publish the events of `records`; returns the sequence numbers of the records to retry (none: all done)."""
    pending: list[tuple[int, dict[str, Any]]] = []  # (index of the record, entry), in stream order
    first_failed = len(records)
    failed_entries = 0
    for index, record in enumerate(records):
        try:
            pending.extend((index, entry) for entry in entries(record))
        except Exception:
            logger.exception("stream record could not be mapped to events", extra=_describe(record))
            first_failed, failed_entries = index, 1
            break
    published = 0
    for chunk in calls(pending):
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


def publish_now(event: events.Event) -> bool:
    """Publish one event at once, outside the streams (an erasure's: no table change says it); False when
    EventBridge did not take it (logged and counted; the audit record stays the durable trace)."""
    entry = events.entry(event, bus=get_settings().event_bus_name, at=datetime.now(UTC))
    refused = _put([(0, entry)])
    metrics.add_metric(name="EventsPublished" if not refused else "EventsFailed", unit="Count", value=1)
    return not refused


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
        "table": streams.table_name(str(record.get("eventSourceARN") or "")),
    }
