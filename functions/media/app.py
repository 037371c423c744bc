"""The archive's DynamoDB stream -> inbound MMS files copied from Aircall's expiring links into the media bucket
(docs/api.md, "Inbound media")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import snapshot
from aircall_sms.use_cases.media import copy_batch

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    retry = copy_batch(event.get("Records") or [])
    # ReportBatchItemFailures: Lambda retries the batch from the lowest sequence number named here.
    return {"batchItemFailures": [{"itemIdentifier": sequence_number} for sequence_number in retry]}
