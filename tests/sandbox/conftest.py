"""Fixtures for the Aircall sandbox suite: sandboxes on ephemeral ports, httpx clients, a callback receiver.

Every test talks to the sandbox over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from aircall_sandbox import SandboxConfig, SandboxServer

API_ID = "sandbox-api-id"
API_TOKEN = "sandbox-api-token"
# Fast status steps keep the callback tests quick.
FAST_CALLBACKS_MS = 10


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No request lines in the test output."""


class CallbackReceiver:
    """A tiny HTTP endpoint that records every body posted to it (parsed and raw) and answers with scripted
    statuses."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.scripted_statuses: list[int] = []  # answered in order, then 200
        self.delay_s = 0.0
        self._condition = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/callbacks"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        with self._condition:
            status = self.scripted_statuses.pop(0) if self.scripted_statuses else 200
            self.received.append(
                {
                    "json": request.get_json(silent=True),
                    "body": request.get_data(as_text=True),
                    "headers": dict(request.headers),
                }
            )
            self._condition.notify_all()
        time.sleep(self.delay_s)
        return Response("ok", status=status)(environ, start_response)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """The first `count` JSON bodies received, waiting for them if needed."""
        with self._condition:
            arrived = self._condition.wait_for(lambda: len(self.received) >= count, timeout=timeout_s)
            assert arrived, f"expected {count} callbacks, got {len(self.received)}"
            return [item["json"] for item in self.received[:count]]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class RunningSandbox:
    """A started sandbox with an authenticated `/v1` client (Basic auth) and a `/_sandbox` control client."""

    server: SandboxServer
    api: httpx.Client
    control: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.api.close()
        self.control.close()
        self.server.stop()


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """One CA bundle load for the whole suite (creating an httpx client otherwise loads it each time)."""
    return ssl.create_default_context()


@pytest.fixture
def start_sandbox(tls_context: ssl.SSLContext) -> Iterator[Callable[..., RunningSandbox]]:
    """Start a sandbox with `SandboxConfig` overrides (status steps every 10 ms unless overridden). The callback
    receiver listens on plain HTTP on 127.0.0.1, so the loopback allowance is on unless a test turns it off."""
    started: list[RunningSandbox] = []

    def start(**overrides: Any) -> RunningSandbox:
        settings: dict[str, Any] = {
            "callback_delay_ms": FAST_CALLBACKS_MS,
            "allow_http_loopback_callbacks": True,
        } | overrides
        server = SandboxServer(SandboxConfig(**settings)).start()
        running = RunningSandbox(
            server=server,
            api=httpx.Client(base_url=server.url, auth=(API_ID, API_TOKEN), timeout=5.0, verify=tls_context),
            control=httpx.Client(base_url=server.url, timeout=15.0, verify=tls_context),
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start_sandbox()


@pytest.fixture
def api(sandbox: RunningSandbox) -> httpx.Client:
    return sandbox.api


@pytest.fixture
def control(sandbox: RunningSandbox) -> httpx.Client:
    return sandbox.control


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    callback_receiver = CallbackReceiver()
    yield callback_receiver
    callback_receiver.stop()
