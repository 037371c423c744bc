"""`SandboxServer`: the sandbox over real HTTP on a background thread (werkzeug's threaded server)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from aircall_sandbox.app import Sandbox
from aircall_sandbox.config import SandboxConfig

# How often the serving loop checks for stop(): short, so a test suite can start and stop many sandboxes.
_SHUTDOWN_POLL_S = 0.02


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Embedded sandboxes (tests, the local stack) keep the terminal for their host's output."""


class SandboxServer:
    """Serve a `Sandbox` on `host:port` (0 = an ephemeral port) until `stop()`; also a context manager.

    `sandbox` is the app (its state, clock and callbacks); `url` is known once started.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
    ) -> None:
        self.sandbox = Sandbox(config)
        self._host = host
        self._port = port
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox server is not started")
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104 - display only
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        handler = WSGIRequestHandler if self._log_requests else _QuietRequestHandler
        self._server = make_server(self._host, self._port, self.sandbox, threaded=True, request_handler=handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name="aircall-sandbox-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server stops (for running in the foreground)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self.sandbox.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
