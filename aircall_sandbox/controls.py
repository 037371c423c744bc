"""The `/_sandbox/*` control routes: inspect and steer the sandbox from tests and demos (no auth)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from aircall_sandbox.callbacks import CallbackDispatcher
from aircall_sandbox.clock import SandboxClock, iso_utc
from aircall_sandbox.config import SandboxConfig
from aircall_sandbox.errors import ControlError
from aircall_sandbox.faults import parse_fault
from aircall_sandbox.media import MediaFiles
from aircall_sandbox.numbers import NumberDefinitionError, numbers_from_json
from aircall_sandbox.payloads import E164, callback_url_problem
from aircall_sandbox.responses import base_url, empty_response, json_response
from aircall_sandbox.state import SandboxState

DEFAULT_DRAIN_TIMEOUT_S = 10.0
MEDIA_DETAIL_FIELDS = ("file_name", "file_type", "presigned_url")


class SandboxControls:
    def __init__(
        self,
        config: SandboxConfig,
        state: SandboxState,
        clock: SandboxClock,
        dispatcher: CallbackDispatcher,
        media: MediaFiles,
    ) -> None:
        self._media = media
        self._config = config
        self._state = state
        self._clock = clock
        self._dispatcher = dispatcher
        self.url_map = Map(
            [
                Rule("/_sandbox/health", endpoint=self.health, methods=["GET"]),
                Rule("/_sandbox/reset", endpoint=self.reset, methods=["POST"]),
                Rule("/_sandbox/clock", endpoint=self.get_clock, methods=["GET"]),
                Rule("/_sandbox/clock", endpoint=self.set_clock, methods=["POST"]),
                Rule("/_sandbox/numbers", endpoint=self.list_numbers, methods=["GET"]),
                Rule("/_sandbox/numbers", endpoint=self.add_numbers, methods=["POST"]),
                Rule("/_sandbox/numbers/<int:number_id>", endpoint=self.update_number, methods=["PATCH"]),
                Rule("/_sandbox/requests", endpoint=self.requests, methods=["GET"]),
                Rule("/_sandbox/messages", endpoint=self.messages, methods=["GET"]),
                Rule("/_sandbox/callbacks", endpoint=self.callbacks, methods=["GET"]),
                Rule("/_sandbox/callbacks/drain", endpoint=self.drain, methods=["POST"]),
                Rule("/_sandbox/usage", endpoint=self.usage, methods=["GET"]),
                Rule("/_sandbox/inbound", endpoint=self.inbound, methods=["POST"]),
                Rule("/_sandbox/media", endpoint=self.add_media, methods=["POST"]),
                Rule("/_sandbox/media", endpoint=self.list_media, methods=["GET"]),
                Rule("/_sandbox/failures", endpoint=self.get_failures, methods=["GET"]),
                Rule("/_sandbox/failures", endpoint=self.add_failures, methods=["POST"]),
                Rule("/_sandbox/failures", endpoint=self.clear_failures, methods=["DELETE"]),
                Rule("/_sandbox/faults", endpoint=self.get_faults, methods=["GET"]),
                Rule("/_sandbox/faults", endpoint=self.add_fault, methods=["POST"]),
                Rule("/_sandbox/faults", endpoint=self.clear_faults, methods=["DELETE"]),
                Rule("/_sandbox/webhook", endpoint=self.set_webhook, methods=["POST"]),
                Rule("/_sandbox/webhook", endpoint=self.delete_webhook, methods=["DELETE"]),
            ],
            strict_slashes=False,
        )

    def health(self, _request: Request) -> Response:
        return json_response({"status": "ok", "now": iso_utc(self._clock.now_datetime())})

    def reset(self, _request: Request) -> Response:
        self._state.reset()
        self._media.clear()
        return json_response({"reset": True})

    def get_clock(self, _request: Request) -> Response:
        return json_response(self._clock_json())

    def set_clock(self, request: Request) -> Response:
        document = _json_object(request)
        if "advance_seconds" in document:
            seconds = document["advance_seconds"]
            if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                raise ControlError("'advance_seconds' must be a number")
            self._clock.advance(float(seconds))
        elif "set" in document:
            moment = document["set"]
            try:
                self._clock.set(datetime.fromisoformat(str(moment)))
            except ValueError:
                raise ControlError("'set' must be an ISO 8601 time such as 2026-11-26T14:00:00Z") from None
        else:
            raise ControlError("send {'advance_seconds': n} or {'set': '<ISO 8601 time>'}")
        return json_response(self._clock_json())

    def _clock_json(self) -> dict[str, Any]:
        return {
            "now": iso_utc(self._clock.now_datetime()),
            "epoch_ms": self._clock.now_ms(),
            "offset_seconds": self._clock.offset_seconds,
        }

    def list_numbers(self, request: Request) -> Response:
        base = base_url(self._config, request)
        return json_response({"numbers": [number.sandbox_json(base) for number in self._state.numbers()]})

    def add_numbers(self, request: Request) -> Response:
        try:
            numbers = numbers_from_json(_json_document(request))
        except NumberDefinitionError as exc:
            raise ControlError(str(exc)) from None
        self._state.add_numbers(numbers)
        base = base_url(self._config, request)
        return json_response({"numbers": [number.sandbox_json(base) for number in numbers]}, status=201)

    def update_number(self, request: Request, number_id: int) -> Response:
        document = _json_object(request)
        if set(document) != {"toll_free_verification"}:
            raise ControlError("send {'toll_free_verification': 'verified' | 'pending' | 'unverified'}")
        number = self._state.set_toll_free_verification(number_id, document["toll_free_verification"])
        return json_response(number.sandbox_json(base_url(self._config, request)))

    def requests(self, request: Request) -> Response:
        method = request.args.get("method")
        path_contains = request.args.get("path_contains")
        entries = [
            entry
            for entry in self._state.requests()
            if (method is None or entry["method"] == method.upper())
            and (path_contains is None or path_contains in entry["path"])
        ]
        return json_response({"requests": entries})

    def messages(self, request: Request) -> Response:
        number_id = request.args.get("number_id")
        direction = request.args.get("direction")
        messages = [
            message
            for message in self._state.message_json()
            if (number_id is None or str(message["number"]["id"]) == number_id)
            and (direction is None or message["direction"] == direction)
        ]
        return json_response({"messages": messages})

    def callbacks(self, request: Request) -> Response:
        message_id = request.args.get("message_id")
        attempts = [
            attempt
            for attempt in self._dispatcher.attempts()
            if message_id is None or attempt["message_id"] == message_id
        ]
        return json_response({"callbacks": attempts, "pending": self._dispatcher.pending()})

    def drain(self, request: Request) -> Response:
        document = _json_object(request, allow_empty=True)
        timeout_s = document.get("timeout_s", DEFAULT_DRAIN_TIMEOUT_S)
        if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or timeout_s < 0:
            raise ControlError("'timeout_s' must be a non-negative number")
        drained = self._dispatcher.drain(float(timeout_s))
        return json_response(
            {"drained": drained, "pending": self._dispatcher.pending()}, status=200 if drained else 504
        )

    def usage(self, _request: Request) -> Response:
        return json_response(self._state.usage())

    def inbound(self, request: Request) -> Response:
        document = _json_object(request)
        number_id = document.get("number_id")
        sender = document.get("from")
        body = document.get("body", "")
        media_details = document.get("media_details", [])
        if not isinstance(number_id, int) or isinstance(number_id, bool):
            raise ControlError("'number_id' must be an Aircall number id")
        if not isinstance(sender, str):
            raise ControlError("'from' must be a phone number in E.164 format")
        if not isinstance(body, str):
            raise ControlError("'body' must be a string")
        if not isinstance(media_details, list) or not all(_is_media_detail(item) for item in media_details):
            raise ControlError("'media_details' must be a list of {file_name, file_type, presigned_url}")
        if not body and not media_details:
            raise ControlError("an inbound message needs a 'body' or 'media_details'")
        message, delivery = self._state.receive(number_id, sender, body, media_details, base_url(self._config, request))
        return json_response({"message": message, "delivery": delivery})

    def add_media(self, request: Request) -> Response:
        return json_response(self._media.add(_json_object(request), base_url(self._config, request)), status=201)

    def list_media(self, _request: Request) -> Response:
        return json_response({"files": self._media.files()})

    def get_failures(self, _request: Request) -> Response:
        return json_response(self._state.failures())

    def add_failures(self, request: Request) -> Response:
        document = _json_object(request)
        to = document.get("to")
        count = document.get("next", document.get("count", 1))
        if to is not None and (not isinstance(to, str) or not E164.match(to)):
            raise ControlError("'to' must be a phone number in E.164 format")
        if to is None and "next" not in document:
            raise ControlError("send {'to': '+33...'} (optionally with 'count') or {'next': n}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ControlError("'next' / 'count' must be a positive integer")
        return json_response(self._state.schedule_failures(to=to, next_count=count))

    def clear_failures(self, _request: Request) -> Response:
        self._state.clear_failures()
        return empty_response(204)

    def get_faults(self, _request: Request) -> Response:
        return json_response({"faults": self._state.faults()})

    def add_fault(self, request: Request) -> Response:
        self._state.add_fault(parse_fault(_json_object(request)))
        return json_response({"faults": self._state.faults()}, status=201)

    def clear_faults(self, _request: Request) -> Response:
        self._state.clear_faults()
        return empty_response(204)

    def set_webhook(self, request: Request) -> Response:
        document = _json_object(request)
        url = document.get("url")
        token = document.get("token") or secrets.token_hex(16)
        if not isinstance(url, str):
            raise ControlError("'url' must be an https:// URL")
        problem = callback_url_problem(url, allow_http_loopback=self._config.allow_http_loopback_callbacks)
        if problem is not None:
            raise ControlError(f"'url' {problem}")
        if not isinstance(token, str):
            raise ControlError("'token' must be a string")
        webhook = self._state.set_webhook(url, token)
        return json_response({"url": webhook.url, "token": webhook.token})

    def delete_webhook(self, _request: Request) -> Response:
        self._state.delete_webhook()
        return empty_response(204)


def _json_document(request: Request) -> object:
    try:
        return json.loads(request.get_data())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ControlError("request body must be JSON") from None


def _json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    if allow_empty and not request.get_data().strip():
        return {}
    document = _json_document(request)
    if not isinstance(document, dict):
        raise ControlError("request body must be a JSON object")
    return document


def _is_media_detail(item: object) -> bool:
    return isinstance(item, dict) and all(isinstance(item.get(field), str) for field in MEDIA_DETAIL_FIELDS)
