"""The read/manage routes: the archive, number configuration and the service routes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.api_models import NumberRequest
from aircall_sms.http import build_resolver, json_response, resolve
from aircall_sms.observability import logger, metrics, tracer
from aircall_sms.use_cases import messages, numbers, service

app = build_resolver()


@app.get("/health", summary="200 when the tables answer", tags=["service"])
def get_health() -> Response[str]:
    return json_response(200, service.health())


@app.get("/messages/<message_id>", summary="One message with its status history", tags=["messages"])
def get_message(message_id: str) -> Response[str]:
    return json_response(200, {"message": messages.get_message(message_id)})


@app.get("/numbers", summary="The numbers configured in the gateway", tags=["numbers"])
def list_numbers() -> Response[str]:
    items = numbers.list_configured()
    return json_response(200, {"items": items, "next_cursor": None})


@app.get("/numbers/<number_id>", summary="One configured number", tags=["numbers"])
def get_number(number_id: str) -> Response[str]:
    return json_response(200, {"number": numbers.get(number_id)})


@app.put("/numbers/<number_id>", summary="Configure an Aircall number in the gateway", tags=["numbers"])
def put_number(number_id: str, body: NumberRequest) -> Response[str]:
    answer = numbers.configure(number_id, body, request_callback_url=_callback_url(app.current_event.raw_event))
    payload: dict[str, Any] = {"number": answer.number}
    if answer.warning:
        payload["warning"] = answer.warning
    return json_response(201 if answer.created else 200, payload)


@app.delete("/numbers/<number_id>", summary="Remove the Aircall configuration of a number", tags=["numbers"])
def delete_number(number_id: str) -> Response[str]:
    return json_response(200, numbers.remove(number_id))


def _callback_url(event: dict[str, Any]) -> str:
    """This deployment's callback URL as API Gateway sees it (CALLBACK_URL overrides it, e.g. a custom domain)."""
    context = event.get("requestContext") or {}
    return f"https://{context.get('domainName', '')}/{context.get('stage', '')}/webhooks/aircall"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
