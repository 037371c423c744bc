"""GET /health: the gateway answers when its tables answer; the route is `aircall_sms.api.health_routes`. Its own
function: the open route's requests never run in (nor cost reads of) the widest-permission ManageFunction."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.api import health_routes
from aircall_sms.api.resolver import build_resolver, resolve
from aircall_sms.observability import logger, metrics, tracer

app = build_resolver()
health_routes.register(app)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
