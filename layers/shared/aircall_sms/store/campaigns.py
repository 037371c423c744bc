"""Campaigns (LedgerTable): the campaign item (`pk` "campaign", `sk` its id: GET /campaigns is one Query) and its
recipients in chunk items (`pk` "campaign#<id>", `sk` "chunk#<n>", the recipients deflated JSON), a handful of
items whatever the size: 10,000 recipients are about 20 chunk writes and one campaign write.

The chunks are written first and the campaign item last (a condition that it is new): a creation that fails half
way leaves only chunks no campaign points to, never a campaign with missing recipients. The dispatcher takes the
next recipients by moving the campaign's `cursor` forward in one conditional update (`claim`), so two overlapping
runs never take the same recipient.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aircall_sms.domain.campaigns import OUTCOMES, Recipient
from aircall_sms.settings import get_settings
from aircall_sms.store.base import batch_write, pack_text, query_all, raw_client, unpack_text

CAMPAIGNS_PK = "campaign"


@dataclass(slots=True)
class CampaignRecord:
    campaign_id: str
    number_id: str
    purpose: str
    status: str
    total: int
    chunk_sizes: list[int]
    created_at: str
    updated_at: str
    send_at: str
    not_after: str | None = None
    client_id: str | None = None
    cursor: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": CAMPAIGNS_PK},
            "sk": {"S": self.campaign_id},
            "number_id": {"S": self.number_id},
            "purpose": {"S": self.purpose},
            "status": {"S": self.status},
            "total": {"N": str(self.total)},
            "chunk_sizes": {"L": [{"N": str(size)} for size in self.chunk_sizes]},
            "created_at": {"S": self.created_at},
            "updated_at": {"S": self.updated_at},
            "send_at": {"S": self.send_at},
            "cursor": {"N": str(self.cursor)},
            "counts": {"M": {name: {"N": str(self.counts.get(name, 0))} for name in OUTCOMES}},
        }
        if self.not_after is not None:
            item["not_after"] = {"S": self.not_after}
        if self.client_id is not None:
            item["client_id"] = {"S": self.client_id}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CampaignRecord:
        return cls(
            campaign_id=item["sk"]["S"],
            number_id=item["number_id"]["S"],
            purpose=item["purpose"]["S"],
            status=item["status"]["S"],
            total=int(item["total"]["N"]),
            chunk_sizes=[int(size["N"]) for size in item["chunk_sizes"]["L"]],
            created_at=item["created_at"]["S"],
            updated_at=item["updated_at"]["S"],
            send_at=item["send_at"]["S"],
            not_after=item.get("not_after", {}).get("S"),
            client_id=item.get("client_id", {}).get("S"),
            cursor=int(item["cursor"]["N"]),
            counts={name: int(value["N"]) for name, value in item.get("counts", {}).get("M", {}).items()},
        )


def _table() -> str:
    return get_settings().ledger_table


def _key(campaign_id: str) -> dict[str, Any]:
    return {"pk": {"S": CAMPAIGNS_PK}, "sk": {"S": campaign_id}}


def _chunk_key(campaign_id: str, index: int) -> dict[str, Any]:
    return {"pk": {"S": f"campaign#{campaign_id}"}, "sk": {"S": f"chunk#{index:05d}"}}


class CampaignExists(Exception):
    """A campaign of this id was already stored."""


def create(record: CampaignRecord, chunks: list[list[Recipient]]) -> None:
    """Write the chunks, then the campaign (new only). Raises `CampaignExists`; RuntimeError when DynamoDB left
    chunks unwritten (then no campaign is written)."""
    requests = [
        {
            "PutRequest": {
                "Item": _chunk_key(record.campaign_id, index)
                | {"recipients": pack_text(json.dumps([r.to_json() for r in chunk], ensure_ascii=False))}
            }
        }
        for index, chunk in enumerate(chunks)
    ]
    if batch_write(_table(), requests):
        raise RuntimeError("DynamoDB did not take every chunk of the campaign")
    client = raw_client()
    try:
        client.put_item(TableName=_table(), Item=record.to_item(), ConditionExpression="attribute_not_exists(pk)")
    except client.exceptions.ConditionalCheckFailedException:
        raise CampaignExists(record.campaign_id) from None


def get(campaign_id: str) -> CampaignRecord | None:
    item = raw_client().get_item(TableName=_table(), Key=_key(campaign_id), ConsistentRead=True).get("Item")
    return None if item is None else CampaignRecord.from_item(item)


def list_all() -> list[CampaignRecord]:
    request = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": CAMPAIGNS_PK}},
        "ConsistentRead": True,
    }
    return [CampaignRecord.from_item(item) for item in query_all(request)]


def chunk(campaign_id: str, index: int) -> list[Recipient]:
    item = raw_client().get_item(TableName=_table(), Key=_chunk_key(campaign_id, index), ConsistentRead=True)["Item"]
    return [Recipient.from_json(raw) for raw in json.loads(unpack_text(item["recipients"]))]


def set_status(campaign_id: str, *, status: str, seen: str, at: str) -> bool:
    """Move the campaign from status `seen` to `status`; False when its status was not `seen` any more."""
    client = raw_client()
    try:
        client.update_item(
            TableName=_table(),
            Key=_key(campaign_id),
            UpdateExpression="SET #status = :status, updated_at = :at",
            ConditionExpression="#status = :seen",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}, ":seen": {"S": seen}, ":at": {"S": at}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def claim(record: CampaignRecord, count: int, *, at: str) -> bool:
    """Take the `count` recipients after the cursor `record` read (the campaign still running, its cursor unmoved);
    the last ones taken make it `done`. False when another run moved first, or it was paused or cancelled."""
    after = record.cursor + count
    client = raw_client()
    try:
        client.update_item(
            TableName=_table(),
            Key=_key(record.campaign_id),
            UpdateExpression="SET #cursor = :after, #status = :status, updated_at = :at",
            ConditionExpression="#cursor = :seen AND #status IN (:running, :scheduled)",
            ExpressionAttributeNames={"#cursor": "cursor", "#status": "status"},
            ExpressionAttributeValues={
                ":after": {"N": str(after)},
                ":seen": {"N": str(record.cursor)},
                ":status": {"S": "done" if after >= record.total else "running"},
                ":running": {"S": "running"},
                ":scheduled": {"S": "scheduled"},
                ":at": {"S": at},
            },
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def add_counts(campaign_id: str, counts: dict[str, int]) -> None:
    """Add to the campaign's progress counts (one update)."""
    names = {f"#o{index}": name for index, name in enumerate(counts)}
    values = {f":v{index}": {"N": str(value)} for index, value in enumerate(counts.values())}
    if not counts:
        return
    raw_client().update_item(
        TableName=_table(),
        Key=_key(campaign_id),
        UpdateExpression="ADD " + ", ".join(f"counts.#o{index} :v{index}" for index in range(len(counts))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
