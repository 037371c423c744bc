"""The archive's and the contacts' DynamoDB streams -> the gateway's event bus (message.received,
message.status_changed, contact.opted_out, contact.opted_in, contact.help_requested; docs/api.md, "Events")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import snapshot
from aircall_sms.use_cases.publish_events import publish_changes

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    unpublished = publish_changes(event.get("Records") or [])
    # ReportBatchItemFailures: Lambda retries the batch from the lowest sequence number named here.
    return {"batchItemFailures": [{"itemIdentifier": sequence_number} for sequence_number in unpublished]}
