"""GET /health: the gateway answers when its tables answer (the route is described in the OpenAPI document by
`aircall_sms.api.health_routes`). Its own function: the open route's requests never run in (nor cost reads of)
the widest-permission ManageFunction. Served without the resolver: one route, no parameter, no body, so its cold
start loads neither Powertools' event handler nor pydantic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aircall_sms.api import proxy
from aircall_sms.domain import deadline
from aircall_sms.errors import GatewayError
from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import service, snapshot

if TYPE_CHECKING:  # an annotation only: not imported in Lambda
    from aws_lambda_powertools.utilities.typing import LambdaContext

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot

NOT_FOUND = {"error": {"code": "not_found", "message": "No such route.", "details": {}}}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (event.get("httpMethod"), event.get("resource") or event.get("path")) != ("GET", "/health"):
        return proxy.answer(404, NOT_FOUND)
    try:
        # Its reads take their deadline from the time Lambda has left, as every API function's.
        with deadline.invocation(deadline.remaining_ms_of(context)):
            return proxy.answer(200, service.health())
    except GatewayError as failure:  # DynamoDB throttled past its retries: 503 service_busy
        logger.warning("request failed", extra={"code": failure.code})
        return proxy.refusal(failure)
