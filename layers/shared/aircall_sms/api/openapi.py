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

import base64
import hashlib
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

from aircall_sms.api import API_KEY_SCHEME, BEARER_SCHEME, access, openapi_schemas
from aircall_sms.domain import tokens

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
SIGN_IN_SCHEME = "signInToken"
_SIGN_IN_DESCRIPTION = (
    "A signed-in person's ID token (the console's sign-in, Cognito): `Authorization: Bearer <JWT>`. The person has "
    "the scopes of their groups: "
    + "; ".join(f"`{group}`: {', '.join(sorted(scopes))}" for group, scopes in tokens.GROUP_SCOPES.items())
    + "."
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
_CREDENTIALS = (
    "`aircall_credentials_missing`: the deployment's Aircall credentials secret is missing or malformed "
    "(`details.secret` names it); nothing was sent or reserved."
)
_SERVER_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]{1,64}){1,3}")

_CAMPAIGN_CHANGE: dict[int, str] = {
    200: 'json:`{"campaign": Campaign}` (doing it again changes nothing).',
    404: "`not_found`: no such campaign (or one of a number the key is not limited to).",
    409: "`campaign_not_changeable`: the campaign's status does not allow it (`details.status`).",
}

# Every status each route answers ("json", "ndjson" or "html" for a success's body; errors are the `Error` shape).
RESPONSES: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/messages"): {
        200: "json:Dry run: the verdict, its reason, segments, encoding and the quota after this send.",
        201: 'json:Sent to Aircall: `{"message": Message}` (status `queued` or later).',
        202: 'json:Deferred: `{"message": Message}` with status `deferred` and `not_before`; or scheduled '
        "(`send_at`): status `scheduled`, `not_before` its send_at.",
        400: f"{_INVALID}, {_PHONE}, `empty_message`, `message_too_long`, `invalid_media`, `invalid_send_at` "
        "(`details.field`, `reason`: past, too_far, before_send_at).",
        403: "A rule refused it (archived as `rejected`, no quota used): `not_domestic`, `opted_out`, "
        "`conversational_only`, `number_not_registered`, `consent_required`, `quiet_hours` (details "
        "`next_allowed`, `region`, `time_zones`, `window`; with `on_limit: defer` it is deferred to `next_allowed`).",
        404: f"{_NOT_CONFIGURED}: the sender is not configured in the gateway, or its configuration is `configuring`; "
        '`pool_not_found`: `"from": "pool:<id>"` names no pool.',
        409: "`idempotency_conflict`: the Idempotency-Key was used with another body.",
        413: "`payload_too_large`: a body over 64 KB.",
        429: "`quota_exceeded` (details `window`, `limit`, `used`, `retry_after`) or `rate_limited`; "
        "`Retry-After` header.",
        502: "`aircall_error`: Aircall refused it (details: its status and error key); the quota is released.",
        503: "`service_busy`: too many concurrent reservations on the same counters, DynamoDB throttling, or too "
        "little of the invocation's time left to call Aircall; nothing was sent; retry after `Retry-After`. "
        f"Or {_CREDENTIALS} Or `quiet_hours_misconfigured`: the deployment's QuietHoursJson cannot be read "
        "(nothing is sent, reserved or archived).",
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
    ("delete", "/messages/{id}"): {
        200: 'json:`{"message": Message}`, status `cancelled` (also when it already was).',
        404: "`not_found`: no outbound message with this id among the key's numbers.",
        409: "`message_not_waiting`: the message is not scheduled or deferred any more (`details.status`).",
    },
    ("patch", "/messages/{id}"): {
        200: 'json:`{"message": Message}` with its new text, segments or `not_before` (status `scheduled` when '
        "`send_at` was given).",
        400: f"{_INVALID}, `message_too_long`, `invalid_send_at` (`details.field`, `reason`).",
        404: "`not_found`: no outbound message with this id among the key's numbers.",
        409: "`message_not_waiting`: the message is not scheduled or deferred any more (`details.status`).",
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
    ("get", "/aircall/numbers"): {
        200: 'json:`{"items": [{"number_id", "name", "digits", "e164", "country", "time_zone", "created_at", '
        '"configured", "mode"}], "next_cursor"}`: the company\'s numbers in Aircall.',
        400: f"{_INVALID}: a `cursor` this list did not return.",
        429: "`rate_limited`: the company's Aircall request budget is spent.",
        502: "`aircall_error`: Aircall refused the list, or could not be reached.",
        503: _CREDENTIALS,
        504: "`aircall_timeout`: Aircall did not answer in time.",
    },
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
        f"Aircall; retry after `Retry-After` (a configuration cut off is finished by the next PUT). Or {_CREDENTIALS}",
        504: "`aircall_timeout`: Aircall did not answer in time (the number stays `configuring`: PUT again).",
    },
    ("delete", "/numbers/{number_id}"): {
        200: 'json:`{"number_id", "removed": true, "deferred_rejected"}`.',
        400: _INVALID,
        404: _NOT_CONFIGURED,
        429: "`rate_limited`: the company's Aircall request budget is spent.",
        502: "`aircall_error`: Aircall refused to remove the configuration.",
        503: _CREDENTIALS,
        504: "`aircall_timeout`: Aircall did not answer in time.",
    },
    ("get", "/pools"): {
        200: 'json:`{"items": [Pool], "next_cursor": null}` (a key limited to numbers: the pools '
        "made of its numbers only)."
    },
    ("get", "/pools/{id}"): {200: 'json:`{"pool": Pool}`.', 400: _INVALID, 404: "`pool_not_found`."},
    ("put", "/pools/{id}"): {
        200: 'json:Replaced: `{"pool": Pool}`.',
        201: 'json:Created: `{"pool": Pool}`.',
        400: f"{_INVALID}, `pool_empty`, `pool_too_large` (over 16), `duplicate_number`, `pool_mixed_countries`, "
        "`pool_number_not_configured` (a number this gateway does not have; `details.number_id`).",
        403: "`number_not_allowed`: the key is limited to other numbers.",
    },
    ("delete", "/pools/{id}"): {
        200: 'json:`{"id", "deleted": true}`.',
        400: _INVALID,
        403: "`number_not_allowed`: the pool has numbers the key is not limited to.",
        404: "`pool_not_found`.",
    },
    ("post", "/campaigns"): {
        200: 'json:`dry_run`: `{"preflight": {"recipients", "segments", "eta_seconds"}}`, nothing written.',
        201: 'json:`{"campaign": Campaign}`, status `scheduled` (its messages are made by the dispatcher).',
        400: "`invalid_campaign` naming `details.field` (`recipients`: none or over 10,000; `recipients[i].to`: "
        "not a phone number or twice; `recipients[i].values`: placeholders without values), `invalid_send_at`.",
        403: "`number_not_allowed`: the key is limited to other numbers.",
        404: "`number_not_configured`.",
    },
    ("get", "/campaigns"): {200: 'json:`{"items": [Campaign], "next_cursor": null}`.'},
    ("get", "/campaigns/{id}"): {
        200: 'json:`{"campaign": Campaign}` with `eta_seconds` while recipients are pending.',
        404: "`not_found`.",
    },
    ("post", "/campaigns/{id}/pause"): _CAMPAIGN_CHANGE,
    ("post", "/campaigns/{id}/resume"): _CAMPAIGN_CHANGE,
    ("post", "/campaigns/{id}/cancel"): _CAMPAIGN_CHANGE,
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
# Each operation's stable name (clients generated from the document name their methods after it).
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("post", "/messages"): "sendMessage",
    ("get", "/messages"): "listMessages",
    ("get", "/messages/export"): "exportMessages",
    ("get", "/messages/{id}"): "getMessage",
    ("delete", "/messages/{id}"): "cancelMessage",
    ("patch", "/messages/{id}"): "changeMessage",
    ("get", "/usage"): "getUsage",
    ("delete", "/contacts/{phone}"): "eraseContact",
    ("get", "/numbers"): "listNumbers",
    ("get", "/aircall/numbers"): "listAircallNumbers",
    ("get", "/numbers/{number_id}"): "getNumber",
    ("put", "/numbers/{number_id}"): "configureNumber",
    ("delete", "/numbers/{number_id}"): "removeNumber",
    ("get", "/numbers/{number_id}/quota"): "getNumberQuota",
    ("get", "/pools"): "listPools",
    ("get", "/pools/{id}"): "getPool",
    ("put", "/pools/{id}"): "putPool",
    ("delete", "/pools/{id}"): "deletePool",
    ("post", "/campaigns"): "createCampaign",
    ("get", "/campaigns"): "listCampaigns",
    ("get", "/campaigns/{id}"): "getCampaign",
    ("post", "/campaigns/{id}/pause"): "pauseCampaign",
    ("post", "/campaigns/{id}/resume"): "resumeCampaign",
    ("post", "/campaigns/{id}/cancel"): "cancelCampaign",
    ("get", "/opt-outs"): "listOptOuts",
    ("put", "/opt-outs/{phone}"): "putOptOut",
    ("delete", "/opt-outs/{phone}"): "deleteOptOut",
    ("get", "/consents/{phone}"): "getConsents",
    ("put", "/consents/{phone}"): "putConsent",
    ("delete", "/consents/{phone}"): "deleteConsents",
    ("post", "/webhooks/aircall"): "receiveAircallCallback",
    ("post", "/api-keys"): "createApiKey",
    ("get", "/api-keys"): "listApiKeys",
    ("delete", "/api-keys/{id}"): "revokeApiKey",
    ("get", "/health"): "getHealth",
    ("get", "/openapi.json"): "getOpenApiDocument",
    ("get", "/docs"): "getDocs",
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
            SIGN_IN_SCHEME: HTTPBearer(bearerFormat="JWT", description=_SIGN_IN_DESCRIPTION),
        },
    )
    spec: dict[str, Any] = json.loads(generated)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    schemas[ERROR] = ERROR_SCHEMA
    schemas.update(openapi_schemas.SCHEMAS)
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            scope = access.required_scope(method, path)
            operation["operationId"] = OPERATION_IDS[(method, path)]
            answers = dict(RESPONSES[(method, path)])
            if (method, path) not in _NO_TABLES:
                answers.setdefault(503, _BUSY)
            if scope is None:
                operation.pop("security", None)
            else:
                operation["security"] = [{API_KEY_SCHEME: [scope]}, {BEARER_SCHEME: [scope]}, {SIGN_IN_SCHEME: [scope]}]
                operation["x-required-scope"] = scope
                answers[401] = _UNAUTHORIZED
                answers[403] = f"{answers[403]} Or {_FORBIDDEN}" if 403 in answers else _FORBIDDEN
            operation["responses"] = {
                str(status): _response(method, path, status, text) for status, text in sorted(answers.items())
            }
    # The document must still be one: read back through Powertools' OpenAPI model.
    return json.loads(model_json(OpenAPI.model_validate(spec), by_alias=True, exclude_none=True))  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def document_json(server: str, registrations: tuple[Registration, ...]) -> str:
    return json.dumps(document(server, registrations), ensure_ascii=False, indent=2)


# The page's own script: it asks for a client key, then loads the document with it (GET openapi.json needs
# `read`) and sends it with every "Try it out" request. The key stays in the page (never stored, never in a URL).
_DOCS_SCRIPT = """
document.getElementById("key-form").addEventListener("submit", function (event) {
  event.preventDefault();
  var key = document.getElementById("key").value.trim();
  if (!key) { return; }
  document.getElementById("key-form").hidden = true;
  var ui = SwaggerUIBundle({
    dom_id: "#swagger-ui",
    url: "openapi.json",
    deepLinking: true,
    docExpansion: "list",
    filter: true,
    showExtensions: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      var headers = request.headers || {};
      if (!headers["x-api-key"] && !headers.Authorization) { headers["x-api-key"] = key; }
      request.headers = headers;
      return request;
    },
  });
  ui.preauthorizeApiKey("clientKey", key);
});
""".strip()


def _sha256_source(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


@lru_cache(maxsize=1)
def swagger_page() -> tuple[str, dict[str, str]]:
    """Swagger UI (its scripts and styles inline, nothing fetched from elsewhere) with a form for the client key,
    and the page's headers: a Content-Security-Policy that runs only these two scripts and lets the page talk to
    the API it came from. The page holds no data: the document is fetched with the key typed in."""
    assets = Path(event_handler.__file__).parent / "openapi" / "swagger_ui"
    bundle = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<title>{TITLE} — API</title>\n<link rel="icon" href="data:,">\n<style>{style}</style>\n</head>\n<body>\n'
        '<form id="key-form" style="margin:2em;font-family:sans-serif">\n'
        '<label for="key">Client key (scope <code>read</code>)</label>\n'
        '<input id="key" type="password" autocomplete="off" size="60">\n'
        '<button type="submit">Load the API document</button>\n</form>\n'
        '<div id="swagger-ui"></div>\n'
        f"<script>{bundle}</script>\n<script>{_DOCS_SCRIPT}</script>\n</body>\n</html>\n"
    )
    policy = (
        f"default-src 'none'; script-src {_sha256_source(bundle)} {_sha256_source(_DOCS_SCRIPT)}; "
        "style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }
    return page, headers


def server_of(event: dict[str, Any]) -> str:
    """The base path clients reach the API at: API Gateway's stage ("/v1"), from the request itself."""
    path = str(event.get("path") or "")
    full = str((event.get("requestContext") or {}).get("path") or path)
    prefix = full[: len(full) - len(path)] if path and full.endswith(path) else ""
    return prefix if _SERVER_PREFIX.fullmatch(prefix) else "/"


def _response(method: str, path: str, status: int, text: str) -> dict[str, Any]:
    kind, _, description = text.partition(":") if status < 300 else ("", "", text)
    if status >= 300:
        error: dict[str, Any] = {"$ref": f"#/components/schemas/{ERROR}"}
        return {"description": description, "content": {"application/json": {"schema": error}}}
    if kind != "json":
        return {"description": description, "content": {_MEDIA[kind]: {"schema": {"type": "string"}}}}
    named = openapi_schemas.SUCCESS[(method, path, status)]  # every JSON success answer has its schema
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{named}"}}},
    }
