"""Injected faults: the next n matching `/v1` requests are slow and/or fail.

mode "before": the request is not performed; the fault's status is answered (after the latency).
mode "after":  the request is performed (a send really is sent), then the latency and the fault's status
               are answered instead of the real response: the outcome-unknown case.
A fault without a status only adds latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aircall_sandbox.errors import AircallError, ControlError

FaultMode = Literal["before", "after"]

_KEYS = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
    429: "TooManyRequests",
}


@dataclass
class Fault:
    status: int | None
    remaining: int
    latency_ms: int
    path_contains: str | None
    method: str | None
    mode: FaultMode

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )

    def error(self) -> AircallError | None:
        if self.status is None:
            return None
        return AircallError(self.status, _KEYS.get(self.status, "SandboxFault"), "Injected by the Aircall sandbox")

    def summary(self) -> dict[str, Any]:
        """What the request log notes about a fault that hit a request."""
        return {"mode": self.mode, "status": self.status, "latency_ms": self.latency_ms}

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "remaining": self.remaining,
            "latency_ms": self.latency_ms,
            "path_contains": self.path_contains,
            "method": self.method,
            "mode": self.mode,
        }


def parse_fault(document: dict[str, Any]) -> Fault:
    status = document.get("status")
    count = document.get("count", 1)
    latency_ms = document.get("latency_ms", 0)
    path_contains = document.get("path_contains")
    method = document.get("method")
    mode = document.get("mode", "before")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise ControlError("'status' must be an HTTP error status (400-599) or absent")
    if not isinstance(count, int) or count < 1:
        raise ControlError("'count' must be a positive integer")
    if not isinstance(latency_ms, int) or latency_ms < 0:
        raise ControlError("'latency_ms' must be a non-negative integer")
    if status is None and latency_ms == 0:
        raise ControlError("a fault needs a 'status', a 'latency_ms', or both")
    if path_contains is not None and not isinstance(path_contains, str):
        raise ControlError("'path_contains' must be a string")
    if method is not None and not isinstance(method, str):
        raise ControlError("'method' must be a string such as 'POST'")
    if mode not in ("before", "after"):
        raise ControlError("'mode' must be 'before' or 'after'")
    return Fault(
        status=status,
        remaining=count,
        latency_ms=latency_ms,
        path_contains=path_contains,
        method=method.upper() if method else None,
        mode="before" if mode == "before" else "after",
    )
