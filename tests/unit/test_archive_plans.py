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


BY_TIME = "created_key"
BY_NUMBER_THEN_TIME = "number_created_key"
OUT, IN = {"direction": "outbound"}, {"direction": "inbound"}
FAILED = {"status": "failed"}
THREAD = {"number_id": NUMBER, "contact": CONTACT}


@pytest.mark.parametrize(
    ("filters", "index", "partition", "sort_key", "not_keys"),
    [
        (THREAD, "thread", ("thread", f"{NUMBER}#{CONTACT}"), BY_TIME, {}),
        (THREAD | IN | {"status": "received"}, "thread", ("thread", f"{NUMBER}#{CONTACT}"), BY_TIME,
         IN | {"status": "received"}),
        ({"contact": CONTACT}, "by_contact", ("contact", CONTACT), BY_TIME, {}),
        ({"contact": CONTACT} | FAILED, "by_contact", ("contact", CONTACT), BY_TIME, FAILED),
        ({"number_id": NUMBER}, "by_number", ("number_id", NUMBER), BY_TIME, {}),
        ({"number_id": NUMBER} | OUT, "by_number_direction", ("direction", "outbound"), BY_NUMBER_THEN_TIME, {}),
        ({"number_id": NUMBER} | FAILED, "by_number_status", ("status", "failed"), BY_NUMBER_THEN_TIME, {}),
        ({"number_id": NUMBER} | FAILED | OUT, "by_number_status", ("status", "failed"), BY_NUMBER_THEN_TIME, OUT),
        ({"status": "expired"}, "by_status", ("status", "expired"), BY_TIME, {}),
        (FAILED | OUT, "by_status", ("status", "failed"), BY_TIME, OUT),
        (IN, "by_direction", ("direction", "inbound"), BY_TIME, {}),
        ({}, "by_time", ("archive", "all"), BY_TIME, {}),
    ],
)  # fmt: skip
def test_each_combination_of_filters_is_one_query_on_the_index_made_for_it(
    filters, index, partition, sort_key, not_keys
):
    plan = archive.plan(archive.Filters(**filters))
    assert (plan.index, (plan.hash_name, plan.hash_value), plan.range_name, plan.filters) == (
        index,
        partition,
        sort_key,
        not_keys,
    )
    assert plan.key_names == {"id", partition[0], sort_key}
    declared = messages.MessageRecord._get_schema()["global_secondary_indexes"]
    assert index in {declaration["index_name"] for declaration in declared}


def test_since_and_until_bound_the_sort_key_inclusively_and_a_number_prefixes_it():
    plan = archive.plan(archive.Filters(number_id=NUMBER, status="failed", since=SINCE, until=UNTIL))
    assert (plan.low, plan.high) == (f"{NUMBER}#{iso(SINCE)}", f"{NUMBER}#{iso(UNTIL)}$")
    at_since = f"{NUMBER}#{iso(SINCE)}#msg_a"
    at_until = f"{NUMBER}#{iso(UNTIL)}#msg_z"
    assert plan.low <= at_since <= plan.high
    assert plan.low <= at_until <= plan.high
    assert f"{NUMBER}0#{iso(SINCE)}#msg_a" > plan.high  # another number whose id starts with this one's


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


def test_every_write_of_a_message_carries_the_keys_of_the_listing_indexes():
    record = messages.MessageRecord(
        id="msg_a",
        number_id=NUMBER,
        sender=CONTACT,
        recipient="+33186954210",
        contact=CONTACT,
        direction="inbound",
        status="received",
        created_at="2026-11-26T14:05:09.123Z",
        updated_at="2026-11-26T14:05:09.123Z",
    )
    item = record.serialize()
    assert {name: item[name]["S"] for name in ("created_key", "number_created_key", "thread", "archive")} == {
        "created_key": "2026-11-26T14:05:09.123Z#msg_a",
        "number_created_key": f"{NUMBER}#2026-11-26T14:05:09.123Z#msg_a",
        "thread": f"{NUMBER}#{CONTACT}",
        "archive": "all",
    }
    assert (item["direction"]["S"], item["status"]["S"]) == ("inbound", "received")
