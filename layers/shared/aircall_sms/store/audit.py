"""The audit trail of what is not kept elsewhere: each erasure of a contact (`erasure#<YYYY-MM>` / `<at>#<id>` in
the ledger: who erased, when, for which numbers, how much), without the contact itself — an erasure must not keep
what it erased. Kept with no TTL, like the usage history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aircall_sms.settings import get_settings
from aircall_sms.store.transactions import put_new, text, transact_one


@dataclass(frozen=True, slots=True)
class Erasure:
    id: str
    client_id: str
    at: str
    number_ids: list[str] | None  # the numbers the erasing key was limited to (None: every number)
    complete: bool
    erased: dict[str, int]

    def to_api(self) -> dict[str, Any]:
        return {
            "erasure_id": self.id,
            "client_id": self.client_id,
            "at": self.at,
            "number_ids": None if self.number_ids is None else [int(number) for number in self.number_ids],
            "complete": self.complete,
            "erased": dict(self.erased),
        }


def erasure_pk(month: str) -> str:
    return f"erasure#{month}"


def record_erasure(erasure: Erasure) -> None:
    item = {
        "pk": text(erasure_pk(erasure.at[:7])),
        "sk": text(f"{erasure.at}#{erasure.id}"),
        "record": text(json.dumps(erasure.to_api(), separators=(",", ":"))),
    }
    transact_one(put_new(get_settings().ledger_table, item, "sk"))
