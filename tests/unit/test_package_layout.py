"""The package keeps to its plan (docs/development.md, "The package"): no import cycles, every module says what it
owns, and no DynamoDB request is built outside the store. The directions between the sub-packages are import-linter
contracts (pyproject.toml), checked by `make lint`."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "aircall_sms"
MODULES = sorted(PACKAGE.rglob("*.py"))
# What only a DynamoDB request carries: the store is the one place that may write them.
REQUEST_SHAPES = ("TableName", "ConditionExpression", "UpdateExpression", "KeyConditionExpression", "TransactItems")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_package_has_no_import_cycles():
    graph = grimp.build_graph("aircall_sms", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if graph.chain_exists(importer=imported, imported=importer):
                cycles.append(graph.find_shortest_chain(importer=imported, imported=importer))
    assert cycles == []


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_opens_with_what_it_owns(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{module_name(path)} has no module docstring"
    assert len(docstring.splitlines()[0]) >= 30, f"{module_name(path)}: the first line should say what it owns"


@pytest.mark.parametrize("path", [path for path in MODULES if "store" not in path.parts], ids=module_name)
def test_only_the_store_builds_dynamodb_requests(path):
    source = path.read_text()
    assert [shape for shape in REQUEST_SHAPES if shape in source] == []
