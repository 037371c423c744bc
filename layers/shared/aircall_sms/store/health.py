"""Whether the tables answer (GET /health): one eventually consistent GetItem per table, of a key that never
exists (HEALTH_KEY; the HealthFunction's role may read that key alone), projected to its key: half a read unit
each, never a strongly consistent read."""

from __future__ import annotations

from aircall_sms.settings import get_settings
from aircall_sms.store.base import raw_client

HEALTH_KEY = "health-check"


def tables_answer() -> None:
    """Raises what DynamoDB raised when a table does not answer (the route answers 5xx then)."""
    settings = get_settings()
    client = raw_client()
    for table, key in ((settings.messages_table, "id"), (settings.numbers_table, "number_id")):
        client.get_item(
            TableName=table,
            Key={key: {"S": HEALTH_KEY}},
            ConsistentRead=False,
            ProjectionExpression="#key",
            ExpressionAttributeNames={"#key": key},
        )
