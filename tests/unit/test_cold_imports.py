"""What each handler's cold import loads (counts, not times; the times are `make bench`'s): the libraries a function
needs only on some requests are loaded on first use, so its cold start does not pay for them. httpx only when an
Aircall client is made, pydantic only where a route validates or a deferred message is sent, Powertools' event
handler only in the API functions, and no X-Ray SDK anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT

WATCHED = ("httpx", "pydantic", "aws_lambda_powertools.event_handler", "aws_xray_sdk", "phonenumbers", "asyncio")
# What each handler may load at import, of the watched modules.
ALLOWED = {
    "send": {"pydantic", "aws_lambda_powertools.event_handler", "asyncio"},
    "manage": {"pydantic", "aws_lambda_powertools.event_handler", "asyncio"},
    "inbound": set(),
    "events": set(),
    "usage": set(),
    "quota_reset": set(),
    "authorizer": set(),
    "health": set(),
    "console": set(),
    "media": set(),
}
_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps([name for name in sys.argv[2:] if name in sys.modules]))
"""


def loaded_at_import(function: str) -> set[str]:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{ROOT / 'functions' / function}{os.pathsep}{ROOT / 'layers' / 'shared'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "ColdImports",
    }
    answer = subprocess.run(
        [sys.executable, "-s", "-c", _PROBE, str(ROOT / "functions" / function / "app.py"), *WATCHED],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(answer.stdout.strip().splitlines()[-1]))


def test_every_handler_is_watched():
    assert set(ALLOWED) == {path.parent.name for path in (ROOT / "functions").glob("*/app.py")}


@pytest.mark.parametrize("function", sorted(ALLOWED))
def test_a_handlers_cold_import_loads_only_what_every_request_needs(function):
    assert loaded_at_import(function) - ALLOWED[function] == set()


def test_the_probe_sees_what_a_handler_loads():
    assert "aws_lambda_powertools.event_handler" in loaded_at_import("send")
