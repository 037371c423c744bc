"""No PII in X-Ray, in the deployed shape (template.yaml and the layer): what only the template and the shipped
code can show. A traced API Gateway stage records every request's URL (paths and queries carry phone numbers:
/contacts/{phone}, ?contact=+33...); Powertools' Tracer records every handler's answer by default. So the stage
is not traced, no code ships a tracer or the X-Ray SDK, and the Tracer's captures are off should one come back.
The functions keep Lambda's own active tracing, which records no URL and no payload. The story over HTTP that
shows what a tracer would have recorded is tests/e2e/test_logs_leak_nothing.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local_stack.template import FUNCTION_TYPE, load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
GLOBALS = TEMPLATE.globals_for("Function")
FUNCTIONS = TEMPLATE.resources_of_type(FUNCTION_TYPE)
SHIPPED = sorted((ROOT / "layers" / "shared" / "aircall_sms").rglob("*.py")) + sorted(
    (ROOT / "functions").glob("*/app.py")
)


def test_the_api_stage_is_not_traced():
    apis = TEMPLATE.resources_of_type("AWS::Serverless::Api")
    assert apis
    for api in apis.values():
        assert api["Properties"].get("TracingEnabled", False) is False


def test_every_function_keeps_lambdas_own_active_tracing():
    assert GLOBALS["Tracing"] == "Active"
    assert FUNCTIONS and all(spec["Properties"].get("Tracing", "Active") == "Active" for spec in FUNCTIONS.values())


@pytest.mark.parametrize("variable", ["POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"])
def test_the_tracers_captures_are_off_for_every_function(variable):
    assert GLOBALS["Environment"]["Variables"][variable] == "false"
    for spec in FUNCTIONS.values():
        variables = ((spec["Properties"].get("Environment") or {}).get("Variables")) or {}
        assert variables.get(variable, "false") == "false"


def test_the_layer_ships_no_xray_sdk():
    pins = [
        line.split("==")[0].strip().lower()
        for line in (ROOT / "layers/shared/requirements.txt").read_text().splitlines()
    ]
    assert "aws-lambda-powertools" in pins
    assert not {"aws-xray-sdk", "wrapt"} & set(pins)


def _tracing_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith(("aws_xray_sdk", "opentelemetry"))]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            if node.module.startswith(("aws_xray_sdk", "aws_lambda_powertools.tracing", "opentelemetry")):
                found.append(node.module)
            elif node.module == "aws_lambda_powertools" and "Tracer" in names:
                found.append("aws_lambda_powertools.Tracer")
    return found


def test_no_shipped_module_imports_a_tracer():
    assert len(SHIPPED) > 20
    found = {str(path.relative_to(ROOT)): names for path in SHIPPED if (names := _tracing_imports(path))}
    assert not found


def test_the_tracer_import_check_sees_a_tracer(tmp_path):
    module = tmp_path / "app.py"
    module.write_text("from aws_lambda_powertools import Logger, Tracer\nimport aws_xray_sdk.core\n")
    assert _tracing_imports(module) == ["aws_lambda_powertools.Tracer", "aws_xray_sdk.core"]
