"""Aircall sandbox: a local stand-in for Aircall's messaging API (numbers, proxy configuration, sends,
company request budget, per-number segment limits, callbacks) with `/_sandbox/*` controls for tests.

    with SandboxServer(SandboxConfig(requests_per_minute=5)) as server:
        httpx.get(f"{server.url}/v1/ping", auth=("sandbox-api-id", "sandbox-api-token"))

`python -m aircall_sandbox --port 3001` runs it in the foreground. See README.md.
"""

import importlib.util
import sys
from pathlib import Path

# The sandbox counts segments with the gateway's own library (the shared layer's `aircall_sms`), which lives
# beside it in this repository: make it importable when the layer is not on the path already.
if importlib.util.find_spec("aircall_sms") is None:
    sys.path.append(str(Path(__file__).resolve().parent.parent / "layers" / "shared"))

from aircall_sandbox.app import Sandbox, create_app
from aircall_sandbox.config import SandboxConfig, SegmentLimits, TollFreeLimits, WindowLimits
from aircall_sandbox.server import SandboxServer

__all__ = [
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "SegmentLimits",
    "TollFreeLimits",
    "WindowLimits",
    "create_app",
]
