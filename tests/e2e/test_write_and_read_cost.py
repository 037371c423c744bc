"""What one accepted message costs in DynamoDB write units, and what a page of the archive reads, counted by the
bench's own meters on a smaller workload against the emulator (moto reports no consumed capacity: the meters
compute it from every call's item sizes, indexes, projections and transactions, as DynamoDB bills them).

- `bench.cost`: sends over HTTP through the whole local stack, with Aircall's status callbacks and the events.
- `bench.archive_bench`: the thirteen filter shapes of GET /messages on a seeded archive, page after page.

The bounds are the figures of bench/README.md (before the archive's indexes were rebuilt: 97 write units a message,
49 of them index entries; two shapes read up to 124 index items for a page of 50; 41 before status callbacks were
settled with single writes; 37 while every callback went into the sweep's `pending` index and out again).
"""

from __future__ import annotations

import pytest

from bench import archive_bench, cost

WRITE_UNITS_PER_MESSAGE = 35
# Per table, per message: the item writes (a transaction's twice) and the index entries they changed.
WRITE_UNITS_BY_TABLE = {
    "MessagesTable": 5,  # the send's Put (in its transaction), the outcome, two callbacks' moves (single writes)
    "MessagesTable indexes": 7,  # 4 listing entries and `unresolved` on creation; its removal and `by_aircall_id`
    "CallbacksTable": 4,  # two callbacks recorded (1 each: their payload is deflated), then settled (1 each)
    "CallbacksTable indexes": 4,  # each: `by_receipt` and `by_aircall_id` on arrival, never changed after
    "LedgerTable": 15,  # the reservation (3 windows, the budget, the key), the answer, the usage count
    "LedgerTable indexes": 0,
}


@pytest.fixture(scope="module")
def measured_costs() -> dict[str, float]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cost, "MESSAGES", 6)
        report = cost.run()
    measured = report["cost.measured_per_message"]
    assert isinstance(measured, dict)
    return measured


def test_an_accepted_message_with_its_callbacks_and_events_costs_at_most_35_write_units(measured_costs):
    assert measured_costs["write_units"] <= WRITE_UNITS_PER_MESSAGE
    by_table = {name.removeprefix("write_units_"): units for name, units in measured_costs.items()}
    assert {name: by_table[name] for name in WRITE_UNITS_BY_TABLE} == pytest.approx(WRITE_UNITS_BY_TABLE, abs=0.5)


def test_the_sweep_reads_each_callback_once_and_writes_only_its_mark(measured_costs):
    # The callbacks' sweep ran once over the workload's callbacks (every one applied already): its one write is
    # its mark (once a run, not per message); it moved no callback into `pending` nor out of it.
    assert measured_costs["sweep_run_write_units"] == 1


def test_a_status_move_rewrites_no_listing_index_entry(measured_costs):
    # Four listing entries when the message is archived, none for its three status moves (queued, sent,
    # delivered): the rest is `unresolved` (in, then out when Aircall answers) and `by_aircall_id`.
    assert measured_costs["write_units_MessagesTable indexes"] <= 4 + 3


def test_the_workload_is_what_the_bench_prices(measured_costs):
    assert measured_costs["invocations_SendFunction"] == 1
    assert measured_costs["events_published"] == 4


@pytest.fixture(scope="module")
def archive_reads() -> dict[str, object]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archive_bench, "ARCHIVE_SIZE", 1_500)
        patch.setattr(archive_bench, "PAGE_SIZE", 10)
        return archive_bench.run()


def test_every_shape_of_the_archive_reads_at_most_a_page_and_one_index_item(archive_reads):
    items_read = archive_reads["archive_items_read_per_page"]
    assert isinstance(items_read, dict)
    assert set(items_read) == set(archive_bench.SHAPES)
    assert [name for name, pages in items_read.items() if max(pages) > 11] == []
    # a page followed by another read exactly the page and one more
    assert all(pages[:-1] == [11] * (len(pages) - 1) for pages in items_read.values())
    assert sum(len(pages) > 1 for pages in items_read.values()) >= 10
    assert archive_reads["archive_shapes_within_target"] == "13 of 13"


def test_a_page_fetches_its_own_messages_and_no_others(archive_reads):
    fetched, returned = archive_reads["archive_messages_fetched_per_page"], archive_reads["archive_items_per_page"]
    assert fetched == returned
    assert isinstance(returned, dict)
    assert all(pages[:-1] == [10] * (len(pages) - 1) for pages in returned.values())


def test_a_page_is_one_query_but_where_the_time_index_crosses_a_month(archive_reads):
    queries = archive_reads["archive_queries_per_page"]
    assert isinstance(queries, dict)
    assert {name: max(pages) for name, pages in queries.items() if not name.startswith("everything")} == {
        name: 1 for name in queries if not name.startswith("everything")
    }
    assert max(queries["everything"]) <= 2
