"""POST /webhooks/aircall — Aircall's callbacks —, the callbacks queue (those DynamoDB could not take at once) and,
on its schedule, the reconciliation of the callbacks still pending. Kept lean (no request-model machinery) so a
cold start answers well inside Aircall's 5-second limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aircall_sms.api import proxy
from aircall_sms.errors import GatewayError
from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import snapshot
from aircall_sms.use_cases.callbacks import receive_callback, reconcile, take_queued

if TYPE_CHECKING:  # an annotation only: not imported in Lambda
    from aws_lambda_powertools.utilities.typing import LambdaContext

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    if event.get("source") == "aws.events":  # the schedule: apply the callbacks still pending
        return {"reconciled": reconcile()}
    records = event.get("Records")
    if isinstance(records, list):  # the callbacks queue: a partial batch response (ReportBatchItemFailures)
        queued = [(str(record["messageId"]), str(record.get("body") or "")) for record in records]
        return {"batchItemFailures": [{"itemIdentifier": again} for again in take_queued(queued)]}
    try:
        outcome = receive_callback(proxy.decode_body(event))
    except GatewayError as failure:
        logger.info("callback refused", extra={"code": failure.code, "status": failure.status})
        return proxy.refusal(failure)
    logger.info("callback handled", extra={"event": outcome.event, "result": outcome.result})
    return proxy.answer(200, outcome.to_body())
