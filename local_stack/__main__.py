"""`python -m local_stack`: run the local stack in the foreground until Ctrl-C or SIGTERM (exit code 0)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

import httpx

from local_stack.stack import LocalStack

HEALTH_TIMEOUT_SECONDS = 30.0


def main() -> int:
    stop_requested = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    # Installed before anything starts, so a signal during start-up still ends in an orderly stop.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    # Schedules run here (deferred messages go out, the rollover runs); the test suites start stacks without.
    stack = LocalStack(log_requests=True, run_schedules=True)
    try:
        stack.start()
    except Exception as error:
        print(f"local stack: could not start: {error}", file=sys.stderr)
        return 1
    try:
        _print_banner(stack)
        _report_health(stack, stop_requested)
        while not stop_requested.wait(0.5):
            pass
        print("\nStopping the local stack ...", flush=True)
    finally:
        stack.stop()
    print("Stopped.", flush=True)
    return 0


def _print_banner(stack: LocalStack) -> None:
    config = stack.sandbox_config
    routes = stack.front.routes if stack.front else []
    buses = stack.events.bus_names.values() if stack.events else []
    pollers = [f"{p.source.table_name} -> {p.name}" for p in stack.streams.pollers] if stack.streams else []
    lines = [
        "Aircall SMS gateway: local stack (no AWS, no Docker)",
        f"  API              {stack.api_url}   (admin key: x-api-key: {stack.api_key}, or Authorization: Bearer)",
        f"  Aircall sandbox  {stack.aircall_url}   (controls under /_sandbox/, e.g. /_sandbox/health)",
        f"  Aircall credentials: api_id={config.api_id} api_token={config.api_token}"
        + (f"   (secret {stack.secret_name!r})" if stack.secret_name else ""),
        f"  Console          {stack.console_url}   (sign in at {stack.sign_in_url} as "
        + ", ".join(f"{email} ({'/'.join(person.groups)})" for email, person in stack.console_people.items())
        + f", password {stack.console_password})",
        f"  DynamoDB (moto)  {stack.dynamodb_url}   tables: {', '.join(stack.tables.values()) or 'none'}",
        f"  Event buses      {', '.join(buses) or 'none'}   (published events: GET {stack.api_url}/_local/events)",
        f"  Stream pollers   {', '.join(pollers) or 'none'}",
        f"  Schedules        {', '.join(stack.schedules.names) if stack.schedules else 'none'}",
        "  Routes:",
        *(
            f"    {route.method:<6} {route.path:<28} -> {route.function_id}"
            + ("" if route.api_key_required or route.authorizer is not None else "   (no key)")
            for route in routes
        ),
        "",
        "Try:",
        f"  curl -s {stack.api_url}/health",
        f"  curl -s -X PUT {stack.api_url}/numbers/{_sample_number_id(stack)} -H 'x-api-key: {stack.api_key}' "
        '-H \'content-type: application/json\' -d \'{"mode": "proxy", "registration": "approved"}\'',
        f"  curl -s -X POST {stack.api_url}/messages -H 'x-api-key: {stack.api_key}' "
        f"-H 'content-type: application/json' "
        f'-d \'{{"from": {_sample_number_id(stack)}, "to": "+14155550123", "text": "Hello from the local stack"}}\'',
        f"  curl -s -X POST {stack.api_url}/api-keys -H 'x-api-key: {stack.api_key}' "
        '-H \'content-type: application/json\' -d \'{"name": "crm", "scopes": ["send", "read"]}\'   (a client key)',
        f"  curl -s {stack.api_url}/_local/events   (what the gateway published on its event bus)",
        "",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)


def _sample_number_id(stack: LocalStack) -> str:
    """A US/CA number of the sandbox (sending from it to a US number is domestic), for the curl example."""
    try:
        numbers = httpx.get(f"{stack.aircall_url}/_sandbox/numbers", timeout=2.0).json()["numbers"]
        return str(next(number["id"] for number in numbers if number.get("kind") == "us_ca"))
    except (httpx.HTTPError, ValueError, KeyError, TypeError, StopIteration):
        return "<number_id>"


def _report_health(stack: LocalStack, stop_requested: threading.Event) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    status: int | str = "no answer"
    while not stop_requested.is_set() and time.monotonic() < deadline:
        try:
            status = httpx.get(f"{stack.api_url}/health", timeout=5.0).status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
        if status == 200:
            print(f"Ready: GET {stack.api_url}/health answered 200.", flush=True)
            return
        stop_requested.wait(0.25)
    if not stop_requested.is_set():
        print(f"Not ready: GET /health answered {status} (see above); the stack keeps running.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
