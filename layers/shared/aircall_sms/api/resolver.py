"""HTTP for every API function: the Powertools resolver with request validation, and the one mapping of
errors to responses (contract: {"error": {"code", "message", "details"}})."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from aircall_sms.api import access, proxy
from aircall_sms.domain import deadline, json_depth
from aircall_sms.domain.access import Principal
from aircall_sms.errors import GatewayError, InvalidRequest, PayloadTooLarge, Unauthorized
from aircall_sms.observability import logger

MAX_BODY_BYTES = 64 * 1024
# POST /campaigns carries up to 10,000 recipients (about 100 bytes each with a few values): its own bound, far
# below Lambda's 6 MB payload.
LARGER_BODIES: dict[tuple[str, str], int] = {("POST", "/campaigns"): 2 * 1024 * 1024}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers or {},
    )


def error_response(error: GatewayError) -> Response[str]:
    return json_response(error.status, error.to_body(), error.headers)


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid_request(failure: RequestValidationError) -> Response[str]:
        problems = [_problem(error) for error in failure.errors()]
        if any(problem["type"] == "json_invalid" for problem in problems):
            message = "The request body is not valid JSON."
        else:
            message = "The request does not match the API contract: " + "; ".join(
                f"{problem['field'] or 'body'}: {problem['message']}" for problem in problems[:5]
            )
        return json_response(
            400, {"error": {"code": "invalid_request", "message": message, "details": {"problems": problems}}}
        )

    @app.exception_handler(GatewayError)  # type: ignore[untyped-decorator]
    def gateway_error(failure: GatewayError) -> Response[str]:
        if failure.status >= 500:
            logger.warning("request failed", extra={"code": failure.code})
        return error_response(failure)

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return json_response(404, {"error": {"code": "not_found", "message": "No such route.", "details": {}}})

    return app


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Refuse oversized bodies, requests without the route's scope, bodies that are not UTF-8 and bodies nested
    deeper than any request document before any parsing, then let the resolver route and validate."""
    body = event.get("body") or ""
    limit = LARGER_BODIES.get(
        (str(event.get("httpMethod") or "").upper(), str(event.get("resource") or "")), MAX_BODY_BYTES
    )
    if len(body) > limit * (4 / 3 if event.get("isBase64Encoded") else 1):
        return proxy.refusal(
            PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"limit_bytes": limit})
        )
    try:
        acting = _principal_for_route(event)
        text = proxy.decode_body(event)
        if text and json_depth.too_deep(text):
            raise too_deep()
    except GatewayError as refused:
        return proxy.refusal(refused)
    if event.get("isBase64Encoded") and body:
        event = event | {"body": text, "isBase64Encoded": False}
    app.clear_context()  # type: ignore[no-untyped-call]
    if acting is not None:
        app.append_context(principal=acting)  # type: ignore[no-untyped-call]
    # Every outbound call of the request (DynamoDB, Aircall) takes its deadline from the time Lambda has left.
    with deadline.invocation(deadline.remaining_ms_of(context)):
        return app.resolve(_as_json_request(event), context)


def too_deep() -> InvalidRequest:
    """The refusal of a body nested deeper than `json_depth.MAX_DEPTH` (the parser would recurse that deep)."""
    return InvalidRequest(
        f"The request body nests arrays and objects deeper than {json_depth.MAX_DEPTH} levels.",
        details={"max_depth": json_depth.MAX_DEPTH},
    )


def _principal_for_route(event: dict[str, Any]) -> Principal | None:
    """The request's principal, checked for the route's scope (None: an open route)."""
    scope = access.required_scope(str(event.get("httpMethod") or ""), str(event.get("resource") or ""))
    if scope is None:
        return None
    acting = access.principal_of(event)
    acting.require(scope)
    return acting


def principal(app: APIGatewayRestResolver) -> Principal:
    """The principal of the request being resolved (checked by `resolve` before the route runs)."""
    found = app.context.get("principal")
    if not isinstance(found, Principal):  # a keyed route always has one: `resolve` put it there
        raise Unauthorized("A valid client key is required (Authorization: Bearer <key>, or x-api-key).")
    return found


def _as_json_request(event: dict[str, Any]) -> dict[str, Any]:
    """The contract is JSON in whatever Content-Type a client sends (curl's default is form encoding, which the
    resolver would otherwise parse as a form): a body is always read as JSON."""
    if not event.get("body"):
        return event
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "content-type"}
    multi = {
        name: value for name, value in (event.get("multiValueHeaders") or {}).items() if name.lower() != "content-type"
    }
    return event | {
        "headers": headers | {"Content-Type": "application/json"},
        "multiValueHeaders": multi | {"Content-Type": ["application/json"]},
    }


def _problem(error: Any) -> dict[str, Any]:
    # Never echo the input back (it may hold phone numbers or text): only where and what.
    location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
    return {"field": ".".join(location), "type": str(error.get("type", "")), "message": str(error.get("msg", ""))}
