"""What every table model shares: the table name comes from the settings when first used, not at import."""

from __future__ import annotations

from typing import Any

from ..settings import get_settings


class TableName:
    """A pynamodb `Meta.table_name` read from the settings lazily (pynamodb reads it on first use)."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    def __get__(self, instance: object, owner: type) -> str:
        value = getattr(get_settings(), self.setting)
        assert isinstance(value, str)
        return value


def raw_client() -> Any:
    """The botocore DynamoDB client pynamodb's connection uses (same endpoint, region, retries and pool), for
    the calls pynamodb does not express: multi-table transactions with per-item cancellation reasons."""
    from .numbers import NumberRecord

    return NumberRecord._get_connection().connection.client


def botocore_session() -> Any:
    """The botocore session of that connection, for the gateway's other AWS clients (Secrets Manager): a client
    made from it reuses the endpoint, partition and retry data the session has already loaded, where a new
    session (boto3's default for every client) loads and parses them again, a cost paid on every cold start."""
    from .numbers import NumberRecord

    return NumberRecord._get_connection().connection.session
