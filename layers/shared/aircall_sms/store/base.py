"""What every table model shares: the table name comes from the settings when first used, not at import, and
one pynamodb connection serves every table.

A throttled call is `ServiceBusy` (503 with Retry-After) wherever it is made: reads (GetItem, Query, Scan,
BatchGetItem) and single writes alike, through pynamodb or the raw client, once botocore's own retries are spent.
The shared client answers so after the call (`_busy_when_throttled`), so no call site can forget it."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.models import Model
from pynamodb.settings import get_settings_value

from aircall_sms.domain import deadline
from aircall_sms.errors import ServiceBusy
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings

_shared: Connection | None = None

# DynamoDB's throttling answers. botocore has already retried them with backoff when they reach the gateway; a
# throttled request did nothing, so the caller is told to come back (503 service_busy), never left with a crash.
THROTTLED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


class TableName:
    """A pynamodb `Meta.table_name` read from the settings lazily (pynamodb reads it on first use)."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    def __get__(self, instance: object, owner: type) -> str:
        value = getattr(get_settings(), self.setting)
        assert isinstance(value, str)
        return value


class GatewayModel(Model):
    """Base of the gateway's table models. pynamodb gives every model its own connection, hence its own botocore
    session and client: each loads and parses botocore's endpoint and DynamoDB data again (tens of ms of a cold
    start, per table) and opens its own connections (a TLS handshake per table). Here every table shares one
    connection (`connection()`), with each table's key schema registered in it."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table_connection = super()._get_connection()
        shared = connection()
        if table_connection.connection is not shared:
            if table_connection.table_name not in shared._tables:  # two models of one table share its schema
                shared.add_meta_table(table_connection.connection.get_meta_table(table_connection.table_name))
            table_connection.connection = shared
        return table_connection


class _GatewayConnection(Connection):
    """pynamodb's connection whose botocore client turns throttling into `ServiceBusy` (pynamodb makes a new
    client when the old one lost its credentials: each one gets the hook)."""

    @property
    def client(self) -> Any:
        made: Any = super().client
        if not getattr(made, "_gateway_hooks", False):
            made.meta.events.register("before-send.dynamodb", _refuse_past_the_deadline)
            made.meta.events.register("after-call.dynamodb", _busy_when_throttled)
            made._gateway_hooks = True
        return made


def _refuse_past_the_deadline(event_name: str = "", **_: Any) -> None:
    """botocore's `before-send` event, before every HTTP attempt (retries included): an attempt starts only
    while a whole attempt (connect + read timeouts) fits in the invocation's budget (`domain.deadline`), so none
    is cut off by Lambda's timeout. Not starting one is `ServiceBusy`: this attempt changed nothing."""
    budget = deadline.current()
    if budget is None:
        return
    needed = get_settings().dynamodb_attempt_seconds
    if not budget.fits(needed):
        operation = event_name.rsplit(".", 1)[-1]
        logger.warning("no time left for a DynamoDB attempt", extra={"operation": operation, "left": budget.left()})
        raise ServiceBusy("The gateway ran out of time for this request; retry shortly.", headers={"Retry-After": "1"})


def _busy_when_throttled(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore's `after-call` event: the last attempt's answer, once its retries are spent, before botocore
    raises it. A throttling answer is `ServiceBusy`, with the operation (never its keys) in the log."""
    if getattr(http_response, "status_code", 200) < 300:
        return
    code = (parsed.get("Error") or {}).get("Code")
    if code in THROTTLED:
        logger.warning("DynamoDB throttled a call", extra={"code": code, "operation": getattr(model, "name", "")})
        raise ServiceBusy("DynamoDB is throttling the gateway; retry shortly.", headers={"Retry-After": "1"})


def pack_text(text: str) -> dict[str, bytes]:
    """`text` as a DynamoDB binary value, deflated: JSON documents kept whole (an Aircall callback, an answer to
    replay) take about half their size, and DynamoDB bills writes by the kilobyte."""
    return {"B": zlib.compress(text.encode("utf-8"), 6)}


def unpack_text(value: dict[str, Any]) -> str:
    """The text of a value `pack_text` made, or of a plain string one (written before texts were packed)."""
    if "B" in value:
        return zlib.decompress(bytes(value["B"])).decode("utf-8")
    text: str = value["S"]
    return text


class PackedTextAttribute(Attribute[str]):
    """A text attribute stored deflated (`pack_text`); reads the plain strings of items written before too."""

    attr_type = "B"

    def serialize(self, value: str) -> bytes:
        return pack_text(value)["B"]

    def get_value(self, value: dict[str, Any]) -> Any:
        return value

    def deserialize(self, value: Any) -> str:
        return unpack_text(value)


def connection() -> Connection:
    """The one pynamodb connection of this instance, with explicit timeouts and retries (settings
    `DYNAMODB_CONNECT_TIMEOUT`, `DYNAMODB_READ_TIMEOUT`, `DYNAMODB_MAX_ATTEMPTS`; botocore's `standard` retry
    mode: backoff with jitter on throttling and transient errors, no client-side rate limiter that would sleep
    through an invocation's time)."""
    global _shared
    if _shared is None:
        settings = get_settings()
        _shared = _GatewayConnection(
            region=get_settings_value("region"),
            host=get_settings_value("host"),
            connect_timeout_seconds=settings.dynamodb_connect_timeout,
            read_timeout_seconds=settings.dynamodb_read_timeout,
            max_retry_attempts=settings.dynamodb_max_attempts - 1,
            retry_configuration={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
            max_pool_connections=get_settings_value("max_pool_connections"),
            extra_headers=get_settings_value("extra_headers"),
        )
    return _shared


def forget_connection() -> None:
    """Drop the shared connection (a new Lambda instance would not have it): for tests that change endpoints."""
    global _shared
    _shared = None


def raw_client() -> Any:
    """The botocore DynamoDB client of the shared connection (same endpoint, region, retries and pool), for the
    calls pynamodb does not express: multi-table transactions with per-item cancellation reasons."""
    return connection().client


def aws_client(service: str) -> Any:
    """A client of another AWS service (Secrets Manager, EventBridge) made from the tables' botocore session,
    with the same explicit timeouts and retries as the tables' (botocore's defaults are 60 s per read and
    legacy retries: far longer than an invocation)."""
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=settings.dynamodb_read_timeout,
        retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
    )
    return botocore_session().create_client(service, config=config)


def botocore_session() -> Any:
    """The botocore session of that connection, for the gateway's other AWS clients (Secrets Manager): a client
    made from it reuses the endpoint, partition and retry data the session has already loaded, where a new
    session (boto3's default for every client) loads and parses them again, a cost paid on every cold start."""
    return connection().session


WRITE_BATCH = 25  # BatchWriteItem's most items per request
WRITE_ATTEMPTS = 8


def query_all(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a Query (DynamoDB JSON `request`) answers, page after page (following LastEvaluatedKey)."""
    client = raw_client()
    request = dict(request)
    while True:
        answer = client.query(**request)
        yield from answer.get("Items", [])
        if not answer.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def batch_write(table: str, requests: list[dict[str, Any]]) -> int:
    """Write `requests` (PutRequest / DeleteRequest) to `table`, 25 per BatchWriteItem, following
    UnprocessedItems with a growing pause; the number of requests still unprocessed after `WRITE_ATTEMPTS`."""
    client = raw_client()
    unprocessed = 0
    for start in range(0, len(requests), WRITE_BATCH):
        request: dict[str, Any] = {table: requests[start : start + WRITE_BATCH]}
        for attempt in range(WRITE_ATTEMPTS):
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)
        unprocessed += len(request.get(table, []))
    return unprocessed


def batch_delete(table: str, keys: list[dict[str, Any]]) -> int:
    """Delete the items of `table` at `keys` (DynamoDB JSON); the number of keys handed to DynamoDB (deleting a
    missing item is no error). Raises when DynamoDB keeps some unprocessed."""
    unprocessed = batch_write(table, [{"DeleteRequest": {"Key": key}} for key in keys])
    if unprocessed:
        raise RuntimeError(f"DynamoDB kept {unprocessed} deletes of {table} unprocessed")
    return len(keys)
