"""`SandboxServer`: the sandbox over real HTTP on a background thread (werkzeug's threaded server)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aircall_sandbox.app import Sandbox
from aircall_sandbox.config import SandboxConfig
from aircall_sandbox.http_server import BackgroundServer


class SandboxServer(BackgroundServer):
    """Serve a `Sandbox` on `host:port` (0 = an ephemeral port) until `stop()`; also a context manager.

    `sandbox` is the app (its state, clock and callbacks); `url` is known once started.
    """

    thread_name = "aircall-sandbox-http"

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
    ) -> None:
        super().__init__(host=host, port=port, log_requests=log_requests)
        self.sandbox = Sandbox(config)

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    def wsgi(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        return self.sandbox(environ, start_response)

    def stop(self) -> None:
        super().stop()
        self.sandbox.close()
