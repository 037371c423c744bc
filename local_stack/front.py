"""The HTTP front: API Gateway (REST API, Lambda proxy integration, payload v1) in front of the handlers.

It serves the routes `template.yaml` declares, builds the event API Gateway would build, calls the
function's handler in-process (imported from `<CodeUri>/app.py` under a module name unique per function) with
a fake Lambda context, and turns the handler's answer into the HTTP response. A route behind a Lambda
authorizer (the API's `Auth.DefaultAuthorizer`, or the event's `Auth.Authorizer`) first calls the authorizer's
function in-process with API Gateway's REQUEST (or TOKEN) event: an `Unauthorized` error is 401, a policy that
does not allow the method is 403, an allowed one puts the authorizer's `context` and `principalId` in the
handler's `requestContext.authorizer`. Like API Gateway it answers by itself, without calling a handler:
`Missing Authentication Token` for an unknown path or method, 403 `Forbidden` for a missing or wrong
`x-api-key` on a route that requires one, 413 for a body over 10 MB, and 502 `Internal server error` when the
handler raises or answers something that is not a proxy response; the API's `GatewayResponses` replace those
answers' status and body as API Gateway's do. With an `AccessLogSetting`, each request appends one line in its
`Format` to `access_log` (and to the file `LOCAL_ACCESS_LOG`, when set).

Paths are served from the root (`/messages`, like `sam local start-api`); `/<stage>/messages` works too.
Local routes (`add_local_route`, e.g. the stack's `GET /_local/events`) are answered before the template's
routes, without an API key.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import importlib.util
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlsplit
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.datastructures import EnvironHeaders
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from aircall_sandbox.http_server import BackgroundServer
from local_stack import iam
from local_stack.template import (
    ACCOUNT_ID,
    Authorizer,
    FunctionSpec,
    GatewayResponse,
    Route,
    TemplateError,
    access_log_format,
    functions,
    gateway_responses,
    load_template,
    merged_environment,
)

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
DEFAULT_API_KEY = "local-api-key"
API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
RAW_HEADERS_KEY = "local_stack.raw_headers"

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "content-length"}
)
_front_numbers = itertools.count(1)

Handler = Callable[[Any, Any], Any]
LocalAnswer = Callable[[], Any]


class HandlerError(RuntimeError):
    """A function's handler cannot be loaded (no file, no such attribute)."""


class MalformedResponseError(ValueError):
    """The handler answered something that is not a Lambda proxy response."""


# ----------------------------------------------------------------------------------------------- context


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda context object that handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            today = datetime.now(UTC).strftime("%Y/%m/%d")
            self.log_stream_name = f"{today}/[$LATEST]{secrets.token_hex(16)}"

    @classmethod
    def for_function(cls, function: FunctionSpec, region: str, request_id: str | None = None) -> LambdaContext:
        return cls(
            function_name=function.function_name,
            memory_limit_in_mb=function.memory_size,
            invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function.function_name}",
            aws_request_id=request_id or str(uuid.uuid4()),
            timeout_seconds=float(function.timeout),
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def add_layers_to_sys_path(specs: Iterable[FunctionSpec]) -> None:
    """Make the functions' layers importable, as Lambda does with /opt/python (e.g. layers/shared)."""
    for spec in specs:
        for directory in spec.layer_dirs:
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))


# ----------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class _Resource:
    """A path template (`/numbers/{number_id}`) with the routes (one per method) that share it."""

    path: str
    segments: tuple[str, ...]
    routes: dict[str, Route]

    @property
    def specificity(self) -> tuple[int, ...]:
        """API Gateway prefers a literal segment to `{param}`, and `{param}` to a greedy `{param+}`."""
        return tuple(2 if _is_greedy(part) else 1 if _is_param(part) else 0 for part in self.segments)

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        parameters: dict[str, str] = {}
        for index, part in enumerate(self.segments):
            if _is_greedy(part):
                rest = segments[index:]
                if not rest or not "/".join(rest):
                    return None
                parameters[part[1:-2]] = "/".join(rest)
                return parameters
            if index >= len(segments):
                return None
            if _is_param(part):
                if not segments[index]:
                    return None
                parameters[part[1:-1]] = segments[index]
            elif part != segments[index]:
                return None
        return parameters if len(segments) == len(self.segments) else None


def _is_param(part: str) -> bool:
    return part.startswith("{") and part.endswith("}")


def _is_greedy(part: str) -> bool:
    return _is_param(part) and part.endswith("+}")


def _split_path(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


def _build_resources(routes: Iterable[Route]) -> list[_Resource]:
    by_path: dict[str, dict[str, Route]] = {}
    for route in routes:
        methods = by_path.setdefault(route.path, {})
        if route.method in methods:
            other = methods[route.method]
            raise TemplateError(
                f"{route.method} {route.path} is declared by both {other.function_id}.{other.event_id} "
                f"and {route.function_id}.{route.event_id}"
            )
        methods[route.method] = route
    resources = [_Resource(path, _split_path(path), methods) for path, methods in by_path.items()]
    return sorted(resources, key=lambda resource: resource.specificity)


# ----------------------------------------------------------------------------------------------- the front


class Front:
    """The template's API as a WSGI app (`wsgi_app`), calling the handlers in this process.

    On construction it sets `os.environ` to the union of the functions' resolved environments plus
    `env_overrides` (two functions disagreeing on a variable is an error: they share this process), and puts
    the functions' layer directories on `sys.path`. `close()` restores the environment.

    `api_key=None` turns the API key check off. `stage` defaults to each route's API stage in the template.
    """

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        api_key: str | None = DEFAULT_API_KEY,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        env_overrides: Mapping[str, str] | None = None,
        stage: str | None = None,
        enforce_iam: bool = True,
    ) -> None:
        self.template = load_template(template_path)
        self.api_key = api_key
        self.stage = stage
        self.functions: dict[str, FunctionSpec] = functions(self.template, parameter_overrides)
        self.routes: list[Route] = [route for spec in self.functions.values() for route in spec.routes]
        self._resources = _build_resources(self.routes)
        self.environment: dict[str, str] = {
            **merged_environment({logical_id: spec.environment for logical_id, spec in self.functions.items()}),
            **dict(env_overrides or {}),
        }
        api_ids = sorted({route.api_id for route in self.routes})
        self._gateway_responses: dict[str, dict[str, GatewayResponse]] = {
            api_id: gateway_responses(self.template, api_id, parameter_overrides) for api_id in api_ids
        }
        self._access_log_formats: dict[str, str | None] = {
            api_id: access_log_format(self.template, api_id, parameter_overrides) for api_id in api_ids
        }
        self.access_log: list[str] = []
        self._access_log_lock = threading.Lock()
        self._local_routes: dict[tuple[str, str], LocalAnswer] = {}
        self._number = next(_front_numbers)
        self._modules: dict[str, ModuleType] = {}
        self._load_lock = threading.Lock()
        self._saved_environment: dict[str, str | None] | None = None
        self._apply_environment()
        add_layers_to_sys_path(self.functions.values())
        # Each function's calls are held to its role's policy, as AWS holds them (local_stack/iam.py).
        region = self.environment.get("AWS_DEFAULT_REGION") or self._region
        self.policies = iam.policies(self.template, parameter_overrides, region) if enforce_iam else None
        self.access_denials = iam.Denials()

    # -- lifecycle

    def close(self) -> None:
        """Restore the environment as it was before this front, and forget the imported handler modules."""
        with self._load_lock:
            for module in self._modules.values():
                sys.modules.pop(module.__name__, None)
            self._modules.clear()
        saved, self._saved_environment = self._saved_environment, None
        for name, value in (saved or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _apply_environment(self) -> None:
        self._saved_environment = {name: os.environ.get(name) for name in self.environment}
        os.environ.update(self.environment)

    # -- handlers

    def module(self, function_logical_id: str) -> ModuleType:
        """The function's handler module, imported on first use (the function's cold start)."""
        spec = self._function(function_logical_id)
        with self._load_lock:
            module = self._modules.get(function_logical_id)
            if module is not None:
                return module
            handler_file = spec.handler_file
            if not handler_file.is_file():
                raise HandlerError(f"{function_logical_id}: {handler_file} does not exist")
            name = f"local_stack_functions_{self._number}_{function_logical_id}"
            module_spec = importlib.util.spec_from_file_location(name, handler_file)
            if module_spec is None or module_spec.loader is None:
                raise HandlerError(f"{function_logical_id}: cannot import {handler_file}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            self._modules[function_logical_id] = module
            return module

    def handler(self, function_logical_id: str) -> Handler:
        spec = self._function(function_logical_id)
        handler = getattr(self.module(function_logical_id), spec.handler_attribute, None)
        if not callable(handler):
            raise HandlerError(f"{function_logical_id}: {spec.handler_file} has no callable {spec.handler_attribute}")
        return handler  # type: ignore[no-any-return]

    def invoke(self, function_logical_id: str, event: Any, context: Any = None) -> Any:
        """Call a function in-process with any event (API, schedule, ...); its exceptions propagate."""
        spec = self._function(function_logical_id)
        context = context or LambdaContext.for_function(spec, self._region)
        handler = self.handler(function_logical_id)
        if self.policies is None:
            return handler(event, context)
        with iam.acting_as(self.policies[function_logical_id], self.access_denials):
            return handler(event, context)

    def _function(self, function_logical_id: str) -> FunctionSpec:
        try:
            return self.functions[function_logical_id]
        except KeyError:
            known = ", ".join(self.functions) or "none"
            raise KeyError(f"no function {function_logical_id!r} in the template (functions: {known})") from None

    @property
    def _region(self) -> str:
        return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"

    # -- HTTP

    def add_local_route(self, method: str, path: str, answer: LocalAnswer) -> None:
        """Serve `method path` (no API key, no stage prefix) with `answer()` as a 200 JSON body: a route of the
        local stack itself, not of the template (its paths start with `/_local/`, which API Gateway never has)."""
        self._local_routes[(method.upper(), path)] = answer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        response = self._respond(environ, request_id)
        response.headers.setdefault("x-amzn-RequestId", request_id)
        response.headers.setdefault("x-amz-apigw-id", _apigw_id())
        return response(environ, start_response)

    def _respond(self, environ: WSGIEnvironment, request_id: str) -> Response:
        request = Request(environ)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _error(413, "Request Too Long")
        raw_path, raw_query = _raw_target(environ)
        method = request.method.upper()
        local = self._local_routes.get((method, raw_path))
        if local is not None:
            return _json(200, local())
        matched = self._match(raw_path)
        if matched is None:
            return self._gateway_answer(None, "MISSING_AUTHENTICATION_TOKEN", request_id)
        resource, path_parameters, path = matched
        route = resource.routes.get(method) or resource.routes.get("ANY")
        if route is None:
            return self._gateway_answer(None, "MISSING_AUTHENTICATION_TOKEN", request_id)
        api_key = _header(environ, "x-api-key")
        if route.api_key_required and self.api_key is not None and api_key != self.api_key:
            return self._gateway_answer(route, "INVALID_API_KEY", request_id)
        body = _read_body(request)
        if body is None:
            return self._gateway_answer(route, "REQUEST_TOO_LARGE", request_id)
        event = self._event(environ, route, method, path, raw_query, path_parameters, body, api_key, request_id)
        spec = self.functions[route.function_id]
        if route.authorizer is not None:
            refused = self._authorize(route, route.authorizer, event, request_id)
            if refused is not None:
                self._log_access(route, event, refused.status_code, request_id)
                return refused
        try:
            result = self.invoke(route.function_id, event, LambdaContext.for_function(spec, self._region, request_id))
            response = _proxy_response(result)
        except Exception:  # the handler's failure is the client's 502, and the developer's traceback
            print(f"local_stack: {route.function_id} failed on {method} {path}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            response = self._gateway_answer(route, "DEFAULT_5XX", request_id, status=502)
        self._log_access(route, event, response.status_code, request_id)
        return response

    # -- the authorizer, API Gateway's own answers, the access log

    def _authorize(
        self, route: Route, authorizer: Authorizer, event: dict[str, Any], request_id: str
    ) -> Response | None:
        """Call the route's Lambda authorizer as API Gateway does; an answer when it refuses, else None (and the
        event's `requestContext.authorizer` set from its answer)."""
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        if any(not headers.get(header.lower()) for header in authorizer.identity_headers):
            return self._gateway_answer(route, "UNAUTHORIZED", request_id)  # identity missing: not even called
        context = event["requestContext"]
        method_arn = (
            f"arn:aws:execute-api:{self._region}:{ACCOUNT_ID}:{API_ID}/{context['stage']}/{event['httpMethod']}"
            f"{event['path']}"
        )
        if authorizer.payload_type == "TOKEN":
            header = authorizer.identity_headers[0] if authorizer.identity_headers else "Authorization"
            request: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": headers.get(header.lower()),
                "methodArn": method_arn,
            }
        else:
            request = {key: event[key] for key in _AUTHORIZER_EVENT_KEYS} | {"type": "REQUEST", "methodArn": method_arn}
        spec = self.functions[authorizer.function_id]
        try:
            answer = self.invoke(
                authorizer.function_id, request, LambdaContext.for_function(spec, self._region, request_id)
            )
        except Exception as error:
            if str(error) == "Unauthorized":
                return self._gateway_answer(route, "UNAUTHORIZED", request_id)
            print(f"local_stack: the authorizer {authorizer.function_id} failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            return self._gateway_answer(route, "AUTHORIZER_FAILURE", request_id, status=500)
        if not isinstance(answer, Mapping) or not _allows(answer.get("policyDocument"), method_arn):
            return self._gateway_answer(route, "ACCESS_DENIED", request_id)
        authorizer_context = {
            str(name): value for name, value in (answer.get("context") or {}).items() if _scalar(value)
        }
        context["authorizer"] = authorizer_context | {"principalId": str(answer.get("principalId") or "")}
        return None

    def _gateway_answer(
        self, route: Route | None, response_type: str, request_id: str, *, status: int | None = None
    ) -> Response:
        """API Gateway's own answer of `response_type`, as the API's `GatewayResponses` shape it (else its
        default body `{"message": ...}` and status)."""
        default_status, message = _GATEWAY_DEFAULTS[response_type]
        api_ids = [route.api_id] if route is not None else sorted(self._gateway_responses)
        declared: GatewayResponse | None = None
        for api_id in api_ids:
            responses = self._gateway_responses.get(api_id) or {}
            family = "DEFAULT_5XX" if (status or default_status) >= 500 else "DEFAULT_4XX"
            declared = responses.get(response_type) or responses.get(family)
            if declared is not None:
                break
        if declared is None or declared.body is None:
            return _error(status or default_status, message, _GATEWAY_ERROR_TYPES.get(response_type))
        body = declared.body.replace("$context.requestId", request_id).replace("$context.error.messageString", message)
        answer = Response(body, status=_status_line(declared.status or status or default_status))
        answer.headers["Content-Type"] = "application/json"
        for name, value in declared.headers.items():
            answer.headers[name] = value
        return answer

    def _log_access(self, route: Route, event: dict[str, Any], status: int, request_id: str) -> None:
        line_format = self._access_log_formats.get(route.api_id)
        if not line_format:
            return
        context = event["requestContext"]
        authorizer = context.get("authorizer") or {}
        values = {
            "$context.requestId": request_id,
            "$context.requestTime": context.get("requestTime", ""),
            "$context.httpMethod": event.get("httpMethod", ""),
            "$context.resourcePath": route.path,
            "$context.status": str(status),
            "$context.identity.sourceIp": str((context.get("identity") or {}).get("sourceIp", "")),
        }
        line = line_format
        for name in sorted(_CONTEXT_VARIABLE.findall(line_format), key=len, reverse=True):
            if name.startswith("$context.authorizer."):
                value = str(authorizer.get(name.removeprefix("$context.authorizer."), "-"))
            else:
                value = values.get(name, "-")
            line = line.replace(name, value)
        with self._access_log_lock:
            self.access_log.append(line)
            destination = os.environ.get("LOCAL_ACCESS_LOG")
            if destination:
                with open(destination, "a", encoding="utf-8") as log_file:
                    log_file.write(line + "\n")

    def _match(self, raw_path: str) -> tuple[_Resource, dict[str, str], str] | None:
        """The most specific resource for the path, its path parameters and the path without the stage."""
        segments = _split_path(raw_path)
        candidates = [(segments, raw_path)]
        for stage in self._stages():
            if segments[:1] == (stage,):
                candidates.append((segments[1:], "/" + "/".join(segments[1:])))
        for candidate_segments, path in candidates:
            for resource in self._resources:
                parameters = resource.match(candidate_segments)
                if parameters is not None:
                    return resource, parameters, path
        return None

    def _stages(self) -> list[str]:
        return [self.stage] if self.stage else sorted({route.stage for route in self.routes})

    def _event(
        self,
        environ: WSGIEnvironment,
        route: Route,
        method: str,
        path: str,
        raw_query: str,
        path_parameters: dict[str, str],
        body: bytes,
        api_key: str | None,
        request_id: str,
    ) -> dict[str, Any]:
        headers = _request_headers(environ)
        single_headers = {name: values[-1] for name, values in headers.items()}
        query = parse_qsl(raw_query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        stage = self.stage or route.stage
        host_header = _find_header_name(headers, "host")
        host = single_headers[host_header] if host_header else str(environ.get("SERVER_NAME", "localhost"))
        user_agent_header = _find_header_name(headers, "user-agent")
        now = datetime.now(UTC)
        identity: dict[str, Any] = {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": single_headers[user_agent_header] if user_agent_header else None,
            "user": None,
        }
        if api_key is not None:
            identity["apiKey"] = api_key
            identity["apiKeyId"] = "local-" + hashlib.sha256(api_key.encode()).hexdigest()[:10]
        body_text, is_base64 = _event_body(body)
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": single_headers or None,
            "multiValueHeaders": headers or None,
            "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": hashlib.sha256(route.path.encode()).hexdigest()[:6],
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": _apigw_id(),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{stage}{path}" if path != "/" else f"/{stage}/",
                "accountId": ACCOUNT_ID,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": stage,
                "domainPrefix": host.split(":", 1)[0].split(".", 1)[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": identity,
                "domainName": host,
                "apiId": API_ID,
            },
            "body": body_text,
            "isBase64Encoded": is_base64,
        }


# ----------------------------------------------------------------------------------------------- request


def _raw_target(environ: WSGIEnvironment) -> tuple[str, str]:
    """The path as the client sent it (percent-encoding kept, as API Gateway passes it) and the raw query."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        text = raw_uri.encode("latin-1").decode("utf-8", "replace")
        if text.startswith(("http://", "https://")):
            parts = urlsplit(text)
            return parts.path or "/", parts.query
        path, _, query = text.partition("?")
        return path or "/", query
    path_info = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
    query = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")
    return quote(path_info, safe="/:@!$&'()*+,;=-._~") or "/", query


def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over the limit (also for chunked bodies, which have no Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := request.stream.read(min(64 * 1024, MAX_BODY_BYTES + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
    return b"".join(chunks)


def _request_headers(environ: WSGIEnvironment) -> dict[str, list[str]]:
    """Header name (as sent) -> values, plus the X-Forwarded-* and trace headers API Gateway adds."""
    raw = environ.get(RAW_HEADERS_KEY)
    pairs: list[tuple[str, str]] = list(raw) if raw is not None else list(EnvironHeaders(environ).items())
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        headers.setdefault(name, []).append(value)
    client_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
    forwarded_for = _find_header_name(headers, "x-forwarded-for")
    if forwarded_for is None:
        headers["X-Forwarded-For"] = [client_ip]
    else:
        headers[forwarded_for] = [f"{headers[forwarded_for][-1]}, {client_ip}"]
    for name, value in (
        ("X-Forwarded-Port", str(environ.get("SERVER_PORT", "80"))),
        ("X-Forwarded-Proto", str(environ.get("wsgi.url_scheme", "http"))),
        ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"),
    ):
        if _find_header_name(headers, name) is None:
            headers[name] = [value]
    return headers


def _find_header_name(headers: Mapping[str, Any], name: str) -> str | None:
    lowered = name.lower()
    return next((key for key in headers if key.lower() == lowered), None)


def _header(environ: WSGIEnvironment, name: str) -> str | None:
    value = EnvironHeaders(environ).get(name)
    return value if value is None else str(value)


def _event_body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


# ----------------------------------------------------------------------------------------------- response


def _proxy_response(result: Any) -> Response:
    """The handler's Lambda proxy answer as an HTTP response (a malformed answer is API Gateway's 502)."""
    try:
        return _parse_proxy_response(result)
    except MalformedResponseError as error:
        print(f"local_stack: malformed Lambda proxy response ({error}): {result!r}"[:2000], file=sys.stderr)
        return _error(502, "Internal server error", "InternalServerErrorException")


def _parse_proxy_response(result: Any) -> Response:
    if not isinstance(result, Mapping) or "statusCode" not in result:
        raise MalformedResponseError("expected an object with statusCode")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponseError("statusCode is not an integer") from None
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponseError("body must be a string")
    payload = b""
    if body:
        try:
            payload = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
        except binascii.Error:
            raise MalformedResponseError("isBase64Encoded is true but body is not base64") from None
    headers = _response_headers(result.get("headers") or {}, result.get("multiValueHeaders") or {})
    return Response(payload, status=_status_line(status), headers=headers)


def _response_headers(single: Mapping[str, Any], multi: Mapping[str, Any]) -> list[tuple[str, str]]:
    """multiValueHeaders, plus `headers` for names it lacks (API Gateway's merge); JSON unless told otherwise."""
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedResponseError("headers and multiValueHeaders must be objects")
    merged: dict[str, list[str]] = {
        str(name): [_header_text(value) for value in values] for name, values in multi.items()
    }
    lowered = {name.lower() for name in merged}
    for name, value in single.items():
        if str(name).lower() not in lowered:
            merged[str(name)] = [_header_text(value)]
    if "content-type" not in {name.lower() for name in merged}:
        merged["Content-Type"] = ["application/json"]
    return [(name, value) for name, values in merged.items() if name.lower() not in _HOP_BY_HOP for value in values]


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        raise MalformedResponseError(f"header value {value!r} is not a scalar")
    return str(value)


def _error(status: int, message: str, error_type: str | None = None) -> Response:
    response = Response(json.dumps({"message": message}, separators=(",", ":")), status=_status_line(status))
    response.headers["Content-Type"] = "application/json"
    if error_type:
        response.headers["x-amzn-ErrorType"] = error_type
    return response


def _json(status: int, document: Any) -> Response:
    response = Response(json.dumps(document, ensure_ascii=False), status=_status_line(status))
    response.headers["Content-Type"] = "application/json"
    return response


def _status_line(status: int) -> str:
    """`403 Forbidden` as API Gateway writes it (werkzeug would write `403 FORBIDDEN`)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


# API Gateway's default status and message for the response types the front answers by itself.
_GATEWAY_DEFAULTS: dict[str, tuple[int, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "DEFAULT_5XX": (502, "Internal server error"),
}
_GATEWAY_ERROR_TYPES = {
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",  # an error type # nosec B105
    "INVALID_API_KEY": "ForbiddenException",
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "AUTHORIZER_FAILURE": "AuthorizerFailureException",
    "DEFAULT_5XX": "InternalServerErrorException",
}
_AUTHORIZER_EVENT_KEYS = (
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
)
_CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]+[A-Za-z0-9_]")


def _allows(policy: Any, method_arn: str) -> bool:
    """Whether an authorizer's IAM policy allows `execute-api:Invoke` on `method_arn` (and denies nothing of it)."""
    if not isinstance(policy, Mapping):
        return False
    statements = policy.get("Statement") or []
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, Mapping):
            continue
        actions = statement.get("Action")
        resources = statement.get("Resource")
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if not any(action in ("execute-api:Invoke", "execute-api:*", "*") for action in actions):
            continue
        if not any(isinstance(resource, str) and fnmatch.fnmatchcase(method_arn, resource) for resource in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _scalar(value: Any) -> bool:
    """API Gateway passes only strings, numbers and booleans of an authorizer's context."""
    return isinstance(value, str | int | float | bool)


def _apigw_id() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode("ascii").replace("+", "A").replace("/", "B")[:16]


# ----------------------------------------------------------------------------------------------- server


class _FrontRequestHandler(WSGIRequestHandler):
    """Keeps the request's header names as sent (WSGI would title-case them), as API Gateway passes them."""

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = list(self.headers.items())
        return environ


class _QuietFrontRequestHandler(_FrontRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Embedded fronts (tests) keep the terminal for their host's output."""


class FrontServer(BackgroundServer):
    """Serve a `Front` on `host:port` (0 = an ephemeral port) from a background thread until `stop()`.

    `front` may be assigned after `start()` (the local stack needs the URL to configure the front); until
    then requests get 503.
    """

    thread_name = "local-stack-front"
    request_handler = _FrontRequestHandler
    quiet_request_handler = _QuietFrontRequestHandler

    def __init__(
        self, front: Front | None, *, host: str = "127.0.0.1", port: int = 0, log_requests: bool = False
    ) -> None:
        self.front = front
        super().__init__(self._dispatch, host=host, port=port, log_requests=log_requests)

    def _dispatch(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        front = self.front
        if front is None:
            return _error(503, "Service Unavailable")(environ, start_response)
        return front.wsgi_app(environ, start_response)
