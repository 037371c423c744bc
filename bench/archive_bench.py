"""GET /messages on an archive of `ARCHIVE_SIZE` messages: DynamoDB items read per page, against the target of
the page size plus one (the one more tells whether a next page exists).

The DynamoDB emulator (moto server) runs alone with the template's tables (no streams consumer, no sandbox: a
list reads only the archive). The archive is seeded through the gateway's own model (`MessageRecord`, batch
writes), so every item carries the index keys its `serialize` derives, as every write path does: `NUMBERS`
numbers, `CONTACTS` contacts (one of them busy, so its thread and its contact list span several pages), both
directions, the outbound statuses in realistic shares, over `DAYS` days.

Each filter shape of `SHAPES` is listed through the manage handler (its environment from the template, the
gateway's modules freshly imported, the handler called in-process with API Gateway events), following the
cursor for `PAGES` pages of `PAGE_SIZE`. Items read are DynamoDB's `ScannedCount` of every Query a page makes
(index items that match the key condition, counted before any filter, as DynamoDB bills them), summed per page
from botocore's `after-call` hook on the gateway's DynamoDB client; moto counts them as DynamoDB does. The
indexes project keys only: the page's messages are then read by BatchGetItem, counted apart (messages fetched),
and both are in the read units per page.
"""

from __future__ import annotations

import importlib
import json
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import cost, stack_bench
from local_stack.dynamodb import DUMMY_CREDENTIALS, DynamoDBEmulator, create_tables
from local_stack.front import LambdaContext
from local_stack.template import FunctionSpec, functions, table_specs

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
LIST_ROUTE = ("GET", "/messages")
WHERE = "archive"
ARCHIVE_SIZE = 12_000
NUMBERS = 6
CONTACTS = 400
DAYS = 30
END = datetime(2026, 11, 26, tzinfo=UTC)
PAGE_SIZE = 50
PAGES = 3
BUSY_CONTACT_SHARE = 0.1  # of every message: its thread with the first number holds about 200
OUTBOUND_STATUSES = {
    "delivered": 70,
    "sent": 8,
    "queued": 5,
    "failed": 8,
    "rejected": 4,
    "expired": 3,
    "unknown": 1,
    "deferred": 1,
}


def _number(index: int) -> str:
    return str(200_001 + index)


def _contact(index: int) -> str:
    return f"+33750{index:06d}"


_ONE_DAY = {"since": (END - timedelta(days=3)).isoformat(), "until": (END - timedelta(days=2)).isoformat()}
SHAPES: dict[str, dict[str, str]] = {
    "thread": {"number_id": _number(0), "contact": _contact(0)},
    "number": {"number_id": _number(0)},
    "number_inbound": {"number_id": _number(0), "direction": "inbound"},
    "number_failed": {"number_id": _number(0), "status": "failed"},
    "number_failed_outbound": {"number_id": _number(0), "status": "failed", "direction": "outbound"},
    "contact": {"contact": _contact(0)},
    "inbound": {"direction": "inbound"},
    "failed": {"status": "failed"},
    "everything": {},
    "everything_one_day": _ONE_DAY,
    "number_one_day": {"number_id": _number(1)} | _ONE_DAY,
    # Keys of the sparse status indexes (until 2026-12 they were filters and read a page and more):
    "thread_failed": {"number_id": _number(0), "contact": _contact(0), "status": "failed"},
    "contact_inbound": {"contact": _contact(0), "direction": "inbound"},
}


# ----------------------------------------------------------------------------------------------- the archive


def _records(model: Any, change: Callable[..., Any]) -> Iterator[Any]:
    """The seeded messages (the same ones every run: a fixed random seed)."""
    pick = random.Random(7)
    statuses, weights = list(OUTBOUND_STATUSES), list(OUTBOUND_STATUSES.values())
    for index in range(ARCHIVE_SIZE):
        busy = pick.random() < BUSY_CONTACT_SHARE
        contact = _contact(0 if busy else pick.randrange(1, CONTACTS))
        number_id = _number(pick.randrange(NUMBERS))
        inbound = pick.random() < 0.5
        status = "received" if inbound else pick.choices(statuses, weights)[0]
        created = END - timedelta(seconds=pick.uniform(0, DAYS * 86_400))
        created_at = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        yield model(
            id=f"msg_bench_{index:06d}",
            number_id=number_id,
            sender=contact if inbound else "+33186954210",
            recipient="+33186954210" if inbound else contact,
            contact=contact,
            direction="inbound" if inbound else "outbound",
            text=f"bench message {index}",
            purpose=None if inbound else "conversational",
            segments=1,
            encoding="GSM-7",
            status=status,
            status_history=[change(status, created, "bench")],
            created_at=created_at,
            updated_at=created_at,
        )


def _seed() -> None:
    messages = importlib.import_module("aircall_sms.store.messages")
    with messages.MessageRecord.batch_write() as batch:
        for record in _records(messages.MessageRecord, messages.change):
            batch.save(record)


# ----------------------------------------------------------------------------------------------- reading


class QueryReads:
    """DynamoDB's ScannedCount of every Query the gateway's client makes and the items of every BatchGetItem, from
    botocore's after-call hooks, with their read units (eventually consistent: half a unit per 4 KB, of each
    Query's items together and of each fetched item alone, as DynamoDB bills them)."""

    def __init__(self) -> None:
        self.scanned: list[int] = []
        self.fetched = 0
        self.read_units = 0.0

    def install(self) -> None:
        base = importlib.import_module("aircall_sms.store.base")
        events = base.raw_client().meta.events
        events.register("after-call.dynamodb.Query", self._after_query)
        events.register("after-call.dynamodb.BatchGetItem", self._after_batch_get)

    def _after_query(self, parsed: dict[str, Any], **_: Any) -> None:
        self.scanned.append(int(parsed.get("ScannedCount", 0)))
        size = sum(cost._size(item) for item in parsed.get("Items", []))
        self.read_units += cost._units(size, 4096) * 0.5

    def _after_batch_get(self, parsed: dict[str, Any], **_: Any) -> None:
        for items in parsed.get("Responses", {}).values():
            self.fetched += len(items)
            self.read_units += sum(cost._units(cost._size(item), 4096) * 0.5 for item in items)

    def take(self) -> tuple[list[int], int, float]:
        taken = self.scanned, self.fetched, self.read_units
        self.scanned, self.fetched, self.read_units = [], 0, 0.0
        return taken


def _list_event(spec: FunctionSpec, query: dict[str, str]) -> dict[str, Any]:
    method, path = LIST_ROUTE
    event = stack_bench.api_event(spec, method, path, stack_bench.gateway_headers(), "", None)
    event["body"] = None
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} or None
    return event


@dataclass
class ShapeReads:
    """What each page of one filter shape read and returned."""

    items_read: list[int] = field(default_factory=list)  # index items (the Queries' ScannedCount)
    fetched: list[int] = field(default_factory=list)  # messages read by BatchGetItem
    read_units: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)


def _measure(handler: Callable[[Any, Any], Any], spec: FunctionSpec, reads: QueryReads) -> dict[str, ShapeReads]:
    measured: dict[str, ShapeReads] = {}
    context = LambdaContext.for_function(spec, os.environ["AWS_DEFAULT_REGION"])
    for name, filters in SHAPES.items():
        shape = measured[name] = ShapeReads()
        cursor: str | None = None
        for _ in range(PAGES):
            query = filters | {"limit": str(PAGE_SIZE)} | ({"cursor": cursor} if cursor else {})
            reads.take()
            answer = handler(_list_event(spec, query), context)
            if answer.get("statusCode") != 200:
                raise RuntimeError(f"{WHERE}: GET /messages {query} answered {answer.get('statusCode')}: {answer}")
            page = json.loads(answer["body"])
            scanned, fetched, units = reads.take()
            shape.items_read.append(sum(scanned))
            shape.fetched.append(fetched)
            shape.read_units.append(units)
            shape.queries.append(len(scanned))
            shape.returned.append(len(page["items"]))
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return measured


@contextmanager
def _emulator_with_tables() -> Iterator[str]:
    with DynamoDBEmulator(port=0) as emulator:
        create_tables(emulator.url, table_specs(TEMPLATE))
        yield emulator.url


def _environment(spec: FunctionSpec, url: str) -> dict[str, str]:
    """The function's variables from the template, and the emulator's endpoint as the local stack gives it."""
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return {
        **spec.environment,
        "AWS_ENDPOINT_URL_DYNAMODB": url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def run() -> dict[str, object]:
    spec = next(
        spec
        for spec in functions(TEMPLATE).values()
        if any((route.method, route.path) == LIST_ROUTE for route in spec.routes)
    )
    with (
        stack_bench.stdout_to_stderr(),
        _emulator_with_tables() as url,
        stack_bench.environment(_environment(spec, url)),
        stack_bench.fresh_layer_modules(spec),
    ):
        _seed()
        handler = stack_bench.load_handler(spec, "bench_archive")
        reads = QueryReads()
        reads.install()
        measured = _measure(handler, spec, reads)
    target = PAGE_SIZE + 1
    over = [name for name, shape in measured.items() if max(shape.items_read) > target]
    return {
        "archive_messages": ARCHIVE_SIZE,
        "archive_items_read_per_page_target": f"<= {target} (page size {PAGE_SIZE} + 1)",
        "archive_items_read_per_page": {name: shape.items_read for name, shape in measured.items()},
        "archive_items_per_page": {name: shape.returned for name, shape in measured.items()},
        "archive_messages_fetched_per_page": {name: shape.fetched for name, shape in measured.items()},
        "archive_read_units_per_page": {name: shape.read_units for name, shape in measured.items()},
        "archive_queries_per_page": {name: shape.queries for name, shape in measured.items()},
        "archive_shapes_within_target": f"{len(measured) - len(over)} of {len(measured)}"
        + (f" (over: {', '.join(over)})" if over else ""),
    }
