"""`SandboxServer`: the sandbox over real HTTP on a background thread (werkzeug's threaded server)."""

from __future__ import annotations

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
        self.sandbox = Sandbox(config)
        super().__init__(self.sandbox, host=host, port=port, log_requests=log_requests)

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    def stop(self) -> None:
        super().stop()
        self.sandbox.close()
