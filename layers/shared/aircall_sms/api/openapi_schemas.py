"""The OpenAPI document's answer schemas: the contract's objects (Message, Number, Quota, ...) as JSON Schema
(OpenAPI 3.1), each with an example, and which schema each success answer has (`SUCCESS`).

They are written from the objects the code answers (`MessageRecord.to_api`, `NumberRecord.to_api`,
`quota.view`, ...): schemathesis validates every answer of the local stack against them
(tests/e2e/test_schemathesis.py), and a unit test checks that every success answer has one
(tests/unit/test_openapi_document.py). Objects stay open (`additionalProperties` is not false): a field added to
an answer is not a breaking change for clients.
"""

from __future__ import annotations

from typing import Any

US_NUMBER = "+14155550100"
CONTACT = "+14155550123"
AT = "2026-11-30T09:15:02.118Z"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, description: str | None = None, **extra: Any) -> dict[str, Any]:
    """`kind` or null, as pydantic writes it (Powertools' OpenAPI model takes one type per schema)."""
    schema: dict[str, Any] = {"anyOf": [{"type": kind, **extra}, {"type": "null"}]}
    return schema | ({"description": description} if description else {})


def _object(required: list[str], properties: dict[str, Any], example: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if example is not None:
        schema["examples"] = [example]
    return schema


def _page(item: str) -> dict[str, Any]:
    return _object(
        ["items", "next_cursor"],
        {"items": {"type": "array", "items": _ref(item)}, "next_cursor": _nullable("string")},
    )


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}

MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "msg_01JDXK3N8Q7W2V5R9T4Y6Z1A3B",
    "aircall_id": "SM0c6f0d2e4b8a4f7e9d1c3b5a7e9f1d3c",
    "number_id": "100001",
    "from": US_NUMBER,
    "to": CONTACT,
    "direction": "outbound",
    "text": "Your appointment is confirmed for Tuesday 10:00.",
    "media_urls": [],
    "media_status": None,
    "media": None,
    "purpose": "conversational",
    "segments": 1,
    "encoding": "GSM-7",
    "status": "delivered",
    "status_history": [
        {"status": "accepted", "at": AT, "source": "gateway"},
        {"status": "queued", "at": "2026-11-30T09:15:02.402Z", "source": "aircall"},
        {"status": "delivered", "at": "2026-11-30T09:15:04.910Z", "source": "callback"},
    ],
    "error": None,
    "created_at": AT,
    "sent_at": "2026-11-30T09:15:02.402Z",
    "updated_at": "2026-11-30T09:15:04.910Z",
    "not_before": None,
    "not_after": None,
    "metadata": {"order": "A-1042"},
    "human_author": None,
    "client_id": "key_7Q2M4K",
    "keyword": None,
}
NUMBER_EXAMPLE: dict[str, Any] = {
    "number_id": 100001,
    "e164": US_NUMBER,
    "region": "US",
    "kind": "local",
    "name": "Support US",
    "mode": "proxy",
    "registration": "approved",
    "limits_override": {"hour": 50},
    "callback_url": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/webhooks/aircall",
    "state": "configured",
    "configured_at": AT,
    "updated_at": AT,
}
_WINDOWS = {"hour": 1000, "day": 10000, "month": 50000}
QUOTA_EXAMPLE: dict[str, Any] = {
    "number_id": 100001,
    "limits": _WINDOWS,
    "used": {"hour": 12, "day": 140, "month": 2210},
    "remaining": {"hour": 988, "day": 9860, "month": 47790},
    "resets_at": {"hour": "2026-11-30T10:00:00Z", "day": "2026-12-01T00:00:00Z", "month": "2026-12-01T00:00:00Z"},
    "company": {"limit": 60, "used": 3, "resets_at": "2026-11-30T09:16:00Z", "blocked_until": None},
}
OPT_OUT_EXAMPLE: dict[str, Any] = {
    "contact": CONTACT,
    "number_id": None,
    "at": AT,
    "source": "keyword",
    "detail": "STOP",
    "client_id": None,
}
API_KEY_EXAMPLE: dict[str, Any] = {
    "id": "key_7Q2M4K",
    "name": "crm-sync",
    "scopes": ["read", "send"],
    "number_ids": [100001],
    "created_at": AT,
    "created_by": "admin",
    "revoked_at": None,
    "revoked_by": None,
}

POOL_EXAMPLE: dict[str, Any] = {
    "id": "fr-support",
    "number_ids": [100004, 100005],
    "client_id": "admin",
    "created_at": AT,
    "updated_at": AT,
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Message": _object(
        ["id", "number_id", "from", "to", "direction", "status", "status_history", "created_at"],
        {
            "id": {"type": "string", "description": "The gateway's id (`msg_...`)."},
            "aircall_id": _nullable("string", description="Aircall's message id, once Aircall answered."),
            "number_id": {"type": "string", "description": "Aircall's number id of the gateway's number (digits)."},
            "from": {"type": "string", "description": "E.164."},
            "to": {"type": "string", "description": "E.164 (`unknown` for an inbound message naming none)."},
            "direction": {"type": "string", "enum": ["outbound", "inbound"]},
            "text": _nullable("string"),
            "media_urls": {
                "type": "array",
                "items": _STRING,
                "description": "Outbound: the links sent. Inbound: the gateway's short-lived links to its copies.",
            },
            "media_status": _nullable(
                "string", description="An inbound MMS's copy into the archive: `pending`, `stored` or `failed`."
            ),
            "media": _nullable(
                "array",
                description="An inbound MMS's files: type, size, the gateway's link and its expiry, or the error.",
                items={"type": "object"},
            ),
            "sender": _object(
                ["pool_id", "number_id", "reason"],
                {"pool_id": _STRING, "number_id": _STRING, "reason": _STRING},
            )
            | {"description": "Sent from a pool: the number chosen and why (`sticky_thread`, `most_room`)."},
            "campaign_id": {
                "type": "string",
                "description": "A campaign's message: the campaign's id (`cmp_...`); absent otherwise.",
            },
            "purpose": _nullable("string"),
            "segments": _INT,
            "encoding": _nullable("string"),
            "status": {"type": "string", "description": "See the status table in docs/api.md."},
            "status_history": {
                "type": "array",
                "items": _object(
                    ["status", "at", "source"],
                    {"status": _STRING, "at": _STRING, "source": _STRING, "detail": _STRING},
                ),
            },
            "error": _nullable("object", description="The contract's error object of a refused or failed send."),
            "created_at": _STRING,
            "sent_at": _nullable("string"),
            "updated_at": _nullable("string"),
            "not_before": _nullable("string"),
            "not_after": _nullable("string"),
            "metadata": _nullable("object"),
            "human_author": _nullable("string"),
            "client_id": _nullable("string"),
            "keyword": _nullable("string"),
        },
        MESSAGE_EXAMPLE,
    ),
    "MessageAnswer": _object(["message"], {"message": _ref("Message")}, {"message": MESSAGE_EXAMPLE}),
    "MessagePage": _page("Message"),
    "Quota": _object(
        ["number_id", "limits", "used", "remaining", "resets_at", "company"],
        {
            "number_id": _INT,
            "limits": _COUNTS,
            "used": _COUNTS,
            "remaining": _COUNTS,
            "resets_at": {"type": "object", "additionalProperties": _STRING},
            "company": _object(
                ["limit", "used", "resets_at", "blocked_until"],
                {"limit": _INT, "used": _INT, "resets_at": _STRING, "blocked_until": _nullable("string")},
            ),
        },
        QUOTA_EXAMPLE,
    ),
    "DryRun": _object(
        ["verdict", "reason", "segments", "encoding", "quota"],
        {
            "verdict": {"type": "string", "enum": ["allowed", "rejected"]},
            "reason": _nullable("string", description="The error code the send would get."),
            "segments": _INT,
            "encoding": _STRING,
            "non_gsm_characters": {"type": "array", "items": _STRING},
            "quota": _ref("Quota"),
        },
        {
            "verdict": "allowed",
            "reason": None,
            "segments": 1,
            "encoding": "GSM-7",
            "non_gsm_characters": [],
            "quota": QUOTA_EXAMPLE,
        },
    ),
    "Number": _object(
        ["number_id", "e164", "mode", "registration", "limits_override", "state"],
        {
            "number_id": _INT,
            "e164": _STRING,
            "region": _nullable("string"),
            "kind": _nullable("string"),
            "name": _nullable("string"),
            "mode": {"type": "string", "enum": ["proxy", "agent"]},
            "registration": {"type": "string", "enum": ["approved", "pending", "none"]},
            "limits_override": _COUNTS,
            "callback_url": _nullable("string"),
            "state": {"type": "string", "enum": ["configured", "configuring"]},
            "configured_at": _nullable("string"),
            "updated_at": _nullable("string"),
        },
        NUMBER_EXAMPLE,
    ),
    "NumberAnswer": _object(
        ["number"],
        {"number": _ref("Number"), "warning": _nullable("string")},
        {"number": NUMBER_EXAMPLE},
    ),
    "NumberPage": _page("Number"),
    "NumberRemoved": _object(
        ["number_id", "removed", "deferred_rejected"],
        {"number_id": _INT, "removed": {"const": True}, "deferred_rejected": _INT},
        {"number_id": 100001, "removed": True, "deferred_rejected": 0},
    ),
    "AircallNumber": _object(
        ["number_id", "name", "digits", "e164", "country", "time_zone", "created_at", "configured", "mode"],
        {
            "number_id": _INT,
            "name": _nullable("string"),
            "digits": _nullable("string"),
            "e164": _nullable("string"),
            "country": _nullable("string"),
            "time_zone": _nullable("string"),
            "created_at": _nullable("string"),
            "configured": {"type": "boolean"},
            "mode": _nullable("string", enum=["proxy", "agent"]),
        },
        {
            "number_id": 100001,
            "name": "Support US",
            "digits": "+1 415-555-0100",
            "e164": US_NUMBER,
            "country": "US",
            "time_zone": "America/Los_Angeles",
            "created_at": "2024-03-04T10:00:00.000Z",
            "configured": True,
            "mode": "proxy",
        },
    ),
    "AircallNumberPage": _page("AircallNumber"),
    "Usage": _object(
        ["month", "items", "next_cursor"],
        {
            "month": _STRING,
            "items": {
                "type": "array",
                "items": _object(
                    ["number_id", "outbound", "inbound"],
                    {
                        "number_id": _INT,
                        "outbound": {"type": "object"},
                        "inbound": {"type": "object"},
                        "estimated_cost": _nullable("object"),
                    },
                ),
            },
            "next_cursor": _nullable("string"),
        },
    ),
    "Erasure": _object(
        ["contact", "complete", "erased", "kept"],
        {
            "contact": _STRING,
            "complete": {"type": "boolean"},
            "erased": _COUNTS,
            "kept": _COUNTS,
            "erasure_id": _STRING,
            "client_id": _nullable("string"),
            "message": _STRING,
        },
        {
            "contact": CONTACT,
            "complete": True,
            "erased": {"messages": 3, "callbacks": 5, "idempotency_records": 1, "consents": 0, "conversations": 1},
            "kept": {"opt_outs": 1},
            "erasure_id": "era_3M8K2Q",
            "client_id": "admin",
        },
    ),
    "OptOut": _object(
        ["contact", "number_id", "at", "source"],
        {
            "contact": _STRING,
            "number_id": _nullable("integer", description="null: every number of the gateway."),
            "at": _STRING,
            "source": _STRING,
            "detail": _nullable("string"),
            "client_id": _nullable("string"),
        },
        OPT_OUT_EXAMPLE,
    ),
    "OptOutAnswer": _object(["opt_out"], {"opt_out": _ref("OptOut")}, {"opt_out": OPT_OUT_EXAMPLE}),
    "OptOutPage": _page("OptOut"),
    "Removed": _object(
        ["removed"],
        {"removed": {"anyOf": [{"type": "boolean"}, {"type": "integer"}]}, "client_id": _nullable("string")},
        {"removed": True, "client_id": "admin"},
    ),
    "Consents": _object(
        ["contact", "consents"],
        {"contact": _STRING, "consents": {"type": "array", "items": {"type": "object"}}},
    ),
    "ConsentAnswer": _object(["contact", "consent"], {"contact": _STRING, "consent": {"type": "object"}}),
    "CallbackAnswer": _object(
        ["received", "event", "result", "message_id"],
        {
            "received": {"const": True},
            "event": _STRING,
            "result": {
                "type": "string",
                "enum": [
                    "updated",
                    "unchanged",
                    "archived",
                    "duplicate",
                    "pending",
                    "ignored",
                    "unknown_status",
                    "unusable",
                ],
            },
            "message_id": _nullable("string"),
        },
        {"received": True, "event": "message.status_updated", "result": "updated", "message_id": MESSAGE_EXAMPLE["id"]},
    ),
    "Pool": _object(
        ["id", "number_ids"],
        {
            "id": _STRING,
            "number_ids": {"type": "array", "items": _INT},
            "client_id": _nullable("string"),
            "created_at": _STRING,
            "updated_at": _STRING,
        },
        POOL_EXAMPLE,
    ),
    "Campaign": _object(
        ["id", "from", "purpose", "status", "recipients", "pending", "progress"],
        {
            "id": _STRING,
            "from": _INT,
            "purpose": _STRING,
            "status": {"type": "string", "enum": ["scheduled", "running", "paused", "cancelled", "done"]},
            "recipients": _INT,
            "pending": _INT,
            "progress": _object(
                ["queued", "refused", "failed", "skipped"],
                dict.fromkeys(("queued", "refused", "failed", "skipped"), _INT),
            ),
            "eta_seconds": _nullable("integer"),
            "send_at": _STRING,
            "not_after": _nullable("string"),
            "created_at": _STRING,
            "updated_at": _STRING,
        },
    ),
    "CampaignAnswer": _object(["campaign"], {"campaign": _ref("Campaign")}),
    "CampaignPage": _page("Campaign"),
    "CampaignPreflight": _object(
        ["preflight"],
        {
            "preflight": _object(
                ["recipients", "segments", "eta_seconds"],
                {"recipients": _INT, "segments": _INT, "eta_seconds": _nullable("integer")},
            )
        },
    ),
    "PoolAnswer": _object(["pool"], {"pool": _ref("Pool")}, {"pool": POOL_EXAMPLE}),
    "PoolPage": _page("Pool"),
    "PoolDeleted": _object(
        ["id", "deleted"], {"id": _STRING, "deleted": {"type": "boolean"}}, {"id": "fr-support", "deleted": True}
    ),
    "ApiKey": _object(
        ["id", "name", "scopes", "number_ids", "created_at"],
        {
            "id": _STRING,
            "name": _STRING,
            "scopes": {"type": "array", "items": _STRING},
            "number_ids": _nullable("array", items=_INT),
            "created_at": _STRING,
            "created_by": _nullable("string"),
            "revoked_at": _nullable("string"),
            "revoked_by": _nullable("string"),
        },
        API_KEY_EXAMPLE,
    ),
    "NewApiKey": {
        "allOf": [_ref("ApiKey"), _object(["key"], {"key": {"type": "string", "description": "Shown this once."}})],
    },
    "ApiKeyAnswer": _object(["api_key"], {"api_key": _ref("ApiKey")}),
    "ApiKeyPage": _page("ApiKey"),
    "Health": _object(["status"], {"status": _STRING}, {"status": "ok"}),
    "OpenAPIDocument": _object(["openapi", "info", "paths"], {"openapi": _STRING, "info": {"type": "object"}}),
}

# The schema of each success answer; "ndjson" and "html" answers are text.
SUCCESS: dict[tuple[str, str, int], str] = {
    ("post", "/messages", 200): "DryRun",
    ("post", "/messages", 201): "MessageAnswer",
    ("post", "/messages", 202): "MessageAnswer",
    ("get", "/messages", 200): "MessagePage",
    ("get", "/messages/{id}", 200): "MessageAnswer",
    ("delete", "/messages/{id}", 200): "MessageAnswer",
    ("patch", "/messages/{id}", 200): "MessageAnswer",
    ("get", "/usage", 200): "Usage",
    ("delete", "/contacts/{phone}", 200): "Erasure",
    ("delete", "/contacts/{phone}", 202): "Erasure",
    ("get", "/numbers", 200): "NumberPage",
    ("get", "/aircall/numbers", 200): "AircallNumberPage",
    ("get", "/numbers/{number_id}", 200): "NumberAnswer",
    ("put", "/numbers/{number_id}", 200): "NumberAnswer",
    ("put", "/numbers/{number_id}", 201): "NumberAnswer",
    ("delete", "/numbers/{number_id}", 200): "NumberRemoved",
    ("get", "/numbers/{number_id}/quota", 200): "Quota",
    ("get", "/pools", 200): "PoolPage",
    ("post", "/campaigns", 200): "CampaignPreflight",
    ("post", "/campaigns", 201): "CampaignAnswer",
    ("get", "/campaigns", 200): "CampaignPage",
    ("get", "/campaigns/{id}", 200): "CampaignAnswer",
    ("post", "/campaigns/{id}/pause", 200): "CampaignAnswer",
    ("post", "/campaigns/{id}/resume", 200): "CampaignAnswer",
    ("post", "/campaigns/{id}/cancel", 200): "CampaignAnswer",
    ("get", "/pools/{id}", 200): "PoolAnswer",
    ("put", "/pools/{id}", 200): "PoolAnswer",
    ("put", "/pools/{id}", 201): "PoolAnswer",
    ("delete", "/pools/{id}", 200): "PoolDeleted",
    ("get", "/opt-outs", 200): "OptOutPage",
    ("put", "/opt-outs/{phone}", 200): "OptOutAnswer",
    ("put", "/opt-outs/{phone}", 201): "OptOutAnswer",
    ("delete", "/opt-outs/{phone}", 200): "Removed",
    ("get", "/consents/{phone}", 200): "Consents",
    ("put", "/consents/{phone}", 200): "ConsentAnswer",
    ("delete", "/consents/{phone}", 200): "Removed",
    ("post", "/webhooks/aircall", 200): "CallbackAnswer",
    ("post", "/api-keys", 201): "NewApiKey",
    ("get", "/api-keys", 200): "ApiKeyPage",
    ("delete", "/api-keys/{id}", 200): "ApiKeyAnswer",
    ("get", "/health", 200): "Health",
    ("get", "/openapi.json", 200): "OpenAPIDocument",
}
