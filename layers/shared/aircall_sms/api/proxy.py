"""API Gateway's Lambda proxy integration at its plainest: the request body as text, and an answer. Shared by the
resolver of the API functions and the InboundFunction, which answers Aircall without the resolver (its cold start
stays lean)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aircall_sms.errors import GatewayError, InvalidRequest


def decode_body(event: dict[str, Any]) -> str | None:
    """The request body as text (base64 decoded when API Gateway encoded it); a body that is not UTF-8, or that is
    not a string, is a 400 `invalid_request`."""
    body = event.get("body")
    if body is None:
        return None
    if not isinstance(body, str):
        raise InvalidRequest("The request body is not UTF-8 JSON.")
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("The request body is not UTF-8 JSON.") from None


def answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A proxy integration answer with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"} | (headers or {}),
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def refusal(error: GatewayError) -> dict[str, Any]:
    """The answer for a request refused before any routing."""
    return answer(error.status, error.to_body(), error.headers)
