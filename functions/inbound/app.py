"""POST /webhooks/aircall — Aircall's callbacks — and, on its schedule, the reconciliation of the callbacks
still pending. Kept lean (no request-model machinery) so a cold start answers well inside Aircall's 5-second
limit."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aircall_sms.errors import GatewayError, InvalidRequest
from aircall_sms.observability import logger, metrics, tracer
from aircall_sms.use_cases.callbacks import handle_callback, reconcile

if TYPE_CHECKING:  # an annotation only: not imported in Lambda
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _body(event: dict[str, Any]) -> str | None:
    body = event.get("body")
    if body is None or not event.get("isBase64Encoded"):
        return body if isinstance(body, str) or body is None else None
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("The callback body is not UTF-8 JSON.") from None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    if event.get("source") == "aws.events":  # the schedule: apply the callbacks still pending
        return {"reconciled": reconcile()}
    try:
        outcome = handle_callback(_body(event))
    except GatewayError as failure:
        logger.info("callback refused", extra={"code": failure.code, "status": failure.status})
        return _answer(failure.status, failure.to_body())
    logger.info("callback handled", extra={"event": outcome.event, "result": outcome.result})
    return _answer(200, outcome.to_body())
