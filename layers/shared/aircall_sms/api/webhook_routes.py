"""POST /webhooks/aircall as the OpenAPI document describes it, with a model of Aircall's callback payload.

The InboundFunction serves this route without the resolver (`functions/inbound/app.py`: no request-model
machinery on a path that must answer Aircall within 5 s), so this module is registered only on the resolver that
generates the document. Its handler does what the InboundFunction does. The model is lenient on purpose:
Aircall's callback envelope is not settled (`use_cases.callbacks` accepts every documented variant), so it
documents the fields the gateway reads and lets any other through.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import BaseModel, ConfigDict, Field

from aircall_sms.api.resolver import json_response
from aircall_sms.use_cases.callbacks import receive_callback


class AircallNumberRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | str = Field(description="Aircall's number_id: the number must be configured in proxy mode.")
    digits: str | None = None
    country: str | None = None


class AircallMediaDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    file_name: str | None = None
    file_type: str | None = None
    presigned_url: str | None = Field(default=None, description="Aircall's URL of the file (it expires).")


class AircallMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | str | None = Field(default=None, description="Aircall's message id.")
    number: AircallNumberRef
    direction: str | None = Field(default=None, description="inbound or outbound.")
    status: str | int | None = Field(
        default=None,
        description="Status updates: pending, sent, delivered, failed, undelivered, ... (any other word is kept "
        "and answered `unknown_status`).",
    )
    external_number: str | None = Field(default=None, description="The contact's number.")
    raw_digits: str | int | None = Field(
        default=None, description="The contact's number without `+` (read internationally first)."
    )
    body: str | None = Field(default=None, description="The text.")
    media_url: list[str] | str | None = None
    media_details: list[AircallMediaDetail] | None = Field(default=None, description="Inbound MMS.")
    created_at: int | float | str | None = Field(default=None, description="Epoch s or ms, or ISO 8601.")
    updated_at: int | float | str | None = None
    sent_at: int | float | str | None = None


class AircallCallback(BaseModel):
    """Aircall's callback to a number configured in proxy mode (Aircall reference, §3.2)."""

    model_config = ConfigDict(extra="allow")

    event: str | None = Field(
        default=None,
        description="message.received, or a status update: message.status_updated, message.updated, message.sent. "
        "Other events are acknowledged and ignored.",
    )
    event_name: str | None = Field(default=None, description="The event, as some callbacks name it.")
    resource: str | None = None
    timestamp: int | float | str | None = None
    token: str = Field(description="The callback token Aircall returned when the number was configured.")
    data: AircallMessage


def register(app: APIGatewayRestResolver) -> None:
    @app.post(
        "/webhooks/aircall",
        summary="Aircall's callbacks: inbound messages and delivery status updates",
        description="The callback URL this gateway gives Aircall when it configures a number (proxy mode). No API "
        "key: the `token` in the body must match the number's callback token (else 401 and nothing is stored). "
        "Every authenticated callback is recorded before anything else, whatever its event or status, and answered "
        "200: a status moves its message forward, an unknown status word is kept (`result: unknown_status`) and "
        "moves nothing, an inbound message is archived once whatever its contact's format (STOP/START keywords "
        "opt the contact out and in). Duplicates and out-of-order deliveries are harmless; a callback that cannot "
        "be applied yet answers `result: pending` and is applied within minutes. Served by the InboundFunction.",
        tags=["callbacks"],
    )
    def post_aircall_callback(body: AircallCallback) -> Response[str]:  # noqa: ARG001 - validated, then read raw
        outcome = receive_callback(app.current_event.body)
        answer: dict[str, Any] = outcome.to_body()
        return json_response(200, answer)
