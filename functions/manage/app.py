"""The read/manage routes: the archive, usage, erasure, number configuration, opt-outs and consents, and the
service routes (the OpenAPI document and its Swagger UI); the routes are `aircall_sms.api.manage_routes`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.api import manage_routes
from aircall_sms.api.resolver import build_resolver, resolve
from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import snapshot

app = build_resolver()
manage_routes.register(app)

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
