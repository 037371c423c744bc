"""POST /messages — send one message (reference/http-api.md, "Sending")."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.api_models import SendRequest
from aircall_sms.http import build_resolver, json_response, resolve
from aircall_sms.observability import logger, metrics, tracer
from aircall_sms.use_cases.send_message import send_message

app = build_resolver()

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$")
]


@app.post("/messages", summary="Send an SMS/MMS through Aircall", tags=["messages"])
def post_message(body: SendRequest, idempotency_key: IdempotencyKey = None) -> Response[str]:
    outcome = send_message(body, idempotency_key=idempotency_key)
    return json_response(outcome.status_code, outcome.body, outcome.headers)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
