"""POST /messages — send one message (docs/http-api.md, "Sending"); the route is
`aircall_sms.api.send_routes`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.api import send_routes
from aircall_sms.api.resolver import build_resolver, resolve
from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import snapshot

app = build_resolver()
send_routes.register(app)

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
