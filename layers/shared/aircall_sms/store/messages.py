"""The message archive (MessagesTable): one item per message, keyed by the gateway's id.

Besides the indexes the send and callback paths use, eight indexes serve the archive's lists (GET /messages,
see `store.archive`, and the table of indexes in docs/design.md). Four hold every message, by thread, number,
contact and month of creation: their keys are derived in `MessageRecord.serialize` from fields that never change
after a message is created (its id, number, contact and creation time), so every write of a new message carries
them, whichever path writes it, and no later write touches them. Four are sparse, for the LISTED statuses
(`failed`, `rejected`, `expired`, `received`): their keys are written once, when a message reaches such a status
(`serialize` for a new message, `advance_update` for a move), and never change after, since those statuses are
final. The listing indexes project the keys only (and `direction`, which never changes): a status move rewrites
none of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Required, TypedDict, Unpack

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection

from aircall_sms.domain import media
from aircall_sms.domain.status import WAITING, predecessors
from aircall_sms.domain.timeutil import iso
from aircall_sms.settings import get_settings
from aircall_sms.store.base import GatewayModel, TableName, batch_delete, raw_client
from aircall_sms.store.transactions import transact_one

# Statuses with their own lists (the sparse indexes `by_listed_status`, `by_number_status`, `by_thread_status`,
# `by_contact_status`): the final statuses but `delivered`. They are rare (failures) or the whole of one direction
# (`received` is every inbound message), and final, so a message enters them once and never leaves. The others
# (delivered, the transient ones) are read through the lists of the other filters (`store.archive`).
LISTED_STATUSES = frozenset({"failed", "rejected", "expired", "received"})


class StatusChange(MapAttribute[str, Any]):
    status = UnicodeAttribute()
    at = UnicodeAttribute()
    source = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)


class ByAircallId(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_aircall_id"
        projection = KeysOnlyProjection()

    aircall_id = UnicodeAttribute(hash_key=True)


class Unresolved(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    """Sparse: outbound messages whose Aircall outcome is not known yet, by number and since when."""

    class Meta:
        index_name = "unresolved"
        projection = AllProjection()

    number_id = UnicodeAttribute(hash_key=True)
    unresolved_at = UnicodeAttribute(range_key=True)


class Deferred(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    """Sparse: the messages waiting in status `deferred`, per number, in dispatch order (priority, then age)."""

    class Meta:
        index_name = "deferred"
        projection = AllProjection()

    dispatch_number = UnicodeAttribute(hash_key=True)
    dispatch_rank = UnicodeAttribute(range_key=True)


class Expiring(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    """Sparse: the same messages by `not_after`, so the expired ones are found without reading the queue."""

    class Meta:
        index_name = "expiring"
        projection = KeysOnlyProjection()

    dispatch_number = UnicodeAttribute(hash_key=True)
    not_after = UnicodeAttribute(range_key=True)


# ------------------------------------------------------------------------------------------------ listing indexes
# Newest first is `ScanIndexForward=False` on `created_key` ("<created_at>#<id>": equal times ordered by id). They
# project only the keys (and `direction`, which never changes): a status move rewrites none of them, and a list
# reads the page's messages by BatchGetItem (`store.archive`).
class Thread(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    """One conversation: a number's messages with one contact ("<number_id>#<contact>"), by time."""

    class Meta:
        index_name = "thread"
        projection = IncludeProjection(["direction"])

    thread = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByNumber(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_number"
        projection = IncludeProjection(["direction"])

    number_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByContact(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_contact"
        projection = IncludeProjection(["direction"])

    contact = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByMonth(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    """Every message, one partition per month of creation ("2026-11"), by time: the time index sharded by month."""

    class Meta:
        index_name = "by_month"
        projection = IncludeProjection(["direction"])

    month = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


# Sparse: only messages in a LISTED status carry these keys ("failed", "number#failed", ...), written once when the
# message reaches that status (listed statuses are final: the keys never change after).
class ByStatus(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_listed_status"
        projection = KeysOnlyProjection()

    listed_status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByNumberStatus(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_number_status"
        projection = KeysOnlyProjection()

    number_status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByThreadStatus(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_thread_status"
        projection = KeysOnlyProjection()

    thread_status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByContactStatus(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_contact_status"
        projection = KeysOnlyProjection()

    contact_status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


def listing_keys(status: str, *, number_id: str, contact: str) -> dict[str, str | None]:
    """The sparse status keys of a message of `number_id` with `contact` in `status` (all None when `status` is
    not LISTED)."""
    if status not in LISTED_STATUSES:
        return dict.fromkeys(("listed_status", "number_status", "thread_status", "contact_status"))
    return {
        "listed_status": status,
        "number_status": f"{number_id}#{status}",
        "thread_status": f"{number_id}#{contact}#{status}",
        "contact_status": f"{contact}#{status}",
    }


class MessageRecord(GatewayModel):
    class Meta:
        table_name = TableName("messages_table")

    id = UnicodeAttribute(hash_key=True)
    aircall_id = UnicodeAttribute(null=True)
    number_id = UnicodeAttribute()
    sender = UnicodeAttribute(attr_name="from")
    recipient = UnicodeAttribute(attr_name="to")
    contact = UnicodeAttribute()
    direction = UnicodeAttribute()
    text = UnicodeAttribute(null=True)
    media_urls: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]
    media_details = JSONAttribute(null=True)  # inbound MMS: [{url, file_name, file_type}] as Aircall sent them
    # Inbound MMS kept in the media bucket (`domain.media`): "pending" until the MediaFunction copied its files,
    # then "stored" or "failed"; `media` the files then ([{file_name, content_type, size_bytes, status, key |
    # error}]), `media_bytes` their stored size. Aircall's links (`media_details`, `media_urls`) go once copied.
    media_status = UnicodeAttribute(null=True)
    media = JSONAttribute(null=True)
    media_bytes = NumberAttribute(null=True)
    media_attempts = NumberAttribute(null=True)
    purpose = UnicodeAttribute(null=True)
    segments = NumberAttribute(default=0)
    encoding = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    status_history = ListAttribute[StatusChange](of=StatusChange, default=list)
    error = JSONAttribute(null=True)
    created_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()
    not_before = UnicodeAttribute(null=True)
    not_after = UnicodeAttribute(null=True)
    metadata = JSONAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    human_author = UnicodeAttribute(null=True)  # who typed it, when a person did (French mobile lines)
    client_id = UnicodeAttribute(null=True)  # outbound: the client key that sent it (audit); inbound: none
    keyword = UnicodeAttribute(null=True)  # inbound: "opt_out", "opt_in" or "help" when the text is a keyword
    unresolved_at = UnicodeAttribute(null=True)  # set while the Aircall outcome is unknown (index `unresolved`)
    reservation = JSONAttribute(null=True)  # the quota windows charged: {"hour": "2026-11-26T14", ...}
    sender_choice = JSONAttribute(null=True)  # sent from a pool: {"pool_id", "reason"} (why this number)
    campaign_id = UnicodeAttribute(null=True)  # a campaign's message: its campaign (charged at its share of windows)
    dispatch_number = UnicodeAttribute(null=True)  # set while `deferred` (indexes `deferred` and `expiring`)
    dispatch_rank = UnicodeAttribute(null=True)  # "<priority>#<created_at>#<id>": the dispatch order
    on_limit = UnicodeAttribute(null=True)  # a scheduled message's: "defer" waits out quiet hours at its time
    expires_at = TTLAttribute(null=True)  # the retention period's end (`retention_end`); DynamoDB's TTL deletes it
    # The listing indexes' keys, derived in `serialize` (the status ones also by `advance_update`).
    created_key = UnicodeAttribute()  # "<created_at>#<id>"
    thread = UnicodeAttribute()  # "<number_id>#<contact>"
    month = UnicodeAttribute()  # "<YYYY-MM>" of created_at: the partition of `by_month`
    listed_status = UnicodeAttribute(null=True)  # the status, while it is LISTED
    number_status = UnicodeAttribute(null=True)  # "<number_id>#<status>"
    thread_status = UnicodeAttribute(null=True)  # "<number_id>#<contact>#<status>"
    contact_status = UnicodeAttribute(null=True)  # "<contact>#<status>"

    by_aircall_id = ByAircallId()
    unresolved = Unresolved()
    deferred = Deferred()
    expiring = Expiring()
    by_thread = Thread()
    by_number = ByNumber()
    by_contact = ByContact()
    by_month = ByMonth()
    by_status = ByStatus()
    by_number_status = ByNumberStatus()
    by_thread_status = ByThreadStatus()
    by_contact_status = ByContactStatus()

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        """The item as DynamoDB stores it. Every write of a whole message goes through here (`save`, batch
        writes, and the transactions' `Put` of `serialize()`), so this is where the listing keys are set."""
        self.created_key = f"{self.created_at}#{self.id}"
        self.thread = f"{self.number_id}#{self.contact}"
        self.month = self.created_at[:7]
        for name, value in listing_keys(self.status, number_id=self.number_id, contact=self.contact).items():
            setattr(self, name, value)
        return super().serialize(null_check=null_check)

    def to_api(self) -> dict[str, Any]:
        """The contract's Message object. An inbound message's `media_urls` and `media[].url` are the gateway's own
        links, which only the archive's answers add (`use_cases.media.with_links`): here they are empty."""
        inbound = self.direction == "inbound"
        return {
            "id": self.id,
            "aircall_id": self.aircall_id,
            "number_id": self.number_id,
            "from": self.sender,
            "to": self.recipient,
            "direction": self.direction,
            "text": self.text,
            "media_urls": [] if inbound else list(self.media_urls or []),
            "media_status": self.media_status,
            "media": self.media_entries() if inbound else None,
            "purpose": self.purpose,
            "segments": int(self.segments or 0),
            "encoding": self.encoding,
            "status": self.status,
            "status_history": [
                {"status": change.status, "at": change.at, "source": change.source}
                | ({"detail": change.detail} if change.detail else {})
                for change in self.status_history or []
            ],
            "error": self.error,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "updated_at": self.updated_at,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "metadata": self.metadata,
            "human_author": self.human_author,
            "client_id": self.client_id,
            "keyword": self.keyword,
        } | (
            ({"sender": self.sender_choice | {"number_id": self.number_id}} if self.sender_choice else {})
            | ({"campaign_id": self.campaign_id} if self.campaign_id else {})
        )

    def media_entries(self) -> list[dict[str, Any]] | None:
        """The files of an inbound MMS as the contract shows them (without links): the copies once tried, the
        files Aircall announced while pending; None without media."""
        if self.media is not None:
            return [{name: value for name, value in entry.items() if name != "key"} for entry in self.media]
        if self.media_details:
            return [media.pending_entry(source) for source in media.sources(self.media_details)]
        return None


# Deferred messages go out in this order of purpose, then oldest first.
PRIORITY: dict[str, int] = {"conversational": 0, "transactional": 1, "marketing": 2}


def dispatch_rank(purpose: str | None, created_at: str, message_id: str) -> str:
    """The sort key of a deferred message in its number's queue: priority, then age (then id, for ties)."""
    return f"{PRIORITY.get(purpose or '', len(PRIORITY))}#{created_at}#{message_id}"


def mark_deferred(record: MessageRecord) -> None:
    """Put `record` in its number's dispatch queue (the sparse `deferred` and `expiring` indexes)."""
    record.dispatch_number = record.number_id
    record.dispatch_rank = dispatch_rank(record.purpose, record.created_at, record.id)


# Scheduled messages wait in a second partition of their number's queue, by due time ("<send_at>#<id>"), so a
# dispatcher run reads only the ones due (a key condition), however many are scheduled further ahead.
SCHEDULED_SUFFIX = "#scheduled"


def scheduled_partition(number_id: str) -> str:
    return f"{number_id}{SCHEDULED_SUFFIX}"


def queue_partitions(number_id: str) -> tuple[str, str]:
    """The `dispatch_number` values of a number's waiting messages: deferred, then scheduled."""
    return number_id, scheduled_partition(number_id)


def mark_scheduled(record: MessageRecord, send_at: datetime) -> None:
    """Put `record` in its number's scheduled queue, due at `send_at` (the sparse `deferred` and `expiring`
    indexes, partition `<number_id>#scheduled`)."""
    record.not_before = iso(send_at)
    record.dispatch_number = scheduled_partition(record.number_id)
    record.dispatch_rank = f"{record.not_before}#{record.id}"


def is_scheduled_queue(record: MessageRecord) -> bool:
    """Whether `record` waits in its number's scheduled queue (due at `not_before`)."""
    return bool(record.dispatch_number and record.dispatch_number.endswith(SCHEDULED_SUFFIX))


def postpone(record: MessageRecord, not_before: datetime, now: datetime, detail: str) -> bool:
    """A waiting message waits until `not_before` in its number's scheduled queue (its status stays), only while
    it is as read: False when it moved or changed meanwhile."""
    item = {
        "Update": {
            "TableName": MessageRecord.Meta.table_name,
            "Key": {"id": {"S": record.id}},
            "UpdateExpression": "SET not_before = :not_before, dispatch_number = :number, dispatch_rank = :rank, "
            "updated_at = :now, status_history = list_append(status_history, :change)",
            "ConditionExpression": "#status = :was AND updated_at = :seen",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":not_before": {"S": iso(not_before)},
                ":number": {"S": scheduled_partition(record.number_id)},
                ":rank": {"S": f"{iso(not_before)}#{record.id}"},
                ":now": {"S": iso(now)},
                ":was": {"S": record.status},
                ":seen": {"S": record.updated_at},
                ":change": {"L": [_change_item(record.status, now, "dispatcher", detail)]},
            },
        }
    }
    return transact_one(item)


def due_scheduled(number_id: str, until: datetime, *, page_size: int) -> Iterator[MessageRecord]:
    """The number's scheduled messages due before `until`, earliest first, read page by page."""
    return iter(
        MessageRecord.deferred.query(
            scheduled_partition(number_id),
            MessageRecord.dispatch_rank < iso(until),
            page_size=page_size,
            consistent_read=False,
        )
    )


def retention_end(created: datetime, *, not_after: datetime | None = None) -> datetime | None:
    """When a message created at `created` leaves the archive (`MESSAGE_RETENTION_DAYS` after it; a deferred
    message stays at least a day past its `not_after`); None: the archive keeps it (the default, 0 days)."""
    days = get_settings().message_retention_days
    if days <= 0:
        return None
    end = created + timedelta(days=days)
    return max(end, not_after + timedelta(days=1)) if not_after is not None else end


def change(status: str, at: datetime, source: str, detail: str | None = None) -> StatusChange:
    return StatusChange(status=status, at=iso(at), source=source, detail=detail)  # type: ignore[no-untyped-call]


def get(message_id: str) -> MessageRecord | None:
    try:
        return MessageRecord.get(message_id, consistent_read=True)
    except DoesNotExist:
        return None


def find_by_aircall_id(aircall_id: str) -> MessageRecord | None:
    message_id = find_id_by_aircall_id(aircall_id)
    return get(message_id) if message_id else None


def find_id_by_aircall_id(aircall_id: str) -> str | None:
    """The gateway id of the message Aircall calls `aircall_id` (one query of the keys-only index)."""
    for key_only in MessageRecord.by_aircall_id.query(aircall_id, limit=1):
        return key_only.id
    return None


def unresolved(
    number_id: str, since: datetime, until: datetime, *, contact: str | None = None, text: str | None = None
) -> list[MessageRecord]:
    """Outbound messages of `number_id` whose Aircall outcome became unknown between `since` and `until`, still
    without an Aircall id, to `contact` and with `text` when given; oldest first."""
    condition = MessageRecord.unresolved_at.between(iso(since), iso(until))
    matching = MessageRecord.aircall_id.does_not_exist()
    if contact is not None:
        matching &= MessageRecord.contact == contact
    if text is not None:
        matching &= MessageRecord.text == text
    return list(MessageRecord.unresolved.query(number_id, condition, filter_condition=matching))


class Move(TypedDict, total=False):
    """What a forward move of a message writes besides its status (`advance_update`)."""

    at: Required[datetime]
    source: Required[str]
    detail: str | None
    aircall_id: str | None
    sent_at: datetime | None
    error: dict[str, Any] | None
    sets: dict[str, dict[str, Any]] | None
    unclaimed: bool
    clear_error: bool
    only_from: tuple[str, ...] | None


def advance(message_id: str, status: str, **move: Unpack[Move]) -> bool:
    """Move a message forward to `status` in one conditional write; False when it would not be a forward move
    (a duplicate or out-of-order update), which changes nothing."""
    return transact_one(advance_update(message_id, status, **move))


def advance_update(
    message_id: str,
    status: str,
    *,
    at: datetime,
    source: str,
    detail: str | None = None,
    aircall_id: str | None = None,
    sent_at: datetime | None = None,
    error: dict[str, Any] | None = None,
    sets: dict[str, dict[str, Any]] | None = None,
    unclaimed: bool = False,
    clear_error: bool = False,
    only_from: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The forward move of `advance` as a TransactWriteItems `Update` item (DynamoDB JSON). `unclaimed`: only
    while the message has no Aircall id yet (a reconciliation must not take a message another callback owns).
    `only_from`: only from these statuses (e.g. a deferred message expires only while still `deferred`)."""
    change_item: dict[str, Any] = {"status": {"S": status}, "at": {"S": iso(at)}, "source": {"S": source}}
    if detail:
        change_item["detail"] = {"S": detail}
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":updated": {"S": iso(at)},
        ":change": {"L": [{"M": change_item}]},
        ":empty": {"L": []},
    }
    assignments = [
        "#status = :status",
        "updated_at = :updated",
        "status_history = list_append(if_not_exists(status_history, :empty), :change)",
    ]
    extra: dict[str, dict[str, Any]] = dict(sets or {})
    if aircall_id:
        extra["aircall_id"] = {"S": aircall_id}
    if sent_at:
        extra["sent_at"] = {"S": iso(sent_at)}
    if error is not None:
        extra["error"] = {"S": json.dumps(error, ensure_ascii=False)}
    if status in LISTED_STATUSES and (facts := _listing_facts(message_id)) is not None:
        extra |= {name: {"S": value} for name, value in listing_keys(status, **facts).items() if value is not None}
    names = {"#status": "status", "#id": "id"} | ({"#error": "error"} if clear_error else {})
    for index, (name, value) in enumerate(extra.items()):
        names[f"#a{index}"] = name
        values[f":a{index}"] = value
        assignments.append(f"#a{index} = :a{index}")
    allowed = tuple(previous for previous in predecessors(status) if only_from is None or previous in only_from)
    values |= {f":from{index}": {"S": previous} for index, previous in enumerate(allowed)}
    condition = f"attribute_exists(#id) AND #status IN ({', '.join(f':from{i}' for i in range(len(allowed)))})"
    if unclaimed:
        condition += " AND attribute_not_exists(aircall_id)"
    # Any move leaves `deferred` (nothing moves to it), so the message leaves the dispatcher's indexes.
    removed = (
        ([] if status == "unknown" else ["unresolved_at"])
        + ["dispatch_number", "dispatch_rank"]
        + (["#error"] if clear_error else [])
    )
    removal = f" REMOVE {', '.join(removed)}" if removed else ""
    return {
        "Update": {
            "TableName": MessageRecord.Meta.table_name,
            "Key": {"id": {"S": message_id}},
            "UpdateExpression": "SET " + ", ".join(assignments) + removal,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def _listing_facts(message_id: str) -> dict[str, str] | None:
    """The number and contact of a message (they never change), for the keys of a LISTED status; None when there is
    no such message (the move's condition refuses it then). Only moves to a LISTED status read them: failures."""
    answer = raw_client().get_item(
        TableName=MessageRecord.Meta.table_name,
        Key={"id": {"S": message_id}},
        ProjectionExpression="number_id, contact",
        ConsistentRead=True,
    )
    item = answer.get("Item")
    if not item:
        return None
    return {"number_id": item["number_id"]["S"], "contact": item["contact"]["S"]}


def deferred_queue(number_id: str, *, page_size: int) -> Iterator[MessageRecord]:
    """The number's deferred messages in dispatch order (the sparse `deferred` index), read page by page."""
    return iter(MessageRecord.deferred.query(number_id, page_size=page_size, consistent_read=False))


def expired_ids(number_id: str, now: datetime) -> Iterator[str]:
    """The ids of the number's waiting messages (deferred or scheduled) whose `not_after` is before `now` (the
    sparse `expiring` index)."""
    for partition in queue_partitions(number_id):
        for key_only in MessageRecord.expiring.query(
            partition, MessageRecord.not_after < iso(now), consistent_read=False
        ):
            yield key_only.id


def waiting_ids(number_id: str) -> Iterator[str]:
    """The ids of every waiting message (deferred or scheduled) of the number."""
    for partition in queue_partitions(number_id):
        for key_only in MessageRecord.deferred.query(partition, attributes_to_get=["id"]):
            yield key_only.id


def put_new(record: MessageRecord) -> dict[str, Any]:
    """The transaction item that archives a new message (refused when its id exists: a redelivered inbound
    message, whose id derives from Aircall's)."""
    return {
        "Put": {
            "TableName": MessageRecord.Meta.table_name,
            "Item": record.serialize(),
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": "id"},
        }
    }


def _change_item(status: str, at: datetime, source: str, detail: str) -> dict[str, Any]:
    return {"M": {"status": {"S": status}, "at": {"S": iso(at)}, "source": {"S": source}, "detail": {"S": detail}}}


def claim_update(
    message_id: str, reservation: dict[str, str], now: datetime, *, seen_at: str | None = None
) -> dict[str, Any]:
    """`deferred` (or `scheduled`) -> `unknown` (the dispatcher is about to call Aircall), out of the dispatch
    queue, only while still waiting: two overlapping dispatcher runs never both send one message. `seen_at`: only
    while the message is as the dispatcher read it (`updated_at`): a PATCH since wins, the next run sends it."""
    item = advance_update(
        message_id,
        "unknown",
        at=now,
        source="dispatcher",
        detail="calling Aircall",
        sets={"unresolved_at": {"S": iso(now)}, "reservation": {"S": json.dumps(reservation)}},
        only_from=WAITING,
    )
    if seen_at is not None:
        update = item["Update"]
        update["ConditionExpression"] += " AND updated_at = :seen"
        update["ExpressionAttributeValues"][":seen"] = {"S": seen_at}
    return item


def cancel(message_id: str, now: datetime, client_id: str) -> bool:
    """A waiting message (deferred or scheduled) becomes `cancelled`, out of its queue; False when it is not
    waiting any more (nothing changes)."""
    return advance(message_id, "cancelled", at=now, source="api", detail=f"cancelled by {client_id}", only_from=WAITING)


def change_waiting(
    record: MessageRecord,
    now: datetime,
    *,
    text: str | None,
    segments: int,
    encoding: str,
    send_at: datetime | None,
    detail: str,
) -> bool:
    """A waiting message's new text (with its segments and encoding) and/or its new `send_at` (it becomes
    `scheduled`, in its number's scheduled queue), in one write, only while it is as read (its status and
    `updated_at`): False when it moved or changed meanwhile."""
    status = "scheduled" if send_at is not None else record.status
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":now": {"S": iso(now)},
        ":seen": {"S": record.updated_at},
        ":was": {"S": record.status},
        ":segments": {"N": str(segments)},
        ":encoding": {"S": encoding},
        ":change": {"L": [_change_item(status, now, "api", detail)]},
    }
    assignments = [
        "#status = :status",
        "updated_at = :now",
        "#segments = :segments",
        "#encoding = :encoding",
        "status_history = list_append(status_history, :change)",
    ]
    if text is not None:
        values[":text"] = {"S": text}
        assignments.append("#text = :text")
    if send_at is not None:
        values |= {
            ":not_before": {"S": iso(send_at)},
            ":number": {"S": scheduled_partition(record.number_id)},
            ":rank": {"S": f"{iso(send_at)}#{record.id}"},
        }
        assignments += ["not_before = :not_before", "dispatch_number = :number", "dispatch_rank = :rank"]
    item = {
        "Update": {
            "TableName": MessageRecord.Meta.table_name,
            "Key": {"id": {"S": record.id}},
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ConditionExpression": "#status = :was AND updated_at = :seen",
            "ExpressionAttributeNames": {"#status": "status", "#segments": "segments", "#encoding": "encoding"}
            | ({"#text": "text"} if text is not None else {}),
            "ExpressionAttributeValues": values,
        }
    }
    return transact_one(item)


def back_to_deferred_update(record: MessageRecord, not_before: datetime, now: datetime, why: str) -> dict[str, Any]:
    """Aircall did not take the message and nothing was sent: it waits instead (`unknown` -> `deferred`, the one
    backward move, allowed only while no Aircall id is known), back in its number's dispatch queue."""
    return {
        "Update": {
            "TableName": MessageRecord.Meta.table_name,
            "Key": {"id": {"S": record.id}},
            "UpdateExpression": "SET #status = :deferred, not_before = :not_before, updated_at = :now, "
            "status_history = list_append(status_history, :change), dispatch_number = :number, "
            "dispatch_rank = :rank REMOVE unresolved_at",
            "ConditionExpression": "#status = :unknown AND attribute_not_exists(aircall_id)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":deferred": {"S": "deferred"},
                ":unknown": {"S": "unknown"},
                ":not_before": {"S": iso(not_before)},
                ":now": {"S": iso(now)},
                ":change": {"L": [_change_item("deferred", now, "gateway", why)]},
                ":number": {"S": record.number_id},
                ":rank": {"S": dispatch_rank(record.purpose, record.created_at, record.id)},
            },
        }
    }


def error_update(message_id: str, error: dict[str, Any]) -> dict[str, Any]:
    """Record why a message's outcome is what it is (its status stays)."""
    return {
        "Update": {
            "TableName": MessageRecord.Meta.table_name,
            "Key": {"id": {"S": message_id}},
            "UpdateExpression": "SET #error = :error",
            "ExpressionAttributeNames": {"#error": "error"},
            "ExpressionAttributeValues": {":error": {"S": json.dumps(error, ensure_ascii=False)}},
        }
    }


def record_late_aircall_id(message_id: str, aircall_id: str, at: datetime) -> None:
    """Add Aircall's id and the send time to a message a callback already moved on (its status stays)."""
    raw_client().update_item(
        TableName=MessageRecord.Meta.table_name,
        Key={"id": {"S": message_id}},
        UpdateExpression="SET aircall_id = if_not_exists(aircall_id, :aircall), sent_at = if_not_exists(sent_at, :at)",
        ExpressionAttributeValues={":aircall": {"S": aircall_id}, ":at": {"S": iso(at)}},
    )


def contact_message_ids(
    contact: str, *, limit: int, start: dict[str, Any] | None
) -> tuple[list[str], dict[str, Any] | None]:
    """One page of the ids of every message with `contact` (both directions, oldest first, index `by_contact`)
    and where the next page starts (None: the last page)."""
    request: dict[str, Any] = {
        "TableName": MessageRecord.Meta.table_name,
        "IndexName": "by_contact",
        "KeyConditionExpression": "contact = :contact",
        "ExpressionAttributeValues": {":contact": {"S": contact}},
        "ProjectionExpression": "id",
        "Limit": limit,
    }
    if start is not None:
        request["ExclusiveStartKey"] = start
    answer = raw_client().query(**request)
    return [item["id"]["S"] for item in answer.get("Items", [])], answer.get("LastEvaluatedKey") or None


def erasure_facts(message_ids: list[str]) -> list[dict[str, str]]:
    """`id`, `number_id`, and `aircall_id`, `idempotency_key`, `client_id`, `created_at`, `media` (JSON) where set,
    of those of `message_ids` that still exist (one consistent BatchGetItem per 100: an index may still show a message
    deleted a moment ago)."""
    client = raw_client()
    table = MessageRecord.Meta.table_name
    found: list[dict[str, str]] = []
    for start in range(0, len(message_ids), 100):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"id": {"S": message_id}} for message_id in message_ids[start : start + 100]],
                "ConsistentRead": True,
                "ProjectionExpression": "id, number_id, aircall_id, idempotency_key, client_id, created_at, media",
            }
        }
        while request:
            answer = client.batch_get_item(RequestItems=request)
            found += [
                {name: value["S"] for name, value in item.items() if "S" in value}
                for item in answer.get("Responses", {}).get(table, [])
            ]
            request = answer.get("UnprocessedKeys") or {}
    return found


# ------------------------------------------------------------------------------------------------ media
def media_attempt(message_id: str) -> int | None:
    """Count one more copy attempt of a message's media; which attempt this is, or None when there is nothing to
    copy any more (the message is gone, or its media was recorded by an earlier delivery)."""
    client = raw_client()
    try:
        answer = client.update_item(
            TableName=MessageRecord.Meta.table_name,
            Key={"id": {"S": message_id}},
            UpdateExpression="ADD media_attempts :one",
            ConditionExpression="attribute_exists(#id) AND media_status = :pending",
            ExpressionAttributeNames={"#id": "id"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":pending": {"S": media.PENDING}},
            ReturnValues="UPDATED_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    return int(answer["Attributes"]["media_attempts"]["N"])


def record_media(message_id: str, entries: list[dict[str, Any]], at: datetime) -> bool:
    """Record the outcome of a message's copy (its files, status and stored bytes) and forget Aircall's links,
    only while its media is still pending; False when the message is gone or was recorded already."""
    client = raw_client()
    try:
        client.update_item(
            TableName=MessageRecord.Meta.table_name,
            Key={"id": {"S": message_id}},
            UpdateExpression="SET media = :media, media_status = :status, media_bytes = :bytes, updated_at = :at, "
            "media_urls = :none REMOVE media_details",
            ConditionExpression="attribute_exists(#id) AND media_status = :pending",
            ExpressionAttributeNames={"#id": "id"},
            ExpressionAttributeValues={
                ":media": {"S": json.dumps(entries, ensure_ascii=False)},
                ":status": {"S": media.outcome(entries)},
                ":bytes": {"N": str(media.stored_bytes(entries))},
                ":at": {"S": iso(at)},
                ":none": {"L": []},
                ":pending": {"S": media.PENDING},
            },
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def delete_all(message_ids: list[str]) -> int:
    return batch_delete(MessageRecord.Meta.table_name, [{"id": {"S": message_id}} for message_id in message_ids])


# ------------------------------------------------------------------------------------------------ migration
_LISTING_FACTS = "id, number_id, contact, created_at, #status, #month, #archive, number_created_key"


def backfill_listing_keys(*, start: dict[str, Any] | None = None, page_size: int = 500) -> tuple[int, Any]:
    """One page of a Scan of the archive (operations only: `tools/archive_keys.py`, after an upgrade): every
    message archived before its listing keys existed gets them (`created_key`, `thread`, `month`, the sparse status
    keys) in one UpdateItem that changes nothing else, and loses the keys of the indexes that are gone (`archive`,
    `number_created_key`). Returns (messages updated, where the next page starts: None at the end)."""
    client = raw_client()
    request: dict[str, Any] = {
        "TableName": MessageRecord.Meta.table_name,
        "ProjectionExpression": _LISTING_FACTS,
        "ExpressionAttributeNames": {"#status": "status", "#month": "month", "#archive": "archive"},
        "Limit": page_size,
    }
    if start is not None:
        request["ExclusiveStartKey"] = start
    answer = client.scan(**request)
    updated = 0
    for item in answer.get("Items", []):
        if "month" in item and "archive" not in item and "number_created_key" not in item:
            continue
        facts = {name: item[name]["S"] for name in ("id", "number_id", "contact", "created_at", "status")}
        for _ in range(3):  # a message that moves meanwhile is read again: its keys follow its status then
            if _backfill_one(client, facts):
                updated += 1
                break
            found = get(facts["id"])
            if found is None:
                break
            facts["status"] = found.status
    return updated, answer.get("LastEvaluatedKey") or None


def _backfill_one(client: Any, facts: dict[str, str]) -> bool:
    keys = {
        "created_key": f"{facts['created_at']}#{facts['id']}",
        "thread": f"{facts['number_id']}#{facts['contact']}",
        "month": facts["created_at"][:7],
    } | {
        name: value
        for name, value in listing_keys(facts["status"], number_id=facts["number_id"], contact=facts["contact"]).items()
        if value is not None
    }
    names = {f"#k{index}": name for index, name in enumerate(keys)}
    values = {f":k{index}": {"S": value} for index, value in enumerate(keys.values())}
    try:
        client.update_item(
            TableName=MessageRecord.Meta.table_name,
            Key={"id": {"S": facts["id"]}},
            UpdateExpression="SET "
            + ", ".join(f"#k{i} = :k{i}" for i in range(len(keys)))
            + " REMOVE #archive, number_created_key",
            # Only with the status it was read with (a move in between would want other status keys).
            ConditionExpression="#status = :status",
            ExpressionAttributeNames=names | {"#status": "status", "#archive": "archive"},
            ExpressionAttributeValues=values | {":status": {"S": facts["status"]}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True
