"""Campaigns: create (or preflight with `dry_run`), read, pause, resume, cancel, and the dispatcher's share of them.

Creating one checks every recipient (each mistake a 400 naming its field) and writes the campaign and its
recipients in a handful of chunk items (`store.campaigns`): no message exists yet. Each dispatcher run first gives
the running campaigns what this minute's company budget leaves after live traffic (a share of it,
`domain.campaigns.campaign_share`): it takes that many recipients and sends each through the normal send path,
due now (`send_at` now, with the campaign's purpose and `not_after`, `metadata.campaign_id`), so each is a normal
archived message, checked against every rule then (an opt-out since refuses it), and sent by the dispatcher's
queue in its order: conversational first.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from aircall_sms.domain import campaigns, phone, schedule, segments
from aircall_sms.domain.access import SEND, Principal
from aircall_sms.domain.ids import new_id
from aircall_sms.domain.timeutil import iso, parse_time, utcnow
from aircall_sms.errors import CampaignInvalid, GatewayError, NotFound
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings
from aircall_sms.store import budget, contacts, usage
from aircall_sms.store import campaigns as store
from aircall_sms.use_cases.limits import number_windows
from aircall_sms.use_cases.send.prepare import resolve_number

PURPOSES = ("transactional", "marketing", "conversational")


def create(principal: Principal, body: Any) -> tuple[int, dict[str, Any]]:
    """POST /campaigns: 201 with the campaign, or 200 with the preflight for `dry_run`; nothing written on a 400."""
    now = utcnow()
    if not isinstance(body, dict) or set(body) - {
        "from", "purpose", "text", "recipients", "send_at", "not_after", "dry_run",
    }:  # fmt: skip
        raise CampaignInvalid(
            "The body must be an object of from, purpose, text, recipients, send_at, not_after and dry_run.",
            details={"field": "body", "reason": "invalid"},
        )
    sender = body.get("from")
    if not isinstance(sender, (str, int)) or isinstance(sender, bool):
        raise CampaignInvalid(
            "from is the sender number (id or E.164).", details={"field": "from", "reason": "missing"}
        )
    number = resolve_number(sender)
    principal.require_number(number.number_id)
    purpose = body.get("purpose", "marketing")
    if purpose not in PURPOSES:
        raise CampaignInvalid(
            f"purpose is one of {', '.join(PURPOSES)}.", details={"field": "purpose", "reason": "invalid"}
        )
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise CampaignInvalid("text must be a string.", details={"field": "text", "reason": "invalid"})
    send_at = schedule.check_send_at(_time(body, "send_at") or now, now)
    not_after = _time(body, "not_after")
    if not_after is not None and not_after <= send_at:
        raise CampaignInvalid("not_after must come after send_at.", details={"field": "not_after", "reason": "before"})
    region = phone.parse(number.e164).region
    recipients = campaigns.recipients_of(body.get("recipients"), text, region)
    if body.get("dry_run") is True:
        return 200, {"preflight": preflight(number, recipients, now)}
    chunks = campaigns.chunks(recipients)
    record = store.CampaignRecord(
        campaign_id=new_id("cmp"),
        number_id=number.number_id,
        purpose=purpose,
        status=campaigns.SCHEDULED,
        total=len(recipients),
        chunk_sizes=[len(chunk) for chunk in chunks],
        created_at=iso(now),
        updated_at=iso(now),
        send_at=iso(send_at),
        not_after=iso(not_after) if not_after else None,
        client_id=principal.client_id,
    )
    store.create(record, chunks)
    logger.info("campaign created", extra={"campaign_id": record.campaign_id, "recipients": record.total})
    return 201, {"campaign": to_api(record)}


def _time(body: dict[str, Any], name: str) -> datetime | None:
    raw = body.get(name)
    if raw is None:
        return None
    moment = parse_time(raw) if isinstance(raw, str) else None
    if moment is None or moment.tzinfo is None:
        raise CampaignInvalid(
            f"{name} must be an ISO 8601 time with its offset.", details={"field": name, "reason": "invalid"}
        )
    return moment


def preflight(number: Any, recipients: list[campaigns.Recipient], now: datetime) -> dict[str, Any]:
    """Segments in all, the recipients, and the ETA at the campaign's share of the whole budget and the number's
    windows as used now."""
    counted = [segments.count(recipient.text).segments for recipient in recipients]
    largest = max(counted)
    return {
        "recipients": len(recipients),
        "segments": sum(counted),
        "eta_seconds": _eta(number, len(recipients), largest, now),
    }


def _eta(number: Any, left: int, segments_each: int, now: datetime) -> int | None:
    windows = number_windows(number, now)
    used = {window.name: count for _, window, count in usage.current_usage([(number, window) for window in windows])}
    rooms = [
        campaigns.WindowRoom(
            limit=window.limit,
            seconds=int((window.end - window.start).total_seconds()),
            used=used.get(window.name, 0),
            resets_in=max(1, int((window.end - now).total_seconds())),
        )
        for window in windows
    ]
    per_minute = campaigns.campaign_share(get_settings().aircall_requests_per_minute, 0)
    return campaigns.eta_seconds(left, segments_each, per_minute, rooms)


def to_api(record: store.CampaignRecord) -> dict[str, Any]:
    counts = {name: record.counts.get(name, 0) for name in campaigns.OUTCOMES}
    return {
        "id": record.campaign_id,
        "from": int(record.number_id) if record.number_id.isdigit() else record.number_id,
        "purpose": record.purpose,
        "status": record.status,
        "recipients": record.total,
        "pending": record.total - record.cursor,
        "progress": counts,
        "send_at": record.send_at,
        "not_after": record.not_after,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _readable(principal: Principal, campaign_id: str) -> store.CampaignRecord:
    record = store.get(campaign_id)
    if record is None or not principal.allows(record.number_id):
        raise NotFound("No such campaign.", details={"id": campaign_id})
    return record


def get(principal: Principal, campaign_id: str) -> dict[str, Any]:
    now = utcnow()
    record = _readable(principal, campaign_id)
    answer = to_api(record)
    if record.status in (campaigns.SCHEDULED, campaigns.RUNNING) and record.cursor < record.total:
        number = resolve_number(record.number_id)
        answer["eta_seconds"] = _eta(number, record.total - record.cursor, 1, now)
    return answer


def list_campaigns(principal: Principal) -> list[dict[str, Any]]:
    return [to_api(record) for record in store.list_all() if principal.allows(record.number_id)]


def change(principal: Principal, campaign_id: str, action: str) -> dict[str, Any]:
    """POST /campaigns/{id}/pause|resume|cancel (idempotent; 409 `campaign_not_changeable`)."""
    principal.require(SEND)
    for _ in range(3):
        record = _readable(principal, campaign_id)
        after = campaigns.change(record.status, action)
        now = utcnow()
        if after == record.status or store.set_status(campaign_id, status=after, seen=record.status, at=iso(now)):
            if after != record.status:
                record.status, record.updated_at = after, iso(now)
            return to_api(record)
    raise CampaignInvalid("The campaign keeps changing; retry.", details={"field": "id", "reason": "busy"})


# ------------------------------------------------------------------------------------------------ dispatcher
def materialise(now: datetime) -> int:
    """Give the due campaigns this minute's share of the budget left after live traffic: that many recipients
    become due messages through the normal send path. The number of messages made."""
    share = campaigns.campaign_share(get_settings().aircall_requests_per_minute, budget.requests_used(now))
    made = 0
    rooms: dict[str, int] = {}  # number id -> messages its campaigns may still make this minute
    for record in store.list_all():
        if share - made <= 0:
            break
        if record.status not in (campaigns.SCHEDULED, campaigns.RUNNING) or record.cursor >= record.total:
            continue
        if (parse_time(record.send_at) or now) > now:
            continue
        if record.number_id not in rooms:
            rooms[record.number_id] = number_room(record.number_id, now)
        wanted = min(share - made, rooms[record.number_id])
        if wanted <= 0:
            continue  # the number's windows are at the campaigns' share: its campaigns wait, live sends go on
        taken = _take(record, wanted, now)
        rooms[record.number_id] -= taken
        made += taken
    return made


def number_room(number_id: str, now: datetime) -> int:
    """How many messages the campaigns of `number_id` may make this minute: what fits under the campaigns' share
    of each of its windows, the hour's spread over the rest of the hour (`domain.campaigns.minute_take`); one
    read of its windows."""
    try:
        number = resolve_number(number_id)
    except GatewayError:
        return campaigns.MAX_RECIPIENTS  # not a configured number (any more): the send path refuses each message
    windows = number_windows(number, now, campaign=True)
    rooms = [
        campaigns.CappedRoom(
            name=window.name,
            cap=window.limit,
            used=used,
            minutes_left=max(1, math.ceil((window.end - now).total_seconds() / 60)),
        )
        for _, window, used in usage.current_usage([(number, window) for window in windows])
    ]
    return campaigns.minute_take(rooms)


def _take(record: store.CampaignRecord, wanted: int, now: datetime) -> int:
    count = min(wanted, record.total - record.cursor)
    if not store.claim(record, count, at=iso(now)):
        return 0  # another run moved first, or it was paused or cancelled
    taken = _recipients(record, record.cursor, count)
    counts: dict[str, int] = {}
    for recipient in taken:
        outcome = _send(record, recipient, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    store.add_counts(record.campaign_id, counts)
    return len(taken)


def _recipients(record: store.CampaignRecord, start: int, count: int) -> list[campaigns.Recipient]:
    found: list[campaigns.Recipient] = []
    offset = 0
    for index, size in enumerate(record.chunk_sizes):
        if offset + size > start and offset < start + count:
            chunk = store.chunk(record.campaign_id, index)
            found.extend(chunk[max(0, start - offset) : start + count - offset])
        offset += size
    return found


def _send(record: store.CampaignRecord, recipient: campaigns.Recipient, now: datetime) -> str:
    from aircall_sms.domain.requests import SendRequest
    from aircall_sms.use_cases.send import send_message

    request = SendRequest.model_validate(
        {
            "from": record.number_id,
            "to": recipient.to,
            "text": recipient.text,
            "purpose": record.purpose,
            "send_at": iso(now),
            "not_after": record.not_after,
            "metadata": {"campaign_id": record.campaign_id},
        }
    )
    created = parse_time(record.created_at) or now
    if contacts.wrote_since(recipient.to, record.number_id, created):
        return "skipped"  # the recipient replied during the campaign: a conversation, not a campaign's message
    principal = Principal(client_id=record.client_id or "admin", scopes=frozenset({SEND}))
    try:
        outcome = send_message(request, principal=principal, campaign_id=record.campaign_id)
    except GatewayError as error:
        if error.code == "opted_out":
            return "skipped"  # opted out since: the send path archived it `rejected` (opted_out)
        return "refused" if error.status == 403 else "failed"
    return "queued" if outcome.status_code in (200, 201, 202) else "failed"
