"""moto's server, answering one request at a time: `python emulator_server.py -H 127.0.0.1 -p <port>`.

moto evaluates a conditional write (PutItem/UpdateItem/DeleteItem with a ConditionExpression, and
TransactWriteItems) as "read the item, evaluate the condition, write" with no lock, and `python -m moto.server`
serves each request in its own thread. Two concurrent requests can therefore both pass a condition that real
DynamoDB lets only one of them pass (an `ADD used :n` guarded by `used <= :max` goes over its limit), and a
failed transaction restores a snapshot of the whole table, undoing writes other threads made meanwhile.
DynamoDB applies each single-item conditional write, and each transaction, atomically; the gateway's quota
counters rely on it.

So this builds moto's application exactly as `moto.server.main` does, and wraps it in a middleware that holds one
lock while the application answers and while its response body is read, which makes every API call atomic.
The server stays threaded (a slow client does not hold the lock while it connects or reads its answer), and
requests are cheap, so serialising them costs the tests nothing noticeable.

It also replaces moto's `DynamoDBBackend.transact_write_items` (see `patch_transactions`): moto deep-copies every
table a transaction touches to be able to roll it back, so each TransactWriteItems costs time in proportion to the
tables' sizes; the replacement remembers only the items the transaction writes. And it makes moto's Query read
only the queried partition (see `patch_queries`): moto sorts the whole table on every Query, which made a
dispatcher run next to a 5,000-message backlog cost seconds of emulator time.

Run as a script (by `local_stack.dynamodb.DynamoDBEmulator`), so it imports only moto, werkzeug and the stdlib.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import moto
from moto.core.responses import ActionContext
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodb.responses import DynamoResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def serialised(app: WSGIApplication) -> WSGIApplication:
    """`app`, answering one request at a time: the whole body is produced under one lock, then returned as a list."""
    lock = threading.Lock()

    def one_at_a_time(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with lock:
            body = app(environ, start_response)
            try:
                return list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return one_at_a_time


# ------------------------------------------------------------------------------------------ transactions

# The moto whose `DynamoDBBackend.transact_write_items` `transact_write_items` below reproduces (pyproject pins it).
MOTO_VERSION = "5.2.5"

# What the replacement calls on moto's backend: method -> (its leading parameters, which are passed by position;
# the parameters passed by name). `transact_write_items` itself: the parameters the server calls it with.
_EXPRESSIONS = ("condition_expression", "expression_attribute_names", "expression_attribute_values")
_BACKEND_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "transact_write_items": (("self", "transact_items"), ()),
    "get_table": (("self", "table_name"), ()),
    "get_keys_value": (("self", "table", "keys"), ()),
    "get_item": (("self", "table_name", "keys"), ()),
    "put_item": (("self", "table_name", "item_attrs"), _EXPRESSIONS),
    "delete_item": (("self", "table_name", "key"), _EXPRESSIONS),
    "update_item": (("self", "table_name", "key"), ("update_expression", *_EXPRESSIONS)),
}


class _Undo:
    """What a transaction's writes replaced, to put back: for each written item, in order, a deep copy of the item
    as it was (None: it did not exist), and for each table with a stream, its stream records as they were."""

    def __init__(self) -> None:
        self._items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        self._streams: dict[int, tuple[StreamShard, list[StreamRecord], int]] = {}

    def remember(self, table: Table, hash_value: DynamoType, range_value: DynamoType | None) -> None:
        """Call before writing the item: costs one copy of that item, whatever the table's size."""
        shard = table.stream_shard
        if shard is not None and id(table) not in self._streams:
            self._streams[id(table)] = (shard, shard.items, len(shard.items))
        before = table.get_item(hash_value, range_value)
        self._items.append((table, hash_value, range_value, copy.deepcopy(before)))

    def rollback(self) -> None:
        """Every remembered item back as it was, last written first; the streams without the records the
        transaction added. Writes `Table.items` as moto's `Table.put_item` and `Table.delete_item` do, without
        their validation (the items were valid) and stream records (an undo is not a change)."""
        for table, hash_value, range_value, before in reversed(self._items):
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before  # type: ignore[assignment]  # as Table.put_item
            elif before is None:
                hash_set = table.items.get(hash_value)
                if hash_set is not None:
                    hash_set.pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before
        for shard, records, count in self._streams.values():
            # `StreamShard.add` appends to `items`, or, after handing them to a Lambda, starts a new list.
            del records[count:]
            shard.items = records
        self._items.clear()
        self._streams.clear()


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's `DynamoDBBackend.transact_write_items`, statement for statement, except for how it rolls back.

    moto deep-copies every table the transaction names before it starts, and on failure puts the copies in place
    of the tables. This remembers a deep copy of each item just before the transaction writes it (`_Undo`), and on
    failure puts those items back, in reverse order. Secondary indexes need nothing: moto derives every index
    query and scan from `Table.items`. The tables and their streams stay the same objects, so a stream reader's
    shard iterator keeps reading the table's stream (after moto's rollback it read the replaced stream: the
    cancelled transaction's records, then nothing). Two more differences, both where moto departs from DynamoDB:
    an entry with more than one operation also undoes the entries before it (moto raised without rolling back),
    and a table named by its ARN is rolled back too (moto only copied tables named by their name).
    """
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _Undo()

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            undo.rollback()
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                # get_item above validated the key against the table: these are the item's key values.
                table = self.get_table(table_name)
                undo.remember(table, *self.get_keys_value(table, key))

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            # Rollback to the original state, and reraise the error
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:
            # For other exceptions, capture their details
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        # Rollback to the original state, and reraise the errors
        undo.rollback()
        raise TransactionCanceledException(errors)


def check_moto() -> None:
    """Raise unless the installed moto is the one `transact_write_items` reproduces, with the methods it calls."""
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"emulator_server.transact_write_items reproduces moto {MOTO_VERSION}'s "
            f"DynamoDBBackend.transact_write_items, but moto {moto.__version__} is installed: compare the two "
            "(and the backend methods it calls), bring the copy up to date, then MOTO_VERSION"
        )
    for name, (positional, by_name) in _BACKEND_NEEDS.items():
        method = getattr(DynamoDBBackend, name, None)
        parameters = tuple(inspect.signature(method).parameters) if callable(method) else ()
        if parameters[: len(positional)] != positional or not set(by_name) <= set(parameters):
            raise RuntimeError(f"moto's DynamoDBBackend.{name}{parameters} is not what emulator_server expects")


def patch_transactions() -> None:
    """Make moto's DynamoDB transactions cost time in proportion to their items, not to their tables.

    moto 5.2.5's `DynamoDBBackend.transact_write_items` starts with `copy.deepcopy(self.tables[name])` for every
    table a transaction names, to be able to roll back. The gateway's send path runs one TransactWriteItems per
    message, and it writes to the messages archive: each send cost the emulator time in proportion to the
    archive's size (a Put and an Update: ~6 ms next to an empty table, ~50 ms next to 3,000 items, ~150 ms next to
    10,000), which made benchmarks with large archives measure moto rather than the gateway. `transact_write_items`
    above is moto's method with an undo log of the written items instead (same validation, errors and cancellation
    reasons), so a transaction costs time in proportion to its items.

    A plain assignment on moto's class (each account and region's backend is an instance of it; no subclass to
    register), made by `main()` before the server starts. `check_moto()` refuses to patch any other moto: the
    replacement is a copy of moto's method and must be compared again when moto changes.
    """
    check_moto()
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------ queries

_moto_query = Table.query
_QUERY_SIGNATURE = inspect.signature(Table.query)
_moto_all_items = Table.all_items
_moto_sorted_items = Table.sorted_items
_PLAIN_TYPES = frozenset({"S", "B"})  # compared as they are stored; numbers need moto's Decimal comparison


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    """moto's `Table.query`, reading only the items of the queried partition.

    moto answers a Query by sorting every item of the table, comparing each one's keys through `DynamoType`
    (which converts the value on every comparison), then sorting the matches the same way: ~40 ms per Query next
    to 5,000 items, whatever the partition's size. Here the partition's items are picked first (a table's by its
    hash key, an index's by comparing the stored key values) and moto's own query runs on those alone, so its
    results, order, counts and LastEvaluatedKey are unchanged. Anything else (a number-typed index key, a query
    shape moto may add) falls back to moto's full read."""
    arguments = _QUERY_SIGNATURE.bind(self, *args, **kwargs).arguments
    self._query_candidates = _partition(self, arguments)  # type: ignore[attr-defined]
    try:
        return _moto_query(self, *args, **kwargs)
    finally:
        self._query_candidates = None  # type: ignore[attr-defined]


def _partition(self: Table, arguments: dict[str, Any]) -> list[Item] | None:
    """The items of the queried partition; None when only moto's full read is sure to be right."""
    hash_key, index_name = arguments.get("hash_key"), arguments.get("index_name")
    if not index_name:
        if hash_key is None:
            return None
        found: Any = self.items.get(hash_key)  # a dict of items by range key, or the item itself
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]
    conditions = arguments.get("hash_key_conditions") or []
    if not conditions or any(value.type not in _PLAIN_TYPES for _, value in conditions):
        return None
    wanted = [(name, value.type, value.value) for name, value in conditions]
    matching = []
    for item in _every_item(self):
        for name, kind, raw in wanted:
            found_value = item.attrs.get(name)
            if found_value is None or found_value.type != kind or found_value.value != raw:
                break
        else:
            matching.append(item)
    return matching


def _every_item(self: Table) -> Iterable[Item]:
    for hash_set in self.items.values():
        if self.range_key_attr:
            yield from hash_set.values()
        else:
            yield hash_set  # type: ignore[misc]


def all_items(self: Table) -> list[Item]:
    """The items a running `query` reads (its partition), else moto's `all_items`."""
    candidates = getattr(self, "_query_candidates", None)
    return list(candidates) if candidates is not None else _moto_all_items(self)


def sorted_items(
    self: Table, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Item]
) -> list[Item]:
    """moto's order (the same attributes), compared on the stored values when they are strings or binaries."""
    attributes = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
    if any(item.attrs[name].type not in _PLAIN_TYPES for item in items for name in attributes):
        return _moto_sorted_items(self, hash_key_attrs, range_key_attrs, items)
    items.sort(key=lambda item: tuple(item.attrs[name].value for name in attributes))
    return items


# Reads answer items in DynamoDB JSON already: moto's generic serializer walks every attribute value through the
# API model (~2 ms per item), which dominated a 50-item page. These are dumped as they are.
_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})
_moto_execute_result = DynamoResult.execute_result


def execute_result(self: DynamoResult, context: ActionContext) -> Any:
    """moto's answer to a read, dumped as JSON directly; anything else (or a result holding bytes, which the
    serializer base64-encodes) goes through moto's serializer."""
    if context.operation_model.name in _READS:
        try:
            body = json.dumps(self.result)
        except TypeError:
            pass
        else:
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
    return _moto_execute_result(self, context)


def patch_queries() -> None:
    """Make moto's Query cost time in proportion to the partition read, not to the table (see `query`), and its
    reads cost time in proportion to their answer's size (see `execute_result`)."""
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.sorted_items = sorted_items  # type: ignore[method-assign]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign,assignment]


def _exit(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-H", "--host", default="127.0.0.1", help="which host to bind")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")), help="port")
    args = parser.parse_args(argv)

    # As moto.server.main: moto builds some URLs (SQS queue URLs, ...) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    try:
        signal.signal(signal.SIGINT, _exit)
        signal.signal(signal.SIGTERM, _exit)
    except ValueError:  # pragma: no cover - only when not run in the main thread
        pass

    patch_transactions()
    patch_queries()
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto.server.main does
    run_simple(args.host, args.port, serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
