"""The routes the ManageFunction serves: the archive, usage, erasure, number configuration, opt-outs and consents,
and the service routes (the OpenAPI document, its Swagger UI; GET /health is the HealthFunction's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from aircall_sms.api import API_KEY
from aircall_sms.api.resolver import json_response, principal
from aircall_sms.domain.pages import DEFAULT_LIMIT, MAX_LIMIT
from aircall_sms.domain.requests import (
    ConsentPurpose,
    ConsentRequest,
    KeyRequest,
    MessagePatch,
    NumberRequest,
    OptOutRequest,
    PoolRequest,
)
from aircall_sms.domain.status import STATUSES
from aircall_sms.use_cases import campaigns, client_keys, consent, erasure, messages, numbers, pools, usage, waiting

NumberIdQuery = Annotated[str | None, Query(max_length=18, description="Aircall's number_id.")]
# The archive's parameters are read by the use case, which names the invalid one in `details.field`.
TimeQuery = Annotated[str | None, Query(description="ISO 8601 with its offset (2026-11-26T14:05:00Z), inclusive.")]
DirectionQuery = Annotated[str | None, Query(json_schema_extra={"enum": list(messages.DIRECTIONS)})]
StatusQuery = Annotated[str | None, Query(description="The status now.", json_schema_extra={"enum": list(STATUSES)})]
MonthQuery = Annotated[
    str | None, Query(description="A UTC month, YYYY-MM (default: the current one).", examples=["2026-11"])
]
EXPORT_CONTENT_TYPE = "application/x-ndjson"


def register(app: APIGatewayRestResolver) -> None:
    @app.get(
        "/messages",
        summary="The archive, newest first: filtered, paginated; number_id with contact is one conversation",
        description="Every filter is optional and they combine. Equal times are ordered by id. A list reads only "
        "the indexes made for it, never the whole table. Invalid parameters: 400 `invalid_request` (or "
        "`invalid_phone` for `contact`) with `details.field`.",
        tags=["messages"],
        security=API_KEY,
    )
    def list_messages(
        number_id: Annotated[str | None, Query(description="Aircall's number_id.")] = None,
        contact: Annotated[str | None, Query(description="E.164, or national format of number_id's country.")] = None,
        direction: DirectionQuery = None,
        status: StatusQuery = None,
        since: TimeQuery = None,
        until: TimeQuery = None,
        limit: Annotated[str | None, Query(description=f"1-{MAX_LIMIT}, default {DEFAULT_LIMIT}.")] = None,
        cursor: Annotated[str | None, Query(description="The next_cursor of the previous page.")] = None,
    ) -> Response[str]:
        return json_response(
            200,
            messages.list_messages(
                principal(app),
                number_id=number_id,
                contact=contact,
                direction=direction,
                status=status,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            ),
        )

    @app.get(
        "/messages/export",
        summary="The archive from since to until as JSON Lines, oldest first, in pages",
        description="`application/x-ndjson`: one Message object per line, oldest first (equal times by id), at "
        f"most `limit` lines ({messages.EXPORT_MAX_LINES}, also the default) and about 4 MB per answer. While more "
        "follow, the `X-Next-Cursor` header carries the cursor: repeat the request with `cursor=` set to it; the "
        "last page has no such header. `since` is required; `until` defaults to now; the range spans at most "
        f"{messages.MAX_EXPORT_SPAN.days} days.",
        tags=["messages"],
        security=API_KEY,
    )
    def export_messages(
        since: TimeQuery = None,
        until: TimeQuery = None,
        limit: Annotated[str | None, Query(description=f"1-{messages.EXPORT_MAX_LINES} lines.")] = None,
        cursor: Annotated[str | None, Query(description="The X-Next-Cursor header of the previous page.")] = None,
    ) -> Response[str]:
        page = messages.export_messages(principal(app), since=since, until=until, limit=limit, cursor=cursor)
        headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
        return Response(status_code=200, content_type=EXPORT_CONTENT_TYPE, body=page.lines, headers=headers)

    # The path parameter is named as in the contract and the template (`{id}`), and so the argument.
    @app.get("/messages/<id>", summary="One message with its status history", tags=["messages"], security=API_KEY)
    def get_message(id: str) -> Response[str]:
        return json_response(200, {"message": messages.get_message(principal(app), id)})

    @app.delete(
        "/messages/<id>",
        summary="Cancel a scheduled or deferred message",
        description="Scope `send`, and one of the key's numbers (another number's message is a 404). `200` with the "
        "message, status `cancelled` (nothing was sent or charged); cancelling it again answers the same. A message "
        "already on its way or ended (sent, delivered, failed, rejected, expired...): 409 `message_not_waiting` with "
        "`details.status`.",
        tags=["messages"],
        security=API_KEY,
    )
    def cancel_message(id: str) -> Response[str]:
        return json_response(200, waiting.cancel(principal(app), id))

    @app.patch(
        "/messages/<id>",
        summary="Change a scheduled or deferred message's text or send_at",
        description="Scope `send`, and one of the key's numbers. Checked as a new send: `text` 1-1600 characters "
        "(670 from a French number: 400 `message_too_long`), its segments counted again; `send_at` from now to 31 "
        "days ahead and before the message's `not_after` (400 `invalid_send_at` with `details.field` and "
        "`reason`): the message becomes `scheduled` at it. `200` with the message. A message no longer waiting: "
        "409 `message_not_waiting`. Every rule is checked again when it goes out.",
        tags=["messages"],
        security=API_KEY,
    )
    def change_message(id: str, body: MessagePatch) -> Response[str]:
        return json_response(200, waiting.change(principal(app), id, body))

    @app.get(
        "/usage",
        summary="A month's usage per number: messages and segments out and in, outcomes, estimated cost",
        description="Per number that had usage in the month (or only `number_id`, zeros when it had none): "
        "`outbound` (messages Aircall took, their segments, segments by the contact's country), `inbound`, and "
        "the messages `rejected`, `deferred` (at least once), `expired` and `failed`; `estimated_cost` from the "
        "deployment's price table (null without one; segments it has no price for are `unpriced_segments`). "
        "Counted from the archive's changes as they happen (a second or two behind), in the UTC month they "
        "happened; kept when messages expire or are erased. Invalid parameters: 400 `invalid_request` with "
        "`details.field` (`month`, `number_id`).",
        tags=["usage"],
        security=API_KEY,
    )
    def get_usage(
        month: MonthQuery = None,
        number_id: Annotated[str | None, Query(description="Aircall's number_id: that number only.")] = None,
    ) -> Response[str]:
        return json_response(200, usage.usage_report(principal(app), month, number_id))

    @app.delete(
        "/contacts/<phone>",
        summary="Erase a contact (right to erasure); only the opt-out fact stays",
        description="Deletes the contact's messages (both directions), the Aircall callbacks about them, their "
        "Idempotency-Key records, and the contact's consents and conversation windows, from every table and "
        "index; keeps the opt-outs, so a STOP stays honoured. `200` with `complete: true` and what was erased; "
        "`202` with `complete: false` when the call's time ran out first (a contact with thousands of "
        "messages): repeat the request until it answers 200. `phone` in E.164 (%2B for +), or in national "
        "format with `number_id`. Bad phone: 400 `invalid_phone`.",
        tags=["consent"],
        security=API_KEY,
    )
    def erase_contact(phone: str, number_id: NumberIdQuery = None) -> Response[str]:
        answer = erasure.erase_contact(principal(app), phone, number_id)
        return json_response(200 if answer.complete else 202, answer.body)

    @app.get("/numbers", summary="The numbers configured in the gateway", tags=["numbers"], security=API_KEY)
    def list_numbers() -> Response[str]:
        items = numbers.list_configured(principal(app))
        return json_response(200, {"items": items, "next_cursor": None})

    @app.get(
        "/aircall/numbers",
        summary="The company's Aircall numbers as Aircall lists them, each with its configuration here",
        description="Aircall's `GET /v1/numbers`, paged through (one request of the company's Aircall budget per "
        "page of 50, at most 10 pages per answer; `next_cursor` goes on): each number's `number_id` (what "
        "`PUT /numbers/{number_id}` takes), name, digits, E.164 form, country, time zone, and `configured` with "
        "its `mode` here (null when not configured). A key limited to numbers sees only those. Aircall refusing "
        "or unreachable: `502 aircall_error`; no usable Aircall credentials: `503 aircall_credentials_missing`.",
        tags=["numbers"],
        security=API_KEY,
    )
    def list_aircall_numbers(
        cursor: Annotated[
            str | None, Query(max_length=2048, description="The next_cursor of the previous page.")
        ] = None,
    ) -> Response[str]:
        return json_response(200, numbers.list_in_aircall(principal(app), cursor))

    @app.get("/numbers/<number_id>", summary="One configured number", tags=["numbers"], security=API_KEY)
    def get_number(number_id: str) -> Response[str]:
        return json_response(200, {"number": numbers.get(principal(app), number_id)})

    @app.put(
        "/numbers/<number_id>",
        summary="Configure an Aircall number in the gateway",
        description="`proxy` mode configures the number in Aircall with this deployment's callback URL (the "
        "answer's `warning`: the Aircall apps can no longer send or receive SMS on it); `agent` mode sends in the "
        "agent conversation. `201` when new, `200` when updated.",
        tags=["numbers"],
        security=API_KEY,
    )
    def put_number(number_id: str, body: NumberRequest) -> Response[str]:
        answer = numbers.configure(
            principal(app), number_id, body, request_callback_url=_callback_url(app.current_event.raw_event)
        )
        payload: dict[str, Any] = {"number": answer.number}
        if answer.warning:
            payload["warning"] = answer.warning
        return json_response(201 if answer.created else 200, payload)

    @app.delete(
        "/numbers/<number_id>",
        summary="Remove the Aircall configuration of a number",
        description="App messaging comes back; the number's deferred messages end `rejected` "
        "(`number_not_configured`), counted in `deferred_rejected`.",
        tags=["numbers"],
        security=API_KEY,
    )
    def delete_number(number_id: str) -> Response[str]:
        return json_response(200, numbers.remove(principal(app), number_id))

    @app.get(
        "/pools",
        summary="The sender pools",
        description="A key limited to numbers lists only the pools made of its numbers.",
        tags=["numbers"],
        security=API_KEY,
    )
    def list_pools() -> Response[str]:
        return json_response(200, {"items": pools.list_pools(principal(app)), "next_cursor": None})

    @app.get("/pools/<id>", summary="One sender pool", tags=["numbers"], security=API_KEY)
    def get_pool(id: str) -> Response[str]:
        return json_response(200, {"pool": pools.get_pool(principal(app), id)})

    @app.put(
        "/pools/<id>",
        summary="Create or replace a sender pool",
        description='`"from": "pool:<id>"` in POST /messages then chooses the sender among these numbers: the one '
        "that holds the contact's thread, else the one of the recipient's country with the most room under "
        "`POOL_SHARE_PERCENT` of each window. 1-16 distinct configured numbers of one country (the US with Canada "
        "counts as one). A key limited to numbers may name only its numbers.",
        tags=["numbers"],
        security=API_KEY,
    )
    def put_pool(id: str, body: PoolRequest) -> Response[str]:
        pool, created = pools.put_pool(principal(app), id, body)
        return json_response(201 if created else 200, {"pool": pool})

    @app.delete(
        "/pools/<id>",
        summary="Delete a sender pool",
        description="Its numbers stay configured; messages already deferred from it keep their number.",
        tags=["numbers"],
        security=API_KEY,
    )
    def delete_pool(id: str) -> Response[str]:
        return json_response(200, pools.delete_pool(principal(app), id))

    @app.post(
        "/campaigns",
        summary="Create a campaign (or preflight it with dry_run)",
        description="Up to 10,000 recipients, one `text` with `{{placeholders}}` filled from each recipient's "
        "`values` (or a recipient's own `text`). Answered at once (201): the recipients are stored in a few chunks, "
        "and each dispatcher run sends the campaign's share of what the minute's Aircall budget leaves after live "
        "traffic, each recipient as a normal message (`metadata.campaign_id`) checked against every rule then. "
        "`dry_run`: 200 with the segments and the ETA, nothing written. Mistakes: 400 `invalid_campaign` naming "
        "the field (`recipients[3].to`).",
        tags=["campaigns"],
        security=API_KEY,
    )
    def create_campaign() -> Response[str]:
        status, body = campaigns.create(principal(app), app.current_event.json_body)
        return json_response(status, body)

    @app.get("/campaigns", summary="The campaigns", tags=["campaigns"], security=API_KEY)
    def list_campaigns() -> Response[str]:
        return json_response(200, {"items": campaigns.list_campaigns(principal(app)), "next_cursor": None})

    @app.get("/campaigns/<id>", summary="One campaign and its progress", tags=["campaigns"], security=API_KEY)
    def get_campaign(id: str) -> Response[str]:
        return json_response(200, {"campaign": campaigns.get(principal(app), id)})

    def _change(id: str, action: str) -> Response[str]:
        return json_response(200, {"campaign": campaigns.change(principal(app), id, action)})

    @app.post("/campaigns/<id>/pause", summary="Pause a campaign (idempotent)", tags=["campaigns"], security=API_KEY)
    def pause_campaign(id: str) -> Response[str]:
        return _change(id, "pause")

    @app.post("/campaigns/<id>/resume", summary="Resume a paused campaign", tags=["campaigns"], security=API_KEY)
    def resume_campaign(id: str) -> Response[str]:
        return _change(id, "resume")

    @app.post("/campaigns/<id>/cancel", summary="Cancel a campaign (idempotent)", tags=["campaigns"], security=API_KEY)
    def cancel_campaign(id: str) -> Response[str]:
        return _change(id, "cancel")

    @app.get(
        "/numbers/<number_id>/quota",
        summary="The number's quota windows and the company budget",
        tags=["numbers"],
        security=API_KEY,
    )
    def get_number_quota(number_id: str) -> Response[str]:
        return json_response(200, numbers.get_quota(principal(app), number_id))

    @app.get(
        "/opt-outs",
        summary="Opt-outs of one number, or the company-wide ones, newest first",
        tags=["consent"],
        security=API_KEY,
    )
    def list_opt_outs(
        number_id: NumberIdQuery = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> Response[str]:
        return json_response(200, consent.list_opt_outs(principal(app), number_id, limit=limit, cursor=cursor))

    @app.put(
        "/opt-outs/<phone>",
        summary="Opt a contact out of one number or of every number",
        description="`201` when recorded, `200` when it already was (the first record stays).",
        tags=["consent"],
        security=API_KEY,
    )
    def put_opt_out(phone: str, body: OptOutRequest | None = None) -> Response[str]:
        answer = consent.opt_out(principal(app), phone, body)
        return json_response(201 if answer.created else 200, {"opt_out": answer.opt_out})

    @app.delete(
        "/opt-outs/<phone>",
        summary="Remove an opt-out: the contact may be sent to again",
        tags=["consent"],
        security=API_KEY,
    )
    def delete_opt_out(phone: str, number_id: NumberIdQuery = None) -> Response[str]:
        return json_response(200, consent.remove_opt_out(principal(app), phone, number_id))

    @app.get(
        "/consents/<phone>", summary="A contact's consents with their evidence", tags=["consent"], security=API_KEY
    )
    def get_consents(phone: str) -> Response[str]:
        return json_response(200, consent.consents_of(principal(app), phone))

    @app.put(
        "/consents/<phone>",
        summary="Record a contact's consent to marketing messages",
        tags=["consent"],
        security=API_KEY,
    )
    def put_consent(phone: str, body: ConsentRequest) -> Response[str]:
        return json_response(200, consent.record_consent(principal(app), phone, body))

    @app.delete("/consents/<phone>", summary="Withdraw a contact's consent", tags=["consent"], security=API_KEY)
    def delete_consents(
        phone: str, number_id: NumberIdQuery = None, purpose: Annotated[ConsentPurpose, Query()] = "marketing"
    ) -> Response[str]:
        return json_response(200, consent.withdraw_consent(principal(app), phone, number_id, purpose))

    @app.post(
        "/api-keys",
        summary="Make a client key (scope admin); the key is shown once",
        description="Scopes: `send`, `read`, `export`, `contacts`, `numbers`, `admin`. `number_ids` limits the "
        "key to those numbers (it sends only from them and sees only their messages, quota and usage); absent or "
        "null: every number. A key limited to numbers can only make keys limited to some of its numbers. Only the "
        "key's digest is kept: store `key` now.",
        tags=["access"],
        security=API_KEY,
    )
    def post_api_key(body: KeyRequest) -> Response[str]:
        return json_response(201, client_keys.create_key(principal(app), body))

    @app.get("/api-keys", summary="The client keys, without their secrets", tags=["access"], security=API_KEY)
    def list_api_keys(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> Response[str]:
        return json_response(200, client_keys.list_keys(limit, cursor))

    @app.delete(
        "/api-keys/<id>",
        summary="Revoke a client key: it answers 401 from then on",
        description="Deployed, within the authorizer's cache time (`AuthorizerCacheSeconds`, at most 300 s).",
        tags=["access"],
        security=API_KEY,
    )
    def delete_api_key(id: str) -> Response[str]:
        return json_response(200, {"api_key": client_keys.revoke_key(principal(app), id)})

    @app.get(
        "/openapi.json",
        summary="This API's OpenAPI 3.1 document",
        description="Generated from the routes and the request models that validate requests.",
        tags=["service"],
        security=API_KEY,
    )
    def get_openapi_document() -> Response[str]:
        from aircall_sms.api import openapi  # the whole API's routes: loaded on the first request only

        server = openapi.server_of(app.current_event.raw_event)
        body = openapi.document_json(server, documented_routes())
        return Response(status_code=200, content_type="application/json", body=body)

    @app.get(
        "/docs",
        summary="Swagger UI of this API",
        description="Open: the page asks for a client key and loads openapi.json with it.",
        tags=["service"],
    )
    def get_docs() -> Response[str]:
        from aircall_sms.api import openapi

        page, headers = openapi.swagger_page()
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=page, headers=headers)


def documented_routes() -> tuple[Callable[[APIGatewayRestResolver], None], ...]:
    """Every function's route registrations: what the OpenAPI document describes."""
    from aircall_sms.api import health_routes, send_routes, webhook_routes  # loaded on the first request only

    return (send_routes.register, register, webhook_routes.register, health_routes.register)


def _callback_url(event: dict[str, Any]) -> str:
    """This deployment's callback URL as API Gateway sees it (CALLBACK_URL overrides it, e.g. a custom domain)."""
    context = event.get("requestContext") or {}
    return f"https://{context.get('domainName', '')}/{context.get('stage', '')}/webhooks/aircall"
