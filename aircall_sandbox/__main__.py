"""`python -m aircall_sandbox --port 3001 [--host 127.0.0.1] [--numbers-file f.json]`: run in the foreground.

Settings come from the `LOCAL_AIRCALL_*` environment variables (README); flags override the numbers file.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType

from aircall_sandbox.config import ConfigError, SandboxConfig
from aircall_sandbox.numbers import NumberDefinitionError
from aircall_sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aircall_sandbox", description="Run the Aircall sandbox.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3001, help="port to listen on (default 3001; 0 = any free port)")
    parser.add_argument("--numbers-file", type=Path, help="JSON file of extra numbers (same shape as numbers.json)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    arguments = parser.parse_args(argv)
    try:
        config = SandboxConfig.from_env()
        if arguments.numbers_file is not None:
            config = replace(config, numbers_file=arguments.numbers_file)
        server = SandboxServer(config, host=arguments.host, port=arguments.port, log_requests=not arguments.quiet)
    except (ConfigError, NumberDefinitionError) as exc:
        print(f"aircall sandbox: {exc}", file=sys.stderr)
        return 2

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Before the line that says it is up, and with that line inside the `try`: whoever reads it may send SIGTERM at
    # once, and the KeyboardInterrupt it becomes must end in a clean stop wherever it lands.
    signal.signal(signal.SIGTERM, stop)
    try:
        server.start()
        print(f"Aircall sandbox on {server.url} ({_credentials_note(config)})", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _credentials_note(config: SandboxConfig) -> str:
    # Only the documented defaults are printed; credentials from the environment stay out of the terminal.
    if config.uses_default_credentials:
        return f"api_id={config.api_id}, api_token={config.api_token}"
    return "credentials from LOCAL_AIRCALL_API_ID / LOCAL_AIRCALL_API_TOKEN / LOCAL_AIRCALL_ACCESS_TOKEN"


if __name__ == "__main__":
    sys.exit(main())
