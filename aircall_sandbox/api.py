"""The `/v1` routes: Aircall's messaging API as the reference describes it (docs/aircall-reference.md).

Authentication, the request budget, faults and the request log wrap these routes in `app.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from aircall_sandbox.config import SandboxConfig
from aircall_sandbox.errors import invalid_payload
from aircall_sandbox.messages import Route
from aircall_sandbox.responses import base_url, empty_response, json_response
from aircall_sandbox.state import SandboxState

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 50
# Where a send handler leaves the id of the message it created, for the request log.
MESSAGE_ID_ENVIRON_KEY = "aircall_sandbox.message_id"

Handler = Callable[..., Response]


class AircallApi:
    def __init__(self, config: SandboxConfig, state: SandboxState) -> None:
        self._config = config
        self._state = state
        configuration = "/v1/numbers/<int:number_id>/messages/configuration"
        self.url_map = Map(
            [
                Rule("/v1/ping", endpoint=self.ping, methods=["GET"]),
                Rule("/v1/numbers", endpoint=self.list_numbers, methods=["GET"]),
                Rule("/v1/numbers/<int:number_id>", endpoint=self.get_number, methods=["GET"]),
                Rule(configuration, endpoint=self.configure, methods=["POST"]),
                Rule(configuration, endpoint=self.get_configuration, methods=["GET"]),
                Rule(configuration, endpoint=self.delete_configuration, methods=["DELETE"]),
                Rule("/v1/numbers/<int:number_id>/messages/send", endpoint=self.send, methods=["POST"]),
                Rule("/v1/numbers/<int:number_id>/messages/native/send", endpoint=self.native_send, methods=["POST"]),
                Rule("/v1/webhooks", endpoint=self.create_webhook, methods=["POST"]),
                Rule("/v1/webhooks", endpoint=self.list_webhooks, methods=["GET"]),
                Rule("/v1/webhooks/<webhook_id>", endpoint=self.get_webhook, methods=["GET"]),
                Rule("/v1/webhooks/<webhook_id>", endpoint=self.edit_webhook, methods=["PUT"]),
                Rule("/v1/webhooks/<webhook_id>", endpoint=self.delete_webhook, methods=["DELETE"]),
            ],
            strict_slashes=False,
        )

    def ping(self, _request: Request) -> Response:
        return json_response({"ping": "pong"})

    def list_numbers(self, request: Request) -> Response:
        base = base_url(self._config, request)
        numbers = self._state.numbers()
        return json_response(_page(request, base, "numbers", [number.to_json(base) for number in numbers]))

    def get_number(self, request: Request, number_id: int) -> Response:
        number = self._state.number(number_id)
        return json_response({"number": number.to_json(base_url(self._config, request))})

    def configure(self, request: Request, number_id: int) -> Response:
        return json_response(self._state.configure(number_id, request.get_data()).to_json())

    def get_configuration(self, _request: Request, number_id: int) -> Response:
        return json_response(self._state.configuration(number_id).to_json())

    def delete_configuration(self, _request: Request, number_id: int) -> Response:
        self._state.delete_configuration(number_id)
        return empty_response(204)

    def send(self, request: Request, number_id: int) -> Response:
        return self._send(request, number_id, "proxy")

    def native_send(self, request: Request, number_id: int) -> Response:
        return self._send(request, number_id, "native")

    def create_webhook(self, request: Request) -> Response:
        webhook = self._state.create_webhook(request.get_data())
        return json_response({"webhook": webhook.to_json(base_url(self._config, request))}, status=201)

    def list_webhooks(self, request: Request) -> Response:
        base = base_url(self._config, request)
        webhooks = [webhook.to_json(base) for webhook in self._state.webhooks()]
        return json_response(_page(request, base, "webhooks", webhooks))

    def get_webhook(self, request: Request, webhook_id: str) -> Response:
        webhook = self._state.webhook(webhook_id)
        return json_response({"webhook": webhook.to_json(base_url(self._config, request))})

    def edit_webhook(self, request: Request, webhook_id: str) -> Response:
        webhook = self._state.edit_webhook(webhook_id, request.get_data(), request.args.get("events_action"))
        return json_response({"webhook": webhook.to_json(base_url(self._config, request))})

    def delete_webhook(self, _request: Request, webhook_id: str) -> Response:
        self._state.remove_webhook(webhook_id)
        return empty_response(204)

    def _send(self, request: Request, number_id: int, route: Route) -> Response:
        message = self._state.send(number_id, route, request.get_data(), base_url(self._config, request))
        request.environ[MESSAGE_ID_ENVIRON_KEY] = message["id"]
        return json_response(message)


def _page(request: Request, base: str, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of a list as Aircall answers it: `{name: [...], "meta": {count, total, current_page, per_page,
    next_page_link, previous_page_link}}` (`page`, `per_page` up to 50)."""
    page = _positive_int(request, "page", 1)
    per_page = min(_positive_int(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    shown = items[(page - 1) * per_page : page * per_page]
    last_page = max((len(items) + per_page - 1) // per_page, 1)

    def link(to_page: int) -> str:
        return f"{base}/v1/{name}?page={to_page}&per_page={per_page}"

    meta = {
        "count": len(shown),
        "total": len(items),
        "current_page": page,
        "per_page": per_page,
        "next_page_link": link(page + 1) if page < last_page else None,
        "previous_page_link": link(page - 1) if page > 1 else None,
    }
    return {name: shown, "meta": meta}


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise invalid_payload(f"'{name}' must be a positive integer")
    return int(raw)
