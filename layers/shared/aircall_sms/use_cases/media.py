"""Inbound MMS media: the copy of each file into the media bucket (the MediaFunction, on the archive's stream), the
gateway's own links in the archive's answers, and the deletion of a message's copies (an erasure).

The copy is off the callback's path: the callback archives the message with its media `pending` and answers
Aircall at once; the archive's stream hands the new message to the MediaFunction, which downloads each file
(`clients.media`: bounded in size, time and type), puts it in the bucket with its type, and records the outcome
on the message (`store.messages.record_media`), in one write, only while its media is still pending:

- a file that cannot be kept for what it is (too large, not of its type, a type not kept, a link refused or
  answering 4xx) is recorded as failed with its error code at once;
- a file that could not be fetched for now (a timeout, a 5xx, a broken connection) fails the attempt: Lambda
  retries the record, and the `domain.media.ATTEMPTS`-th attempt records the file as failed instead (its link
  keeps failing, or has expired meanwhile);
- a failure of the gateway's own (S3, DynamoDB) fails the attempt too; after the stream mapping's retries the
  record goes to the media dead-letter queue (MediaDeadLetterAlarm) and the message stays `pending`.

A message erased (or expired) while its copy runs is not recreated: the outcome's write finds it gone, and the
copies just made are deleted.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from aircall_sms.clients.media import Downloaded, MediaClient, MediaFetchFailed
from aircall_sms.domain import media
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import media_objects, messages, streams
from aircall_sms.store.messages import MessageRecord


class CopyIncomplete(Exception):
    """A file could not be fetched on this attempt, and another attempt is due."""


# ------------------------------------------------------------------------------------------------ copying
def copy_batch(records: Sequence[Mapping[str, Any]], *, client: MediaClient | None = None) -> list[str]:
    """Copy the media of every new inbound MMS of one stream batch; the sequence numbers of the records to retry
    (none: every one done). Records in stream order: the first that fails and every later one are retried."""
    owned = client is None
    client = client or MediaClient(trusted_origin=get_settings().aircall_api_base_url)
    try:
        for index, record in enumerate(records):
            try:
                if streams.source_table(record) != "messages":
                    continue
                message = streams.pending_media(record)
                if message is not None:
                    copy_message(message, client)
            except Exception as error:
                if not isinstance(error, CopyIncomplete):
                    logger.exception("media copy failed", extra=_describe(record))
                metrics.add_metric(name="MediaCopyRetried", unit="Count", value=1)
                return [_sequence_number(later) for later in records[index:]]
        return []
    finally:
        if owned:
            client.close()


def copy_message(message: MessageRecord, client: MediaClient) -> str | None:
    """Copy one message's files and record the outcome; its media status, or None when there was nothing to do
    (recorded already, or the message is gone). Raises `CopyIncomplete` when another attempt is due."""
    attempt = messages.media_attempt(message.id)
    if attempt is None:
        return None
    final = attempt >= media.ATTEMPTS
    # Every file is fetched first (at most MAX_FILES x MAX_FILE_BYTES in memory), and put only when none is due
    # another attempt: an attempt that does not record its outcome leaves no object behind, which nothing would
    # delete if the message were erased before the next one.
    outcomes: list[tuple[media.Source, Downloaded | MediaFetchFailed]] = []
    settings = get_settings()
    ends = time.monotonic() + settings.media_message_seconds
    for source in media.sources(message.media_details):
        seconds = min(settings.media_file_seconds, ends - time.monotonic())
        try:
            outcomes.append((source, client.download(source.url, declared_type=source.file_type, seconds=seconds)))
        except MediaFetchFailed as failure:
            outcomes.append((source, failure))
    incomplete = sorted(
        {got.code for _, got in outcomes if isinstance(got, MediaFetchFailed) and got.transient and not final}
    )
    if incomplete:
        logger.warning(
            "media not fetched yet: the copy is retried",
            extra={"message_id": message.id, "attempt": attempt, "codes": incomplete},
        )
        raise CopyIncomplete(message.id)
    entries, put = _store(message.id, outcomes)
    if not messages.record_media(message.id, entries, utcnow()):
        # Erased or expired meanwhile (or recorded by a concurrent delivery, whose keys are these same ones).
        current = messages.get(message.id)
        if current is None and put:
            media_objects.delete(put)
        return None
    status = media.outcome(entries)
    stored = sum(1 for entry in entries if entry["status"] == media.STORED)
    metrics.add_metric(name="MediaFilesStored", unit="Count", value=stored)
    metrics.add_metric(name="MediaBytesStored", unit="Bytes", value=media.stored_bytes(entries))
    if status == media.FAILED:
        failed = len(entries) - stored
        metrics.add_metric(name="MediaFilesFailed", unit="Count", value=failed)
        codes = sorted({entry["error"]["code"] for entry in entries if entry["status"] == media.FAILED})
        logger.warning("media files not kept", extra={"message_id": message.id, "failed": failed, "codes": codes})
    return status


def _store(
    message_id: str, outcomes: list[tuple[media.Source, Downloaded | MediaFetchFailed]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Put the fetched files in the bucket: (the media entries, the keys put). A put that fails deletes the ones
    made before it, and the attempt fails (the stream retries it)."""
    entries: list[dict[str, Any]] = []
    put: list[str] = []
    try:
        for source, got in outcomes:
            if isinstance(got, MediaFetchFailed):
                entries.append(media.failed_entry(source, got.code, got.detail))
                continue
            key = media.object_key(message_id, source.index)
            media_objects.put(key, got.content, got.content_type)
            put.append(key)
            entries.append(media.stored_entry(source, key=key, content_type=got.content_type, size=len(got.content)))
    except Exception:
        if put:
            with contextlib.suppress(Exception):
                media_objects.delete(put)
        raise
    return entries, put


# ------------------------------------------------------------------------------------------------ answers
def with_links(item: dict[str, Any], record: MessageRecord) -> dict[str, Any]:
    """An archive answer's Message with the gateway's links of its stored files: `media[].url` (with
    `url_expires_at`) and `media_urls`, in the files' order. Only answers to a caller who may read the message's
    number get here (`use_cases.messages`)."""
    if record.direction != "inbound" or not record.media:
        return item
    # A link signed now works `media_link_seconds` from now (to the second: what S3 checks).
    expires_at = iso(utcnow().replace(microsecond=0) + timedelta(seconds=get_settings().media_link_seconds))
    files: list[dict[str, Any]] = []
    urls: list[str] = []
    for entry in record.media:
        shown = {name: value for name, value in entry.items() if name != "key"}
        key = entry.get("key")
        if entry.get("status") == media.STORED and isinstance(key, str):
            url = media_objects.link(key)
            shown |= {"url": url, "url_expires_at": expires_at}
            urls.append(url)
        files.append(shown)
    return item | {"media": files, "media_urls": urls}


# ------------------------------------------------------------------------------------------------ erasure
def delete_copies(facts: Sequence[Mapping[str, str]]) -> int:
    """Delete the stored files of these messages (their `media` facts, as `store.messages.erasure_facts` reads
    them); how many objects."""
    keys: list[str] = []
    for fact in facts:
        raw = fact.get("media")
        if not raw:
            continue
        try:
            entries = json.loads(raw)
        except ValueError:
            continue
        keys += media.stored_keys(entries if isinstance(entries, list) else [])
    return media_objects.delete(keys) if keys else 0


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")


def _describe(record: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a record in the logs, without its images (phone numbers, texts, links)."""
    return {"sequence_number": _sequence_number(record), "event_name": record.get("eventName")}
