"""The route the HealthFunction serves: GET /health, open (no client key), answered from the smallest role of the
gateway (it may read one key that never exists) with eventually consistent reads."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from aircall_sms.api.resolver import json_response
from aircall_sms.use_cases import service


def register(app: APIGatewayRestResolver) -> None:
    @app.get("/health", summary="200 when the tables answer", tags=["service"])
    def get_health() -> Response[str]:
        return json_response(200, service.health())
