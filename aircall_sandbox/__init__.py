"""Aircall sandbox: a local stand-in for Aircall's messaging API (numbers, proxy configuration, sends,
company request budget, per-number segment limits, callbacks) with `/_sandbox/*` controls for tests.

    with SandboxServer(SandboxConfig(requests_per_minute=5)) as server:
        httpx.get(f"{server.url}/v1/ping", auth=("sandbox-api-id", "sandbox-api-token"))

`python -m aircall_sandbox --port 3001` runs it in the foreground. See README.md.
"""

from aircall_sandbox.app import Sandbox, create_app
from aircall_sandbox.config import SandboxConfig, SegmentLimits, WindowLimits
from aircall_sandbox.server import SandboxServer

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "SegmentLimits", "WindowLimits", "create_app"]
