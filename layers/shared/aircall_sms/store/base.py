"""What every table model shares: the table name comes from the settings when first used, not at import, and
one pynamodb connection serves every table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pynamodb.connection import Connection, TableConnection
from pynamodb.models import Model
from pynamodb.settings import get_settings_value

from aircall_sms.settings import get_settings

_shared: Connection | None = None


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


def connection() -> Connection:
    """The one pynamodb connection of this instance (pynamodb's default settings, as its models would get)."""
    global _shared
    if _shared is None:
        _shared = Connection(
            region=get_settings_value("region"),
            host=get_settings_value("host"),
            connect_timeout_seconds=get_settings_value("connect_timeout_seconds"),
            read_timeout_seconds=get_settings_value("read_timeout_seconds"),
            max_retry_attempts=get_settings_value("max_retry_attempts"),
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
