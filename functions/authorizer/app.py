"""The API's Lambda REQUEST authorizer: which principal the request's client key stands for.

A valid key is allowed on the whole stage (the decision is per key, not per route: each function checks the
route's scope and numbers, and answers 403 in the contract's shape); its context carries the principal to the
functions (`client_id`, `scopes` space-separated, `number_ids` comma-separated or "*"). Anything else is
refused with API Gateway's 401 (the template's UNAUTHORIZED gateway response gives it the contract's shape).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aircall_sms.api.access import authorizer_answer
from aircall_sms.errors import Unauthorized
from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import snapshot
from aircall_sms.use_cases.authorize import authorize

if TYPE_CHECKING:  # an annotation only: not imported in Lambda
    from aws_lambda_powertools.utilities.typing import LambdaContext

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    try:
        principal = authorize(event.get("headers") or {})
    except Unauthorized:
        raise Exception("Unauthorized") from None
    logger.info("client key accepted", extra={"client_id": principal.client_id})
    return authorizer_answer(principal, str(event.get("methodArn") or ""))
