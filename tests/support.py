"""Helpers shared by the test suites: sample events, handler loading, a fake Lambda context."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from local_stack import iam
from local_stack.template import functions, load_template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """events/<name>.json (the same files `sam local invoke -e` takes), with top-level keys overridden."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    for key, value in overrides.items():
        event[key] = copy.deepcopy(value)
    return event


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    return event


@cache
def load_handler(function: str) -> ModuleType:
    """functions/<function>/app.py, imported under a unique module name (every function's module is `app`)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class _Policies:
    """Whether `invoke` and `as_function` hold the handlers to their template policies, and what they refused."""

    held: bool = False
    denials: iam.Denials = field(default_factory=iam.Denials)


POLICIES = _Policies()


@cache
def template_policies(region: str) -> dict[str, iam.Policy]:
    return iam.policies(load_template(ROOT / "template.yaml"), None, region)


@cache
def function_id(function: str) -> str:
    """functions/<function>/ -> the logical id of the template's function with that CodeUri."""
    for logical_id, spec in functions(ROOT / "template.yaml").items():
        if spec.code_uri is not None and spec.code_uri.name == function:
            return logical_id
    raise KeyError(f"no function with CodeUri functions/{function}/ in template.yaml")


@contextlib.contextmanager
def as_function(logical_id: str) -> Iterator[None]:
    """Run the block as the template's function `logical_id`: each AWS call is checked against its role's policy
    (local_stack/iam.py) and refused as AWS would; refusals are recorded in `POLICIES.denials`."""
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    with iam.acting_as(template_policies(region)[logical_id], POLICIES.denials):
        yield


@dataclass
class FakeContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def invoke(function: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Call a handler in-process; returns (statusCode, parsed JSON body). Where the suite holds the functions to
    their policies (`hold_to_policies`), its AWS calls are checked against its role in template.yaml."""
    with as_function(function_id(function)) if POLICIES.held else contextlib.nullcontext():
        answer = load_handler(function).lambda_handler(event, FakeContext())
    body = json.loads(answer["body"]) if answer.get("body") else {}
    return answer["statusCode"], body


def reset_gateway_caches() -> None:
    """Forget every per-process cache of the gateway (settings, table connections, the Aircall client, cached
    secrets), as a new Lambda instance would: for suites that point the gateway at a new endpoint."""
    from aws_lambda_powertools.utilities import parameters

    from aircall_sms.domain import timeutil
    from aircall_sms.settings import get_settings
    from aircall_sms.store import (
        base,
        callbacks,
        client_keys,
        contacts,
        ledger,
        media_objects,
        messages,
        numbers,
        pools,
        queue,
    )
    from aircall_sms.use_cases import authorize, dispatch, services, sign_in

    get_settings.cache_clear()
    timeutil.reset_clock()
    models = (
        messages.MessageRecord,
        numbers.NumberRecord,
        numbers.WebhookRecord,
        ledger.LedgerItem,
        contacts.ContactItem,
        callbacks.CallbackRecord,
        client_keys.ClientKeyRecord,
    )
    for model in models:
        model._connection = None
    base.forget_connection()
    media_objects.forget()
    numbers.forget()
    pools.forget()
    queue.forget_client()
    authorize.forget()
    sign_in.console_client_id.cache_clear()
    dispatch.forget_key_checks()
    services._client = None
    services._event_bridge = None
    parameters.clear_caches()


def callback_token(aircall_url: str, api_id: str, api_token: str, number_id: int) -> str:
    """The callback token Aircall (the sandbox at `aircall_url`) gave a configured number."""
    import httpx

    answer = httpx.get(
        f"{aircall_url}/v1/numbers/{number_id}/messages/configuration", auth=(api_id, api_token), timeout=10
    )
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token
