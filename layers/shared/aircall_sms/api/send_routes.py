"""POST /messages — send one message (docs/http-api.md, "Sending"). Served by the SendFunction. Kept to
what the send needs: its cold start is measured (`make bench`)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Header

from aircall_sms.api import API_KEY
from aircall_sms.api.resolver import json_response, principal
from aircall_sms.domain.requests import SendRequest
from aircall_sms.use_cases.send import send_message

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description="1-255 printable ASCII characters. The same key with the same body answers the first answer "
        "again (header Idempotent-Replayed: true) and never sends twice; with another body: 409 "
        "idempotency_conflict. Kept 24 hours.",
    ),
]


def register(app: APIGatewayRestResolver) -> None:
    @app.post(
        "/messages",
        summary="Send an SMS/MMS through Aircall",
        description="Validates, normalises the recipient to E.164, counts segments (GSM-7/UCS-2), applies the "
        "country and contact rules (a refusal costs no quota), reserves the number's quota windows and the "
        "company's Aircall request budget in one transaction, archives, and calls Aircall once. `201` sent "
        "(status `queued`); `202` deferred (`on_limit: defer`, status `deferred` with `not_before`); `200` for "
        "a dry run (`verdict`, `reason`, `segments`, `encoding`, `non_gsm_characters`, `quota`).",
        tags=["messages"],
        security=API_KEY,
    )
    def post_message(body: SendRequest, idempotency_key: IdempotencyKey = None) -> Response[str]:
        acting = principal(app)
        if acting.person is not None:  # a signed-in person writes under their own name, whatever the body says
            body = body.model_copy(update={"human_author": acting.person})
        outcome = send_message(body, principal=acting, idempotency_key=idempotency_key)
        return json_response(outcome.status_code, outcome.body, outcome.headers)
