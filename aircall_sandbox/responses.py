"""JSON responses, and the base URL links are built from."""

from __future__ import annotations

import json
from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

from aircall_sandbox.config import SandboxConfig


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=utf-8",
    )


def empty_response(status: int = 204) -> Response:
    return Response(status=status)


def base_url(config: SandboxConfig, request: Request) -> str:
    """`LOCAL_AIRCALL_PUBLIC_URL`, else the URL this request came in on (http://127.0.0.1:<port> locally)."""
    return (config.public_url or request.host_url).rstrip("/")
