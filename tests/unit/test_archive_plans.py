"""Which index serves which filters of GET /messages, the key range `since` and `until` make of it, and the keys
every write of a message carries (no network: plans are pure, `serialize` is the model's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aircall_sms.domain.timeutil import iso
from aircall_sms.store import archive, messages

NUMBER = "100005"
CONTACT = "+33612345679"
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 26, 23, 59, 59, 999000, tzinfo=UTC)


OUT, IN = {"direction": "outbound"}, {"direction": "inbound"}
FAILED = {"status": "failed"}
DELIVERED = {"status": "delivered"}
THREAD = {"number_id": NUMBER, "contact": CONTACT}


@pytest.mark.parametrize(
    ("filters", "index", "partition", "where", "checks"),
    [
        (THREAD, "thread", ("thread", f"{NUMBER}#{CONTACT}"), {}, {}),
        (THREAD | IN, "by_thread_status", ("thread_status", f"{NUMBER}#{CONTACT}#received"), {}, {}),
        (THREAD | IN | {"status": "received"}, "by_thread_status",
         ("thread_status", f"{NUMBER}#{CONTACT}#received"), {}, {}),
        (THREAD | FAILED, "by_thread_status", ("thread_status", f"{NUMBER}#{CONTACT}#failed"), {}, {}),
        (THREAD | OUT, "thread", ("thread", f"{NUMBER}#{CONTACT}"), OUT, {}),
        (THREAD | DELIVERED, "thread", ("thread", f"{NUMBER}#{CONTACT}"), {}, DELIVERED),
        ({"contact": CONTACT}, "by_contact", ("contact", CONTACT), {}, {}),
        ({"contact": CONTACT} | FAILED, "by_contact_status", ("contact_status", f"{CONTACT}#failed"), {}, {}),
        ({"contact": CONTACT} | IN, "by_contact_status", ("contact_status", f"{CONTACT}#received"), {}, {}),
        ({"number_id": NUMBER}, "by_number", ("number_id", NUMBER), {}, {}),
        ({"number_id": NUMBER} | OUT, "by_number", ("number_id", NUMBER), OUT, {}),
        ({"number_id": NUMBER} | IN, "by_number_status", ("number_status", f"{NUMBER}#received"), {}, {}),
        ({"number_id": NUMBER} | FAILED, "by_number_status", ("number_status", f"{NUMBER}#failed"), {}, {}),
        ({"number_id": NUMBER} | FAILED | OUT, "by_number_status", ("number_status", f"{NUMBER}#failed"), {}, {}),
        ({"number_id": NUMBER} | DELIVERED | OUT, "by_number", ("number_id", NUMBER), {}, DELIVERED),
        ({"status": "expired"}, "by_listed_status", ("listed_status", "expired"), {}, {}),
        (FAILED | OUT, "by_listed_status", ("listed_status", "failed"), {}, {}),
        (IN, "by_listed_status", ("listed_status", "received"), {}, {}),
        (OUT, "by_month", ("month", ""), OUT, {}),
        ({"status": "sent"}, "by_month", ("month", ""), {}, {"status": "sent"}),
        ({}, "by_month", ("month", ""), {}, {}),
    ],
)  # fmt: skip
def test_each_combination_of_filters_is_one_query_on_the_index_made_for_it(filters, index, partition, where, checks):
    plan = archive.plan(archive.Filters(**filters))
    assert (plan.index, (plan.hash_name, plan.hash_value), plan.filters, plan.checks, plan.empty) == (
        index,
        partition,
        where,
        checks,
        False,
    )
    assert plan.key_names == {"id", partition[0], "created_key"}
    declared = messages.MessageRecord._get_schema()["global_secondary_indexes"]
    assert index in {declaration["index_name"] for declaration in declared}


@pytest.mark.parametrize("filters", [FAILED | IN, {"status": "received"} | OUT, DELIVERED | IN, THREAD | FAILED | IN])
def test_a_status_with_the_other_direction_is_an_empty_list_read_from_nowhere(filters):
    assert archive.plan(archive.Filters(**filters)).empty


def test_since_and_until_bound_the_sort_key_inclusively():
    plan = archive.plan(archive.Filters(number_id=NUMBER, status="failed", since=SINCE, until=UNTIL))
    assert (plan.low, plan.high) == (iso(SINCE), f"{iso(UNTIL)}$")
    assert plan.low <= f"{iso(SINCE)}#msg_a" <= plan.high
    assert plan.low <= f"{iso(UNTIL)}#msg_z" <= plan.high
    assert f"{iso(UNTIL + timedelta(milliseconds=1))}#msg_a" > plan.high


def test_a_since_with_a_fraction_of_a_millisecond_starts_after_that_millisecond():
    since = SINCE + timedelta(microseconds=400)
    plan = archive.plan(archive.Filters(since=since))
    assert f"{iso(SINCE)}#msg_z" < plan.low < f"{iso(SINCE + timedelta(milliseconds=1))}#msg_a"


def test_without_since_or_until_the_range_holds_every_time():
    plan = archive.plan(archive.Filters(direction="outbound"))
    assert plan.low <= "1970-01-01T00:00:00.000Z#msg_a"
    assert plan.high >= "9999-12-31T23:59:59.999Z#msg_z"


def test_a_position_belongs_to_a_plan_only_in_its_partition_and_range():
    plan = archive.plan(archive.Filters(number_id=NUMBER, since=SINCE, until=UNTIL))
    inside = {"id": {"S": "msg_a"}, "number_id": {"S": NUMBER}, "created_key": {"S": f"{iso(SINCE)}#msg_a"}}
    assert plan.holds(inside)
    assert not plan.holds(inside | {"number_id": {"S": "100004"}})
    assert not plan.holds(inside | {"created_key": {"S": f"{iso(SINCE - timedelta(milliseconds=1))}#msg_a"}})


def test_a_position_in_the_time_index_belongs_to_the_month_of_its_time():
    plan = archive.plan(archive.Filters(since=SINCE, until=UNTIL))
    inside = {"id": {"S": "msg_a"}, "month": {"S": "2026-11"}, "created_key": {"S": f"{iso(SINCE)}#msg_a"}}
    assert plan.holds(inside)
    assert not plan.holds(inside | {"month": {"S": "2026-10"}})


def _record(**fields: str) -> messages.MessageRecord:
    return messages.MessageRecord(
        **{  # type: ignore[arg-type]
            "id": "msg_a",
            "number_id": NUMBER,
            "sender": CONTACT,
            "recipient": "+33186954210",
            "contact": CONTACT,
            "direction": "inbound",
            "status": "received",
            "created_at": "2026-11-26T14:05:09.123Z",
            "updated_at": "2026-11-26T14:05:09.123Z",
        }
        | fields
    )


def test_every_write_of_a_message_carries_the_keys_of_the_listing_indexes():
    item = _record().serialize()
    names = ("created_key", "thread", "month", "listed_status", "number_status", "thread_status", "contact_status")
    assert {name: item[name]["S"] for name in names} == {
        "created_key": "2026-11-26T14:05:09.123Z#msg_a",
        "thread": f"{NUMBER}#{CONTACT}",
        "month": "2026-11",
        "listed_status": "received",
        "number_status": f"{NUMBER}#received",
        "thread_status": f"{NUMBER}#{CONTACT}#received",
        "contact_status": f"{CONTACT}#received",
    }
    assert (item["direction"]["S"], item["status"]["S"]) == ("inbound", "received")


@pytest.mark.parametrize("status", ["unknown", "queued", "sent", "delivered", "deferred"])
def test_a_message_in_a_status_that_is_not_listed_carries_no_status_key(status):
    item = _record(direction="outbound", status=status).serialize()
    assert not {"listed_status", "number_status", "thread_status", "contact_status"} & set(item)


def test_a_move_to_a_status_that_is_not_listed_sets_no_index_key():
    update = messages.advance_update("msg_a", "delivered", at=datetime(2026, 11, 26, tzinfo=UTC), source="callback")
    assert set(update["Update"]["ExpressionAttributeValues"]) == {":status", ":updated", ":change", ":empty"} | {
        f":from{index}"
        for index in range(5)  # scheduled, deferred, unknown, queued, sent
    }
