"""The sandbox as a WSGI application: routing, and what wraps every `/v1` request.

Order for a `/v1` request: authentication (401 without credentials, 403 with wrong ones; consumes no budget)
-> company request budget (429; consumes none) -> fault "before" -> the route -> fault "after" -> rate-limit
headers (on 429 answers, or on every authenticated answer) -> request log.
`/_sandbox/*` controls need no auth, consume no budget and are not logged; nor do the inbound MMS files behind
their presigned-style links (`/media/<id>?X-Amz-...`, `aircall_sandbox.media`).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from aircall_sandbox.api import MESSAGE_ID_ENVIRON_KEY, AircallApi, Handler
from aircall_sandbox.callbacks import CallbackDispatcher
from aircall_sandbox.clock import SandboxClock
from aircall_sandbox.config import SandboxConfig
from aircall_sandbox.controls import SandboxControls
from aircall_sandbox.errors import AircallError, ControlError
from aircall_sandbox.faults import Fault
from aircall_sandbox.media import MediaFiles
from aircall_sandbox.numbers import load_numbers_file, seed_numbers
from aircall_sandbox.responses import json_response
from aircall_sandbox.state import SandboxState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)


class Sandbox:
    """The Aircall sandbox: a WSGI app holding all its state (see `SandboxServer` to serve it over HTTP)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        lock = threading.RLock()  # the one lock: state, clock and callback queue
        self.clock = SandboxClock(lock)
        self.callbacks = CallbackDispatcher(
            lock,
            self.clock,
            timeout_s=self.config.callback_timeout_s,
            retries=self.config.webhook_retries,
            retry_delay_s=self.config.callback_delay_ms / 1000,
        )
        numbers = seed_numbers()
        if self.config.numbers_file is not None:
            numbers += load_numbers_file(self.config.numbers_file)
        self.state = SandboxState(self.config, lock, self.clock, self.callbacks, numbers)
        self._api = AircallApi(self.config, self.state)
        self.media = MediaFiles(lock, self.clock)
        self._controls = SandboxControls(self.config, self.state, self.clock, self.callbacks, self.media)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/v1/"):
            response = self._handle_api(request)
        elif request.path.startswith("/_sandbox/"):
            response = self._handle_control(request)
        elif request.path.startswith("/media/") and request.method in ("GET", "HEAD"):
            response = self.media.serve(request, request.path.removeprefix("/media/"))
        else:
            response = json_response({"key": "NotFound", "message": f"No route for {request.path}"}, status=404)
        return response(environ, start_response)

    def close(self) -> None:
        """Stop the callback worker; queued callbacks are dropped."""
        self.callbacks.close()

    def _handle_api(self, request: Request) -> Response:
        started = time.monotonic()
        scheme, authenticated = self._authenticate(request)
        fault: Fault | None = None
        if not authenticated:
            response = self._refuse_credentials(request)
        else:
            budget = self.state.admit_request()
            if not budget.admitted:
                response = json_response(
                    {"key": "TooManyRequests", "message": "Rate limit exceeded: too many requests for this company"},
                    status=429,
                )
            else:
                fault = self.state.take_fault(request.method, request.path)
                response = self._perform_with_fault(request, fault)
            # The reference: the headers are available "when the rate limit has been reached".
            if self.config.rate_headers == "always" or response.status_code == 429:
                response.headers.update(budget.headers(self.config.rate_reset_unit))
        self.state.log_request(
            {
                "at": self.clock.now_ms(),
                "method": request.method,
                "path": request.path,
                "query": request.args.to_dict(),
                "status": response.status_code,
                "auth_scheme": scheme,
                "authenticated": authenticated,
                "fault": None if fault is None else fault.summary(),
                "message_id": request.environ.get(MESSAGE_ID_ENVIRON_KEY),
                "json": _json_or_none(request.get_data()),
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
        )
        return response

    def _perform_with_fault(self, request: Request, fault: Fault | None) -> Response:
        error = fault.error() if fault is not None else None
        if fault is not None and fault.mode == "before":
            time.sleep(fault.latency_ms / 1000)
            if error is not None:
                return _aircall_error(error)
        response = self._route(self._api.url_map, request)
        if fault is not None and fault.mode == "after":
            time.sleep(fault.latency_ms / 1000)
            if error is not None:
                return _aircall_error(error)
        return response

    @staticmethod
    def _refuse_credentials(request: Request) -> Response:
        """As measured against Aircall: 401 when no credentials are presented, 403 when they are wrong (a bad
        api_id:api_token pair, a bad Bearer token, or an Authorization header that cannot be read)."""
        if "Authorization" not in request.headers:
            return json_response(
                {"message": "Unauthorized"}, status=401, headers={"WWW-Authenticate": 'Basic realm="Aircall sandbox"'}
            )
        return json_response({"message": "Forbidden"}, status=403)

    def _authenticate(self, request: Request) -> tuple[str | None, bool]:
        """The scheme presented (for the log, never the credentials) and whether the credentials are right."""
        authorization = request.authorization
        if authorization is None:
            header = request.headers.get("Authorization")
            return (header.split(" ", 1)[0].lower() if header else None), False
        if authorization.type == "basic":
            valid = _same(authorization.username, self.config.api_id) and _same(
                authorization.password, self.config.api_token
            )
            return "basic", valid
        if authorization.type == "bearer":
            return "bearer", _same(authorization.token, self.config.access_token)
        return authorization.type, False

    def _handle_control(self, request: Request) -> Response:
        try:
            return self._dispatch(self._controls.url_map, request)
        except ControlError as exc:
            return json_response({"error": exc.message}, status=exc.status)
        except HTTPException as exc:
            return json_response({"error": exc.description or exc.name}, status=exc.code or 500)
        except Exception:
            logger.exception("sandbox control failed: %s %s", request.method, request.path)
            return json_response({"error": "internal error in the sandbox (see its log)"}, status=500)

    def _route(self, url_map: Map, request: Request) -> Response:
        try:
            return self._dispatch(url_map, request)
        except AircallError as exc:
            return _aircall_error(exc)
        except MethodNotAllowed:
            return json_response({"key": "MethodNotAllowed", "message": f"{request.method} not allowed"}, status=405)
        except NotFound:
            return json_response({"key": "NotFound", "message": f"No route for {request.path}"}, status=404)
        except Exception:
            logger.exception("sandbox API failed: %s %s", request.method, request.path)
            return json_response({"key": "InternalServerError", "message": "Internal error in the sandbox"}, status=500)

    @staticmethod
    def _dispatch(url_map: Map, request: Request) -> Response:
        endpoint, arguments = url_map.bind_to_environ(request.environ).match()
        return cast(Handler, endpoint)(request, **arguments)


def create_app(config: SandboxConfig | None = None) -> Sandbox:
    return Sandbox(config)


def _aircall_error(error: AircallError) -> Response:
    return json_response(error.body(), status=error.status)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
