"""Estimated AWS cost per million messages, from what one run of the whole local stack measured.

The workload: `MESSAGES` sends over HTTP (each with an Idempotency-Key, as a careful client sends them), the
status callbacks the Aircall sandbox posts back for each, and the events the streams publish, all through the
local stack (handlers in-process, the DynamoDB emulator, the sandbox). Counted while it runs:

- API Gateway requests: every request the HTTP front answered (sends and callbacks).
- Lambda: every invocation of every handler (API, stream batches) and its duration in this process. The
  duration is measured here, next to the emulator (slower than DynamoDB) on a shared machine: an upper bound of
  the billed duration, at the template's memory size.
- DynamoDB request units, from every call the handlers made (botocore's `Endpoint.make_request`, every thread):
  writes in 1 KB units of the item's size after the write (before it, for a delete), twice for a transaction's
  items, plus the global secondary index entries the write changed (an entry, the keys and what the index
  projects, is written in 1 KB units of its size when it appears or changes, and deleted when it leaves or its
  key changes); reads in 4 KB units, half for eventually consistent reads, twice for a transaction's condition
  checks. Item sizes follow DynamoDB's rules (attribute names and values, in bytes). To know an item's size and
  index entries before and after each write, it is read on the side (those reads are not counted).
- EventBridge: every event published (PutEvents entries).

The scheduled functions (the dispatcher every minute, the rollover hourly) cost the same whatever the volume:
they are reported per month, not per message. Not included: storage, CloudWatch logs and metrics, X-Ray, data
transfer, Secrets Manager (cached: a few calls per instance).

Prices: on-demand, US East (N. Virginia), as published on the AWS pricing pages (see PRICES and PRICES_AS_OF).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx

from bench import stack_bench
from local_stack.dynamodb import client as aws_client
from local_stack.stack import LocalStack
from local_stack.template import functions, table_specs

WHERE = "cost"
SENDER = "100005"
RECIPIENT = "+33145678901"
MESSAGES = 40
SWEEP_MARGIN = timedelta(seconds=5)
PRICES_AS_OF = "2025-06 (AWS pricing pages; DynamoDB on-demand after its 2024-11 price cut)"
PRICES = {
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_second_arm64": 0.0000133334,  # first 7.5 billion GB-s a month
    "api_gateway_rest_request": 3.50 / 1e6,  # first 333 million a month
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "eventbridge_custom_event": 1.00 / 1e6,
}
_WRITE_KINDS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}


def run() -> dict[str, object]:
    with stack_bench.running_stack(WHERE, SENDER) as stack:
        meter = _Meter(stack)
        with meter.watching():
            _workload(stack, meter)
        per_message = meter.per_message(MESSAGES)
    costs = {
        "lambda": per_message["lambda_invocations"] * PRICES["lambda_request"]
        + per_message["lambda_gb_seconds"] * PRICES["lambda_gb_second_arm64"],
        "api_gateway": per_message["api_requests"] * PRICES["api_gateway_rest_request"],
        "dynamodb": per_message["write_units"] * PRICES["dynamodb_write_request_unit"]
        + per_message["read_units"] * PRICES["dynamodb_read_request_unit"],
        "eventbridge": per_message["events_published"] * PRICES["eventbridge_custom_event"],
    }
    per_million = {name: round(value * 1e6, 2) for name, value in costs.items()}
    return {
        f"{WHERE}.measured_per_message": {name: round(value, 3) for name, value in per_message.items()},
        f"{WHERE}.usd_per_million_messages": per_million | {"total": round(sum(per_million.values()), 2)},
        f"{WHERE}.prices_usd": PRICES,
        f"{WHERE}.prices_as_of": PRICES_AS_OF,
    }


def _workload(stack: LocalStack, meter: _Meter) -> None:
    with httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=30) as api:
        for index in range(MESSAGES):
            answer = api.post(
                "/messages",
                json={"from": SENDER, "to": RECIPIENT, "text": f"Votre commande {index} est prête."},
                headers={"Idempotency-Key": f"cost-{uuid.uuid4()}"},
            )
            if answer.status_code != 201:
                raise RuntimeError(f"{WHERE}: a send answered {answer.status_code}: {answer.text}")
    drained = httpx.post(f"{stack.aircall_url}/_sandbox/callbacks/drain", json={"timeout_s": 60}, timeout=90)
    drained.raise_for_status()
    stack.drain_streams(60)
    # One run of the callbacks' sweep past its delay: it reads every callback once from `by_receipt`, so its reads
    # are part of each message's cost; its one write (the mark moved past them) is once a run, whatever the
    # volume (`sweep_run_write_units`). It finds none left to apply.
    from aircall_sms.domain.timeutil import utcnow
    from aircall_sms.use_cases.callbacks import SWEEP_DELAY, reconcile

    meter.per_run.active = True
    try:
        swept = reconcile(now=utcnow() + SWEEP_DELAY + SWEEP_MARGIN)
    finally:
        meter.per_run.active = False
    if swept != {"applied": 0, "pending": 0, "abandoned": 0}:
        raise RuntimeError(f"{WHERE}: the sweep found callbacks the webhook had not applied: {swept}")


class _Meter:
    """Counts invocations, API requests and DynamoDB request units while `watching`."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self._side = threading.local()  # set while this meter reads an item for itself
        self._raw = aws_client("dynamodb", stack.dynamodb_url)
        specs = table_specs(stack.template, stack.parameter_overrides)
        self._tables = {spec.table_name: spec.create_kwargs for spec in specs.values()}
        self._names = {spec.table_name: logical_id for logical_id, spec in specs.items()}
        self.write_units_by: Counter[str] = Counter()
        self._memory = {logical_id: spec.memory_size for logical_id, spec in functions(stack.template).items()}
        self.invocations: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.write_units = 0.0
        self.sweep_run_write_units = 0.0  # writes of the callbacks' sweep: a run a minute, not per message
        self.per_run = threading.local()  # set while the sweep runs (its reads are per message, its writes not)
        self.read_units = 0.0
        self.events = 0
        self.api_requests = 0

    def per_message(self, messages: int) -> dict[str, float]:
        gb_seconds = sum(self.seconds[name] * self._memory[name] / 1024 for name in self.seconds)
        return (
            {
                "api_requests": self.api_requests / messages,
                "lambda_invocations": sum(self.invocations.values()) / messages,
                "lambda_gb_seconds": gb_seconds / messages,
                "write_units": self.write_units / messages,
                "sweep_run_write_units": self.sweep_run_write_units,
                "read_units": self.read_units / messages,
                "events_published": self.events / messages,
            }
            | {f"invocations_{name}": count / messages for name, count in sorted(self.invocations.items())}
            | {f"write_units_{name}": units / messages for name, units in sorted(self.write_units_by.items())}
        )

    @contextmanager
    def watching(self) -> Iterator[None]:
        from botocore.endpoint import Endpoint

        front = self._stack.front
        assert front is not None
        original_handler, original_request = front.handler, Endpoint.make_request
        meter = self

        def handler(function_logical_id: str) -> Any:
            inner = original_handler(function_logical_id)

            def timed(event: Any, context: Any) -> Any:
                started = time.perf_counter()
                try:
                    return inner(event, context)
                finally:
                    with meter._lock:
                        meter.invocations[function_logical_id] += 1
                        meter.seconds[function_logical_id] += time.perf_counter() - started
                        meter.api_requests += int(isinstance(event, dict) and "httpMethod" in event)

            return timed

        def make_request(endpoint: Any, operation_model: Any, request_dict: Any) -> Any:
            if getattr(meter._side, "active", False):
                return original_request(endpoint, operation_model, request_dict)
            service, operation = operation_model.service_model.endpoint_prefix, operation_model.name
            params = json.loads(request_dict.get("body") or b"{}") if service in ("dynamodb", "events") else {}
            before = meter._before(operation, params) if service == "dynamodb" else []
            answer = original_request(endpoint, operation_model, request_dict)
            parsed = answer[1] if isinstance(answer, tuple) else {}
            if service == "dynamodb":
                meter._count_dynamodb(operation, params, parsed, before)
            elif service == "events" and operation == "PutEvents":
                with meter._lock:
                    meter.events += len(params.get("Entries", [])) - int(parsed.get("FailedEntryCount", 0))
            return answer

        front.handler = handler  # type: ignore[method-assign]
        Endpoint.make_request = make_request  # type: ignore[method-assign, assignment]
        try:
            yield
        finally:
            Endpoint.make_request = original_request  # type: ignore[method-assign]
            front.handler = original_handler  # type: ignore[method-assign]

    # ---------------------------------------------------------------------------------------------- DynamoDB
    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], bool]]:
        """(kind, table, item or key, transactional) of every item `params` writes or checks."""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            item = params.get("Item") if operation == "PutItem" else params.get("Key")
            return [(operation, params["TableName"], item or {}, False)]
        if operation == "TransactWriteItems":
            found = []
            for entry in params.get("TransactItems", []):
                ((kind, body),) = entry.items()
                item = body.get("Item") if kind == "Put" else body.get("Key")
                found.append((_WRITE_KINDS.get(kind, "ConditionCheck"), body["TableName"], item or {}, True))
            return found
        if operation == "BatchWriteItem":
            return [
                (
                    "PutItem" if "PutRequest" in request else "DeleteItem",
                    table,
                    request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key", {}),
                    False,
                )
                for table, requests in params.get("RequestItems", {}).items()
                for request in requests
            ]
        return []

    def _read_item(self, table: str, item_or_key: dict[str, Any]) -> dict[str, Any] | None:
        names = [key["AttributeName"] for key in self._tables[table]["KeySchema"]]
        key = {name: item_or_key[name] for name in names if name in item_or_key}
        self._side.active = True
        try:
            found = self._raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        finally:
            self._side.active = False
        return dict(found) if found else None

    def _before(self, operation: str, params: dict[str, Any]) -> list[dict[str, Any] | None]:
        return [self._read_item(table, item) for _, table, item, _ in self._writes(operation, params)]

    def _count_dynamodb(
        self, operation: str, params: dict[str, Any], parsed: dict[str, Any], before: list[dict[str, Any] | None]
    ) -> None:
        writes = self._writes(operation, params)
        cancelled = "Error" in parsed
        units: Counter[str] = Counter()
        reads = 0.0
        for (kind, table, item, transactional), old in zip(writes, before, strict=True):
            name = self._names.get(table, table)
            factor = 2 if transactional else 1
            if kind == "ConditionCheck":
                reads += 2 * _units(_size(old or item), 4096)
                continue
            new = None if kind == "DeleteItem" or cancelled else self._read_item(table, item)
            if cancelled or (new == old and kind != "DeleteItem"):  # a refused condition still costs the write
                units[name] += factor * _units(_size(old or item), 1024)
                continue
            units[name] += factor * _units(_size(old if kind == "DeleteItem" else new), 1024)
            units[f"{name} indexes"] += self._index_writes(table, old, new)
        if operation in ("GetItem", "Query", "Scan"):
            size = sum(_size(found) for found in parsed.get("Items", [parsed.get("Item") or {}]))
            reads += _units(size, 4096) * (1 if params.get("ConsistentRead") else 0.5)
        elif operation == "BatchGetItem":
            consistent = all(request.get("ConsistentRead") for request in params.get("RequestItems", {}).values())
            for items in parsed.get("Responses", {}).values():
                reads += sum(_units(_size(found), 4096) for found in items) * (1 if consistent else 0.5)
        with self._lock:
            if getattr(self.per_run, "active", False):  # the sweep's mark: once a run, whatever the volume
                self.sweep_run_write_units += sum(units.values())
            else:
                self.write_units += sum(units.values())
                self.write_units_by.update(units)
            self.read_units += reads

    def _index_writes(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
        """Write units of the index entries a write changed: an entry is the table's and the index's keys plus
        what the index projects; it is written when it appears or any of that changes (in 1 KB units of its
        size), deleted when it leaves or its key changes (the old entry's size)."""
        units = 0
        table_keys = [key["AttributeName"] for key in self._tables[table]["KeySchema"]]
        for index in self._tables[table].get("GlobalSecondaryIndexes", []):
            names = [key["AttributeName"] for key in index["KeySchema"]]
            before, after = _index_entry(index, table_keys, old), _index_entry(index, table_keys, new)
            moved = before is not None and after is not None and any(before[n] != after[n] for n in names)
            if after is not None and (before is None or moved or after != before):
                units += _units(_size(after), 1024)
            if before is not None and (after is None or moved):
                units += _units(_size(before), 1024)
        return units


def _index_entry(index: dict[str, Any], table_keys: list[str], item: dict[str, Any] | None) -> dict[str, Any] | None:
    """What `index` holds of `item` (None: the item is not in it, a key attribute being absent)."""
    names = [key["AttributeName"] for key in index["KeySchema"]]
    if item is None or not all(name in item for name in names):
        return None
    projection = index["Projection"]
    if projection["ProjectionType"] == "ALL":
        return dict(item)
    kept = set(names) | set(table_keys) | set(projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in kept}


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def _size(item: dict[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: each attribute's name plus its value, in bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in (item or {}).items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        digits = str(content).lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":  # bytes as botocore parses them; base64 text in a request's body
        return len(content) if isinstance(content, bytes | bytearray) else len(base64.b64decode(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in content.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in content)
    return 0
