"""`BackgroundServer`: a WSGI app served over HTTP from a daemon thread (werkzeug's threaded server), for the
sandbox and the local stack's front. The socket is bound here, not by werkzeug, so a busy port raises OSError
instead of werkzeug's sys.exit(1)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# How often the serving loop checks for stop(): short, so a test suite can start and stop many servers.
_SHUTDOWN_POLL_S = 0.02


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Embedded servers (tests, the local stack) keep the terminal for their host's output."""


class BackgroundServer:
    """Serve the WSGI `app` on `host:port` (0 = an ephemeral port) until `stop()`; also a context manager."""

    thread_name = "background-http"
    request_handler: type[WSGIRequestHandler] = WSGIRequestHandler
    quiet_request_handler: type[WSGIRequestHandler] = QuietRequestHandler

    def __init__(
        self,
        app: Callable[[dict[str, Any], Any], Iterable[bytes]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} server is not started")
        return self._server.port

    @property
    def url(self) -> str:
        wildcard = "0.0.0.0"  # noqa: S104 - compared, to display a reachable address # nosec B104
        host = "127.0.0.1" if self._host in (wildcard, "") else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        handler = self.request_handler if self._log_requests else self.quiet_request_handler
        with socket.create_server((self._host, self._port)) as listening:
            self._server = make_server(
                self._host,
                self._port,
                self._app,
                threaded=True,
                request_handler=handler,
                fd=listening.fileno(),
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name=self.thread_name,
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
