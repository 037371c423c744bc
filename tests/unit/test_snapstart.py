"""SnapStart: the template option both ways (off by default; on, every function's published versions), the alias
every event source invokes, and the runtime hooks (registered only in SnapStart's initialization; after a restore,
random re-seeded and every connection and credential rebuilt)."""

from __future__ import annotations

import json
import random
import re
import sys
import types
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

from aircall_sms.store import base
from aircall_sms.use_cases import services, snapshot
from local_stack.template import FUNCTION_TYPE, Resolver, load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
GLOBALS = TEMPLATE.globals_for("Function")


@pytest.mark.parametrize(("value", "applied"), [(None, "None"), ("false", "None"), ("true", "PublishedVersions")])
def test_snapstart_is_the_parameters_choice_and_off_by_default(value, applied):
    assert TEMPLATE.parameters["SnapStart"]["Default"] == "false"
    resolver = Resolver(TEMPLATE, {} if value is None else {"SnapStart": value})
    assert resolver.resolve(GLOBALS["SnapStart"]) == {"ApplyOn": applied}
    for spec in TEMPLATE.resources_of_type(FUNCTION_TYPE).values():
        assert "SnapStart" not in spec["Properties"]  # no function overrides the parameter


def _translated() -> dict[str, Any]:
    """The template as CloudFormation gets it from SAM's transform (no AWS call: the managed policies given)."""
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]
    from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-untyped]

    class Policies:
        def load(self) -> dict[str, str]:
            names = ("AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess", "AWSLambdaBasicExecutionRole")
            return {name: f"arn:aws:iam::aws:policy/{name}" for name in names}

    text = re.sub(r"(CodeUri|ContentUri): [^\n]+", r"\1: s3://bucket/key", (ROOT / "template.yaml").read_text())
    return transform(yaml_parse(text), {"AWS::Region": "us-east-1"}, Policies())  # type: ignore[no-any-return]


def test_every_event_source_invokes_the_published_alias(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resources = _translated()["Resources"]
    functions = [name for name, spec in resources.items() if spec["Type"] == "AWS::Lambda::Function"]
    aliases = {name: spec for name, spec in resources.items() if spec["Type"] == "AWS::Lambda::Alias"}
    assert len(functions) >= 7 and {f"{name}Aliaslive" for name in functions} == set(aliases)
    # API routes and the authorizer: the API's integrations and its permissions name the aliases only
    body = json.dumps([spec for spec in resources.values() if spec["Type"] == "AWS::ApiGateway::RestApi"])
    assert "AuthorizerFunctionAliaslive" in body and "SendFunctionAliaslive" in body
    assert not set(re.findall(r"\b(\w+Function)\.Arn", body))
    permissions = [
        spec["Properties"]["FunctionName"] for spec in resources.values() if spec["Type"] == "AWS::Lambda::Permission"
    ]
    assert permissions and all(str(target.get("Ref", "")).endswith("Aliaslive") for target in permissions)
    # streams and schedules
    mappings = [spec for spec in resources.values() if spec["Type"] == "AWS::Lambda::EventSourceMapping"]
    rules = [
        spec for spec in resources.values() if spec["Type"] == "AWS::Events::Rule" and "Targets" in spec["Properties"]
    ]
    targets = [spec["Properties"]["FunctionName"] for spec in mappings]
    targets += [
        target["Arn"] for rule in rules for target in rule["Properties"]["Targets"] if "Function" in json.dumps(target)
    ]
    assert targets and all(str(target.get("Ref", "")).endswith("Aliaslive") for target in targets), targets


class FakeRuntime(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before: list[Any] = []
        self.after: list[Any] = []

    def register_before_snapshot(self, hook: Any) -> Any:
        self.before.append(hook)
        return hook

    def register_after_restore(self, hook: Any) -> Any:
        self.after.append(hook)
        return hook


def test_the_hooks_are_registered_in_snapstarts_initialization_only(monkeypatch):
    runtime = FakeRuntime()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    assert snapshot.register({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}) is False
    assert snapshot.register({}) is False
    assert (runtime.before, runtime.after) == ([], [])
    assert snapshot.register({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}) is True
    assert (runtime.before, runtime.after) == ([snapshot.before_snapshot], [snapshot.after_restore])


def test_every_handler_registers_the_hooks():
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        assert "snapshot.register()" in app.read_text(), app


def test_before_the_snapshot_the_first_requests_libraries_are_loaded(monkeypatch):
    for library in ("httpx", "phonenumbers"):
        for name in [name for name in sys.modules if name == library or name.startswith(f"{library}.")]:
            monkeypatch.delitem(sys.modules, name)
    snapshot.before_snapshot()
    assert "httpx" in sys.modules and "phonenumbers" in sys.modules


def test_after_a_restore_random_differs_and_connections_and_credentials_are_rebuilt(monkeypatch):
    closed: list[str] = []

    class Client:
        def close(self) -> None:
            closed.append("aircall")

    monkeypatch.setattr(base, "_shared", object())
    monkeypatch.setattr(services, "_client", (object(), Client()))
    monkeypatch.setattr(services, "_event_bridge", object())
    monkeypatch.setitem(DEFAULT_PROVIDERS, "secrets", object())
    random.seed(1234)  # the state every environment restored from one snapshot would share
    snapshot_draws = [random.random() for _ in range(3)]
    random.seed(1234)

    snapshot.after_restore()

    assert [random.random() for _ in range(3)] != snapshot_draws
    assert base._shared is None and services._client is None and services._event_bridge is None
    assert closed == ["aircall"]
    assert "secrets" not in DEFAULT_PROVIDERS  # Powertools' cached secrets and their client, forgotten
