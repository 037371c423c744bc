"""The whole API's OpenAPI document (GET /openapi.json) and its Swagger UI (GET /docs), served by the
ManageFunction and generated from the routes every function registers (`manage_routes.documented_routes()`:
`send_routes`, `manage_routes`, and `webhook_routes` for Aircall's callbacks): the request bodies, parameters and
their constraints are the very models and annotations that validate requests.

Powertools documents a validation failure as 422 with its own error model; the gateway answers 400
`invalid_request` in the contract's error shape, so each operation's responses are replaced by the ones listed
here (`RESPONSES`: every status a route answers, with its error codes), all errors sharing the `Error` schema.
The document is built once per server URL (the stage) and kept while the instance lives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import aws_lambda_powertools.event_handler as event_handler
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.compat import model_json
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, OpenAPI, Server, Tag
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

from aircall_sms.api import API_KEY_SCHEME, BEARER_SCHEME, access

Registration = Callable[[APIGatewayRestResolver], None]

TITLE = "aircall-sms-gateway"
VERSION = "1"
DESCRIPTION = (
    "Send and receive SMS/MMS through the Aircall Messaging API: checked, archived and traceable to delivery. "
    'JSON in and out, UTF-8, times in ISO 8601 UTC. Errors are `{"error": {"code", "message", '
    '"details"}}`: branch on `code`. Every route but `/health` and '
    "`/webhooks/aircall` needs a client key with the route's scope (`x-required-scope`), as `Authorization: "
    "Bearer <key>` or `x-api-key`: without one, 401 `unauthorized`; without the scope, 403 `insufficient_scope`; "
    "a key limited to numbers naming another, 403 `number_not_allowed`."
)
TAGS = [
    Tag(name="messages", description="Send, and read the archive."),
    Tag(name="usage", description="Monthly usage and estimated cost per number."),
    Tag(name="numbers", description="The Aircall numbers configured in the gateway and their quotas."),
    Tag(name="consent", description="Opt-outs, consents, and the right to erasure."),
    Tag(name="callbacks", description="What Aircall posts to the gateway."),
    Tag(name="access", description="Client keys: scopes, numbers, revocation."),
    Tag(name="service", description="Health and this documentation."),
]
ERROR = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable and documented: branch on it."},
                "message": {"type": "string", "description": "One human sentence."},
                "details": {
                    "type": "object",
                    "description": "Machine-readable specifics: `field` names the invalid parameter; a "
                    "validation failure lists `problems` as {field, type, message}.",
                },
            },
        }
    },
}
_KEY_DESCRIPTION = (
    "A client key (POST /api-keys), or the deployment's admin key: `Authorization: Bearer <key>` or `x-api-key`."
)
_BUSY = "`service_busy`: DynamoDB is throttling the gateway (nothing was changed); retry after `Retry-After`."
# Routes that answer without DynamoDB (the document and its viewer): no `service_busy`.
_NO_TABLES = frozenset({("get", "/openapi.json"), ("get", "/docs")})
_UNAUTHORIZED = "`unauthorized`: no key, or a key that is unknown, revoked or malformed."
_FORBIDDEN = (
    "`insufficient_scope` (`details.required`: the route's scope), or `number_not_allowed`: the key is limited to "
    "other numbers."
)
_INVALID = "`invalid_request` (`details.field` or `details.problems`)"
_PHONE = "`invalid_phone`"
_NOT_CONFIGURED = "`number_not_configured`"
_SERVER_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]{1,64}){1,3}")

# Every status each route answers ("json", "ndjson" or "html" for a success's body; errors are the `Error` shape).
RESPONSES: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/messages"): {
        200: "json:Dry run: the verdict, its reason, segments, encoding and the quota after this send.",
        201: 'json:Sent to Aircall: `{"message": Message}` (status `queued` or later).',
        202: 'json:Deferred: `{"message": Message}` with status `deferred` and `not_before`.',
        400: f"{_INVALID}, {_PHONE}, `empty_message`, `message_too_long`, `invalid_media`.",
        403: "A rule refused it (archived as `rejected`, no quota used): `not_domestic`, `opted_out`, "
        "`conversational_only`, `number_not_registered`, `consent_required`.",
        404: f"{_NOT_CONFIGURED}: the sender is not configured in the gateway, or its configuration is `configuring`.",
        409: "`idempotency_conflict`: the Idempotency-Key was used with another body.",
        413: "`payload_too_large`: a body over 64 KB.",
        429: "`quota_exceeded` (details `window`, `limit`, `used`, `retry_after`) or `rate_limited`; "
        "`Retry-After` header.",
        502: "`aircall_error`: Aircall refused it (details: its status and error key); the quota is released.",
        503: "`service_busy`: too many concurrent reservations on the same counters, DynamoDB throttling, or too "
        "little of the invocation's time left to call Aircall; nothing was sent; retry after `Retry-After`.",
        504: "`aircall_timeout`: the outcome is unknown (status `unknown`); never retried automatically.",
    },
    ("get", "/messages"): {
        200: 'json:`{"items": [Message], "next_cursor": string | null}`, newest first.',
        400: f"{_INVALID}, or {_PHONE} for `contact`.",
    },
    ("get", "/messages/export"): {
        200: "ndjson:One Message per line, oldest first; header `X-Next-Cursor` while more follow.",
        400: f"{_INVALID}: `since` missing or after `until`, a range over 31 days, a bad `limit` or `cursor`.",
    },
    ("get", "/messages/{id}"): {
        200: 'json:`{"message": Message}` with its `status_history`. An inbound MMS has `media_status` (`pending`, '
        '`stored`, `failed`) and `media`: `[{"file_name", "content_type", "size_bytes", "status", "url", '
        '"url_expires_at", "error": {"code", "message"}}]`; `url` (and `media_urls`) are the gateway\'s own '
        "links to its copy, valid `url_expires_at` (15 minutes), never Aircall's. The lists and the export "
        "carry the same.",
        404: "`not_found`: no message with this id.",
    },
    ("get", "/usage"): {
        200: 'json:`{"month", "items": [{"number_id", "outbound": {"messages", "segments", '
        '"segments_by_country"}, "inbound": {...}, "rejected", "deferred", "expired", "failed", '
        '"media": {"files", "bytes"} (inbound MMS files stored that month), '
        '"estimated_cost": {"currency", "outbound", "inbound", "total", "unpriced_segments"} | null}], '
        '"next_cursor": null}`.',
        400: f"{_INVALID}: `month` is not YYYY-MM, or `number_id` is not a number id.",
    },
    ("delete", "/contacts/{phone}"): {
        200: 'json:Erased: `{"contact", "complete": true, "erased": {"messages", "callbacks", '
        '"idempotency_records", "media_objects", "consents", "conversations"}, "kept": {"opt_outs"}}`.',
        202: "json:Erasure under way: the same object with `complete: false`; repeat the request.",
        400: f"{_PHONE}, or {_INVALID} for `number_id`.",
    },
    ("get", "/numbers"): {200: 'json:`{"items": [Number], "next_cursor": null}`.'},
    ("get", "/numbers/{number_id}"): {
        200: 'json:`{"number": Number}`.',
        400: _INVALID,
        404: _NOT_CONFIGURED,
    },
    ("put", "/numbers/{number_id}"): {
        200: 'json:Updated: `{"number": Number, "warning"?}`.',
        201: 'json:Configured: `{"number": Number, "warning"?}` (proxy mode: the Aircall apps lose SMS on it).',
        400: _INVALID,
        404: "`number_not_found`: Aircall has no such number in the account.",
        429: "`rate_limited`: the company's Aircall request budget is spent.",
        502: "`aircall_error`: Aircall refused the configuration.",
        503: "`service_busy`: DynamoDB is throttling, or too little of the invocation's time was left to call "
        "Aircall; retry after `Retry-After` (a configuration cut off is finished by the next PUT).",
        504: "`aircall_timeout`: Aircall did not answer in time (the number stays `configuring`: PUT again).",
    },
    ("delete", "/numbers/{number_id}"): {
        200: 'json:`{"number_id", "removed": true, "deferred_rejected"}`.',
        400: _INVALID,
        404: _NOT_CONFIGURED,
        429: "`rate_limited`: the company's Aircall request budget is spent.",
        502: "`aircall_error`: Aircall refused to remove the configuration.",
        504: "`aircall_timeout`: Aircall did not answer in time.",
    },
    ("get", "/numbers/{number_id}/quota"): {
        200: "json:Quota: `{number_id, limits, used, remaining, resets_at, company}`.",
        400: _INVALID,
        404: _NOT_CONFIGURED,
    },
    ("get", "/opt-outs"): {
        200: 'json:`{"items": [{"contact", "number_id", "at", "source", "detail"}], "next_cursor"}`.',
        400: _INVALID,
    },
    ("put", "/opt-outs/{phone}"): {
        200: 'json:Already opted out: `{"opt_out": ...}` (the first record).',
        201: 'json:`{"opt_out": {"contact", "number_id", "at", "source", "detail"}}`.',
        400: f"{_INVALID}, {_PHONE}.",
        404: f"{_NOT_CONFIGURED}: the body's `number_id`.",
    },
    ("delete", "/opt-outs/{phone}"): {
        200: 'json:`{"removed": true}`.',
        400: f"{_INVALID}, {_PHONE}.",
        404: "`not_found`: the contact had no such opt-out.",
    },
    ("get", "/consents/{phone}"): {
        200: 'json:`{"contact", "consents": [{"purpose", "number_id", "source", "captured_at", "text", '
        '"evidence_url", "recorded_at"}]}`.',
        400: _PHONE,
    },
    ("put", "/consents/{phone}"): {
        200: 'json:`{"contact", "consent": {...}}`.',
        400: f"{_INVALID} (also `captured_at` in the future), {_PHONE}.",
        404: f"{_NOT_CONFIGURED}: the body's `number_id`.",
    },
    ("delete", "/consents/{phone}"): {
        200: 'json:`{"removed": n}` (0 is not an error).',
        400: f"{_INVALID}, {_PHONE}.",
    },
    ("post", "/webhooks/aircall"): {
        200: 'json:`{"received": true, "event", "result": "updated" | "unchanged" | "archived" | "duplicate" | '
        '"pending" | "ignored", "message_id"}`.',
        400: "`invalid_request` (not JSON) or `invalid_callback` (not a callback this gateway can read).",
        401: "`unauthorized`: the token does not match the number's callback token; nothing is stored.",
        413: "`payload_too_large`: a body over 256 KB.",
    },
    ("post", "/api-keys"): {
        201: 'json:`{"id", "name", "scopes", "number_ids", "key", "created_at", "created_by", ...}`: `key` is shown '
        "this once.",
        400: f"{_INVALID}: an unknown scope, a `number_ids` entry that is not a number id.",
    },
    ("get", "/api-keys"): {
        200: 'json:`{"items": [{"id", "name", "scopes", "number_ids", "created_at", "created_by", "revoked_at", '
        '"revoked_by"}], "next_cursor"}` (never a key or its digest).',
        400: _INVALID,
    },
    ("delete", "/api-keys/{id}"): {
        200: 'json:`{"api_key": {... "revoked_at"}}`: the key answers 401 from then on.',
        404: "`not_found`: no client key with this id.",
    },
    ("get", "/health"): {200: 'json:`{"status": "ok"}`: the tables answer.'},
    ("get", "/openapi.json"): {200: "json:This document."},
    ("get", "/docs"): {200: "html:Swagger UI on this document."},
}
_MEDIA = {"json": "application/json", "ndjson": "application/x-ndjson", "html": "text/html"}


def build_resolver(registrations: tuple[Registration, ...]) -> APIGatewayRestResolver:
    """A resolver holding every route of `registrations` (each function's `register`), as the functions do."""
    app = APIGatewayRestResolver(enable_validation=True)
    for register in registrations:
        register(app)
    return app


@lru_cache(maxsize=4)
def document(server: str, registrations: tuple[Registration, ...]) -> dict[str, Any]:
    """The OpenAPI document of the routes of `registrations`, for clients at `server` (the stage's path, e.g.
    "/v1")."""
    generated = build_resolver(registrations).get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        servers=[Server(url=server)],
        tags=list(TAGS),
        security_schemes={
            API_KEY_SCHEME: APIKey.model_validate(
                {"type": "apiKey", "in": APIKeyIn.header, "name": "x-api-key", "description": _KEY_DESCRIPTION}
            ),
            BEARER_SCHEME: HTTPBearer(description=_KEY_DESCRIPTION),
        },
    )
    spec: dict[str, Any] = json.loads(generated)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    schemas[ERROR] = ERROR_SCHEMA
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            scope = access.required_scope(method, path)
            answers = dict(RESPONSES[(method, path)])
            if (method, path) not in _NO_TABLES:
                answers.setdefault(503, _BUSY)
            if scope is None:
                operation.pop("security", None)
            else:
                operation["security"] = [{API_KEY_SCHEME: [scope]}, {BEARER_SCHEME: [scope]}]
                operation["x-required-scope"] = scope
                answers[401] = _UNAUTHORIZED
                answers[403] = f"{answers[403]} Or {_FORBIDDEN}" if 403 in answers else _FORBIDDEN
            operation["responses"] = {str(status): _response(status, text) for status, text in sorted(answers.items())}
    # The document must still be one: read back through Powertools' OpenAPI model.
    return json.loads(model_json(OpenAPI.model_validate(spec), by_alias=True, exclude_none=True))  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def document_json(server: str, registrations: tuple[Registration, ...]) -> str:
    return json.dumps(document(server, registrations), ensure_ascii=False, indent=2)


@lru_cache(maxsize=2)
def swagger_page(server: str, registrations: tuple[Registration, ...]) -> str:
    """Swagger UI with the document and its scripts inline (nothing is fetched from elsewhere)."""
    assets = Path(event_handler.__file__).parent / "openapi" / "swagger_ui"
    script = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = document_json(server, registrations).replace("</", "<\\/")  # the document must not close the page's script
    page: str = generate_swagger_html(spec, script, style, "", None)
    return page.replace("<title>Swagger UI</title>", f"<title>{TITLE} — API</title>")


def server_of(event: dict[str, Any]) -> str:
    """The base path clients reach the API at: API Gateway's stage ("/v1"), from the request itself."""
    path = str(event.get("path") or "")
    full = str((event.get("requestContext") or {}).get("path") or path)
    prefix = full[: len(full) - len(path)] if path and full.endswith(path) else ""
    return prefix if _SERVER_PREFIX.fullmatch(prefix) else "/"


def _response(status: int, text: str) -> dict[str, Any]:
    kind, _, description = text.partition(":") if status < 300 else ("", "", text)
    if status >= 300:
        error: dict[str, Any] = {"$ref": f"#/components/schemas/{ERROR}"}
        return {"description": description, "content": {"application/json": {"schema": error}}}
    schema: dict[str, Any] = {"type": "string"} if kind != "json" else {"type": "object"}
    return {"description": description, "content": {_MEDIA[kind]: {"schema": schema}}}
