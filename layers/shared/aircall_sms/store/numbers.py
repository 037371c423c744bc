"""Aircall numbers configured in the gateway (NumbersTable), keyed by Aircall's number id as a string."""

from __future__ import annotations

import time
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from aircall_sms.store.base import GatewayModel, TableName
from aircall_sms.store.transactions import condition_check

CONFIGURING = "configuring"
CONFIGURED = "configured"


class ByE164(GlobalSecondaryIndex["NumberRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_e164"
        projection = AllProjection()

    e164 = UnicodeAttribute(hash_key=True)


class NumberRecord(GatewayModel):
    class Meta:
        table_name = TableName("numbers_table")

    number_id = UnicodeAttribute(hash_key=True)
    e164 = UnicodeAttribute()
    region = UnicodeAttribute()
    kind = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    mode = UnicodeAttribute()  # "proxy" (configured in Aircall, callbacks to us) or "agent" (native send)
    registration = UnicodeAttribute(default="none")  # approved | pending | none
    limits = JSONAttribute(null=True)  # per-number overrides: {"hour": 50, ...}
    callback_token_sha256 = UnicodeAttribute(null=True)  # the token itself is never stored
    callback_url = UnicodeAttribute(null=True)
    # "configuring" from just before the gateway asks Aircall to configure the number until the token Aircall
    # answers is stored; absent once configured. A configuration cut off in between (a Lambda timeout, a lost
    # answer) stays "configuring": the next PUT finishes it (and undoes it in Aircall for another mode), or the
    # scheduled repair does (use_cases/number_repair.py) once no PUT can still be running.
    state = UnicodeAttribute(null=True)
    configured_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_e164 = ByE164()

    def to_api(self) -> dict[str, Any]:
        return {
            "number_id": int(self.number_id),
            "e164": self.e164,
            "region": self.region,
            "kind": self.kind,
            "name": self.name,
            "mode": self.mode,
            "registration": self.registration,
            "limits_override": self.limits or {},
            "callback_url": self.callback_url,
            "state": self.state or CONFIGURED,
            "configured_at": self.configured_at,
            "updated_at": self.updated_at,
        }


def copy_of(record: NumberRecord) -> NumberRecord:
    """An independent copy of `record` (to put it back as it was)."""
    copy = NumberRecord()
    copy.from_dynamodb_dict(record.to_dynamodb_dict())
    return copy


def is_configuring_without_token(record: NumberRecord) -> bool:
    """A proxy configuration cut off before Aircall's token was stored: callbacks cannot be authenticated."""
    return record.state == CONFIGURING and not record.callback_token_sha256


def unchanged_check(record: NumberRecord) -> dict[str, Any]:
    """The transaction item that holds only while the number is as `record` read it (its `updated_at`): a send
    that used a cached number is refused when the number changed or vanished since."""
    return condition_check(
        NumberRecord.Meta.table_name,
        {"number_id": {"S": record.number_id}},
        "updated_at = :seen",
        values={":seen": {"S": record.updated_at}},
    )


def get(number_id: str) -> NumberRecord | None:
    try:
        record = NumberRecord.get(number_id, consistent_read=True)
    except DoesNotExist:
        _cache.pop(number_id, None)
        _remember_absence(number_id)
        return None
    _remember(record)
    return record


def find_by_e164(e164: str) -> NumberRecord | None:
    for record in NumberRecord.by_e164.query(e164, limit=1):
        return get(record.number_id)
    return None


# Warm Lambda instances keep the numbers they used for a short while: the send path then costs no read.
# The cache never decides correctness: a send's reservation checks that the number's `updated_at` is still
# the one it read (a changed or deleted number refuses the transaction, and the send reads it again).
_cache: dict[str, tuple[float, NumberRecord]] = {}
_number_id_by_e164: dict[str, str] = {}
# Numbers found absent, and when: a callback naming a number not configured here (a stale Aircall configuration,
# a probe of the open webhook) costs one read per `max_age`, not one per callback. Bounded: ids come from the
# internet, and the oldest absences are forgotten first.
_absent: dict[str, float] = {}
MAX_ABSENT = 4096


def _remember(record: NumberRecord) -> None:
    _cache[record.number_id] = (time.monotonic(), record)
    _number_id_by_e164[record.e164] = record.number_id
    _absent.pop(record.number_id, None)


def _remember_absence(number_id: str) -> None:
    _absent.pop(number_id, None)
    _absent[number_id] = time.monotonic()
    while len(_absent) > MAX_ABSENT:
        del _absent[next(iter(_absent))]


def cached(number_id: str, max_age: float, *, absence_too: bool = False) -> NumberRecord | None:
    """The number from this instance's cache when younger than `max_age` seconds, else read. `absence_too`: a
    number read as absent less than `max_age` ago is absent still, without a read (the callback path: a number
    configured since then is heard within `max_age`; the send path always reads a number it does not know)."""
    now = time.monotonic()
    entry = _cache.get(number_id)
    if entry is not None and now - entry[0] < max_age:
        return entry[1]
    if absence_too:
        absent_since = _absent.get(number_id)
        if absent_since is not None and now - absent_since < max_age:
            return None
    return get(number_id)


def cached_by_e164(e164: str, max_age: float) -> NumberRecord | None:
    number_id = _number_id_by_e164.get(e164)
    if number_id is not None:
        record = cached(number_id, max_age)
        if record is not None and record.e164 == e164:
            return record
    return find_by_e164(e164)


def forget(number_id: str | None = None) -> None:
    """Drop one number (or all) from this instance's cache."""
    if number_id is None:
        _cache.clear()
        _number_id_by_e164.clear()
        _absent.clear()
    else:
        _cache.pop(number_id, None)
        _absent.pop(number_id, None)


def list_all() -> list[NumberRecord]:
    # The table holds the company's configured Aircall numbers: tens, not millions. A scan is its natural read.
    return sorted(NumberRecord.scan(), key=lambda record: int(record.number_id))


def configuring_before(cutoff: str) -> list[NumberRecord]:
    """The numbers left `configuring` since before `cutoff` (ISO time): configurations cut off."""
    condition = (NumberRecord.state == CONFIGURING) & (NumberRecord.updated_at < cutoff)
    return sorted(NumberRecord.scan(filter_condition=condition), key=lambda record: int(record.number_id))


def finish_configuring(record: NumberRecord, token_sha256: str, now: str) -> bool:
    """Store Aircall's token digest and clear `configuring`, if the number is still as `record` read it (a PUT
    meanwhile wins); False when it is not."""
    try:
        record.update(
            actions=[
                NumberRecord.callback_token_sha256.set(token_sha256),
                NumberRecord.state.remove(),
                NumberRecord.updated_at.set(now),
            ],
            condition=(NumberRecord.state == CONFIGURING) & (NumberRecord.updated_at == record.updated_at),
        )
    except UpdateError as failure:
        if failure.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    finally:
        forget(record.number_id)
    return True


def delete(number_id: str) -> None:
    NumberRecord(number_id=number_id).delete()
    forget(number_id)
