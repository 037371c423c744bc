"""Every command of the docs works as written: README.md, docs/*.md and bench/README.md, run against a local stack
of their own, file after file, each file's blocks in order, as a reader would (tests/doc_blocks.py says how).

The blocks marked `<!-- not-run: reason -->` (an AWS account, Docker, a whole test suite) are reported as skipped
tests, each with its file, line and reason."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from aircall_sandbox import SandboxConfig
from local_stack.stack import LocalStack
from tests import doc_blocks
from tests.support import reset_gateway_caches

ROOT = Path(__file__).resolve().parents[2]
# The order a reader follows, and the state each file's examples build on (the README configures the US number,
# docs/api.md the French ones...); a doc not listed here runs after these.
ORDER = ["README.md", "docs/api.md", "docs/operations.md", "docs/development.md", "bench/README.md"]
# The addresses and key the docs name for `make local`, and where the test's own stack listens instead.
DOCUMENTED_API = "http://127.0.0.1:3000"
DOCUMENTED_SANDBOX = "http://127.0.0.1:3001"


def documents() -> list[Path]:
    found = {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md")} | {"README.md"}
    found |= {"bench/README.md"}
    ordered = [name for name in ORDER if name in found] + sorted(found - set(ORDER))
    return [ROOT / name for name in ordered]


def not_run_blocks() -> list[doc_blocks.Block]:
    return [block for path in documents() for block in doc_blocks.parse(path) if block.not_run is not None]


@pytest.fixture(scope="module")
def docs_stack():
    reset_gateway_caches()
    with LocalStack(
        dynamodb_port=0,
        aircall_port=0,
        api_port=0,
        # The stack's callback URL is its front: plain HTTP on loopback, which only this allowance lets through.
        sandbox_config=SandboxConfig(callback_delay_ms=20, allow_http_loopback_callbacks=True),
        # Aircall's budget, as the docs show it: the suite's shared stack, running in this process meanwhile, puts its
        # raised budget in the process's environment, which a stack reads its settings from.
        parameter_overrides={"AircallRequestsPerMinute": "60"},
    ) as stack:
        reset_gateway_caches()
        yield stack
    reset_gateway_caches()


@pytest.fixture(scope="module")
def reader_environment(docs_stack):
    """The shell of a reader who ran `make local` and exported what the docs say: the venv first on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "API": docs_stack.api_url,
        "KEY": docs_stack.api_key,
        "SANDBOX": docs_stack.aircall_url,
    }


@pytest.mark.parametrize("path", documents(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_runnable_command_of_a_doc_works_as_written(path, docs_stack, reader_environment):
    # Given the local stack the docs' examples run against, at the documented addresses
    addresses = {
        DOCUMENTED_API: docs_stack.api_url,
        DOCUMENTED_SANDBOX: docs_stack.aircall_url,
        "localhost:3000": docs_stack.api_url.removeprefix("http://"),
        "localhost:3001": docs_stack.aircall_url.removeprefix("http://"),
    }
    # When every block that is not marked not-run is run, in order
    problems, _ = doc_blocks.run_file(path, root=ROOT, env=reader_environment, addresses=addresses)
    # Then each exited 0 and answered what the doc shows
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("block", not_run_blocks(), ids=lambda block: block.where(ROOT))
def test_a_block_marked_not_run_is_reported_with_its_reason(block):
    assert block.not_run, "a not-run marker names its reason"
    pytest.skip(f"{block.where(ROOT)} not run: {block.not_run}")


def test_the_docs_have_commands_to_run_in_every_runnable_language():
    # The runner only proves something if the docs still hold blocks it runs: shell with expected answers, python.
    blocks = [block for path in documents() for block in doc_blocks.parse(path)]
    runnable = list(doc_blocks.runnable(blocks))
    assert {block.kind for block in runnable} == {"shell", "python"}
    expected = [
        step for block in runnable if block.kind == "shell" for step in doc_blocks.steps(block) if step.expected
    ]
    assert len(expected) >= 30
