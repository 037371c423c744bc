"""The docs' fenced commands, as `tests/e2e/test_docs_commands.py` runs them (docs/development.md, "The docs'
commands are tested").

- A fenced `sh`/`bash` block runs in bash (`set -euo pipefail`) and must exit 0. Inside it, a comment `# -> answer`
  is the expected answer of the commands since the previous one (`#` and four spaces continue it): JSON is matched
  against the last JSON value they printed (`matches`), anything else must appear in what they printed. Commands
  without an expected answer may not print the gateway's or API Gateway's error shapes.
- A `python` block runs in one interpreter per file (the blocks share their names, as a reader's session would)
  and must not raise.
- `<!-- not-run: reason -->` on the line before a fence marks a block that cannot run here; it is reported, not run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_LANGUAGES = {"sh": "shell", "bash": "shell", "python": "python"}
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^`]*)$")
EXPECTATION = "# -> "
CONTINUATION = "#    "
ANY = "..."
# API Gateway's own refusals (a wrong key, a wrong path, a handler that crashed): never a documented answer.
API_GATEWAY_REFUSALS = {"Forbidden", "Missing Authentication Token", "Internal server error", "Request Too Long"}
STEP_MARKER = "\x1edocs-step\x1e"
LAYER = Path(__file__).resolve().parents[1] / "layers" / "shared"  # python blocks import the domain library


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    not_run: str | None

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"

    @property
    def kind(self) -> str | None:
        return RUN_LANGUAGES.get(self.language)


@dataclass(frozen=True, slots=True)
class Step:
    """Commands, and the answer the doc shows for them (None: not shown)."""

    code: str
    expected: str | None
    line: int  # of the expectation (or of the block's last line), in the file


def parse(path: Path) -> list[Block]:
    """Every fenced block of a markdown file; a `not-run` marker that is not just before a fence is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        marker = NOT_RUN.match(lines[index])
        opening = FENCE.match(lines[index])
        if marker:
            following = FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
            if not following or not following.group("info").strip():
                raise ValueError(f"{path}:{index + 1}: a not-run marker must be just before a block's fence")
            if not marker.group("reason"):
                raise ValueError(f"{path}:{index + 1}: a not-run marker needs its reason")
        if opening:
            fence, language = opening.group("fence"), opening.group("info").strip().split(" ")[0]
            end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == fence), None)
            if end is None:
                raise ValueError(f"{path}:{index + 1}: the block is never closed")
            previous = NOT_RUN.match(lines[index - 1]) if index > 0 else None
            found.append(
                Block(
                    path=path,
                    line=index + 1,
                    language=language,
                    text="\n".join(lines[index + 1 : end]) + "\n",
                    not_run=previous.group("reason") if previous else None,
                )
            )
            index = end
        index += 1
    return found


def steps(block: Block) -> list[Step]:
    """The block cut after each expected answer: each step is the commands since the previous one."""
    found: list[Step] = []
    code: list[str] = []
    pending: tuple[str, list[str], int] | None = None  # (its commands, the answer's lines, its line)
    for offset, text in enumerate(block.text.splitlines(), start=1):
        if text.startswith(EXPECTATION):
            if pending is not None:
                found.append(Step(pending[0], " ".join(pending[1]), pending[2]))
            pending, code = ("\n".join(code), [text[len(EXPECTATION) :].strip()], block.line + offset), []
        elif pending is not None and text.startswith(CONTINUATION):
            pending[1].append(text[len(CONTINUATION) :].strip())
        else:
            if pending is not None:
                found.append(Step(pending[0], " ".join(pending[1]), pending[2]))
                pending = None
            code.append(text)
    if pending is not None:
        found.append(Step(pending[0], " ".join(pending[1]), pending[2]))
    if any(text.strip() for text in code):
        found.append(Step("\n".join(code), None, block.line + len(block.text.splitlines())))
    return found


# ------------------------------------------------------------------------------------------------ matching
def json_values(text: str) -> list[Any] | None:
    """Every JSON value printed, in order (curl prints them without a newline between); None if it is not JSON."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
        values.append(value)


def matches(expected: Any, actual: Any) -> bool:
    """`expected` is what the doc shows: a dict names some keys (each must match), a list every item (or a prefix,
    when its last item is "..."), "..." any value, "abc..." any string starting with "abc"."""
    if expected == ANY:
        return True
    if isinstance(expected, str) and expected.endswith(ANY):
        return isinstance(actual, str) and actual.startswith(expected[: -len(ANY)])
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if expected and expected[-1] == ANY:
            head = expected[:-1]
            return len(actual) >= len(head) and all(map(matches, head, actual))
        return len(actual) == len(expected) and all(map(matches, expected, actual))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def refusal(value: Any) -> str | None:
    """The gateway's error shape, or one of API Gateway's own refusals: what a command without an expected answer
    must never print."""
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict) and "code" in error:
            return f"error {error['code']}: {error.get('message')}"
        message = value.get("message")
        if set(value) == {"message"} and isinstance(message, str) and message in API_GATEWAY_REFUSALS:
            return f"API Gateway's {value['message']!r}"
    return None


def judge(step: Step, output: str) -> str | None:
    """What is wrong with a step's output (None: nothing)."""
    values = json_values(output)
    expected_value: Any = None
    expects_json = False
    if step.expected is not None:
        try:
            expected_value, expects_json = json.loads(step.expected), True
        except json.JSONDecodeError:
            expects_json = False
    checked = values[:-1] if values and expects_json else values or []
    for value in checked:
        problem = refusal(value)
        if problem:
            return f"a command answered {problem}"
    if step.expected is None:
        return None
    if expects_json:
        if not values:
            return f"expected the JSON answer {step.expected}, got {output.strip()[:300]!r}"
        if not matches(expected_value, values[-1]):
            return f"expected an answer with {step.expected}, got {json.dumps(values[-1])[:600]}"
        return None
    if _squeezed(step.expected) not in _squeezed(output):
        return f"expected the output to contain {step.expected!r}, got {output.strip()[-600:]!r}"
    return None


def _squeezed(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------ running
def rewrite(text: str, addresses: Mapping[str, str]) -> str:
    for documented, actual in addresses.items():
        text = text.replace(documented, actual)
    return text


def shell_script(found: list[Step]) -> str:
    """The block as one bash script that prints a marker after each step, so each step's output can be judged."""
    parts = ["set -euo pipefail"]
    for step in found:
        parts += [step.code, f"printf '\\n{STEP_MARKER}\\n'"]
    return "\n".join(parts) + "\n"


def run_shell(
    block: Block, *, root: Path, env: Mapping[str, str], addresses: Mapping[str, str], timeout: float = 120
) -> list[str]:
    """Run one shell block; the problems, each naming its file and line."""
    found = [
        Step(rewrite(s.code, addresses), s.expected and rewrite(s.expected, addresses), s.line) for s in steps(block)
    ]
    done = subprocess.run(
        ["bash", "-c", shell_script(found)],
        cwd=root,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    outputs = done.stdout.split(f"\n{STEP_MARKER}\n")
    problems: list[str] = []
    for step, output in zip(found, outputs, strict=False):
        problem = judge(step, output)
        if problem:
            problems.append(f"{block.path.relative_to(root)}:{step.line}: {problem}")
    if done.returncode != 0:
        failed_at = found[min(len(outputs) - 1, len(found) - 1)] if found else None
        line = failed_at.line if failed_at else block.line
        problems.append(
            f"{block.path.relative_to(root)}:{line}: exit {done.returncode}; stderr: {done.stderr.strip()[-600:]!r}"
        )
    return problems


PYTHON_RUNNER = """
import json, sys, traceback
blocks = json.load(sys.stdin)
namespace = {"__name__": "__docs__"}
for line, source in blocks:
    try:
        exec(compile(source, f"<block at line {line}>", "exec"), namespace)
    except BaseException:
        print(json.dumps({"line": line, "error": traceback.format_exc(limit=3)}))
        sys.exit(1)
"""


def run_python(blocks: list[Block], *, root: Path, env: Mapping[str, str], timeout: float = 120) -> list[str]:
    """Run a file's python blocks in order, in one interpreter; the first one that raises is the problem."""
    if not blocks:
        return []
    done = subprocess.run(
        [sys.executable, "-c", PYTHON_RUNNER],
        input=json.dumps([[block.line, block.text] for block in blocks]),
        cwd=root,
        env={**env, "PYTHONPATH": str(LAYER)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode == 0:
        return []
    try:
        failure = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return [f"{blocks[0].path.relative_to(root)}: the python blocks failed: {done.stderr.strip()[-600:]!r}"]
    return [f"{blocks[0].path.relative_to(root)}:{failure['line']}: {failure['error'].strip()[-600:]}"]


def run_file(
    path: Path, *, root: Path, env: Mapping[str, str], addresses: Mapping[str, str]
) -> tuple[list[str], list[Block]]:
    """(the problems of every runnable block of the file, in order; the blocks marked not-run)."""
    parsed = parse(path)
    problems: list[str] = []
    for block in parsed:
        if block.kind == "shell" and block.not_run is None:
            problems += run_shell(block, root=root, env=env, addresses=addresses)
    runnable_python = [block for block in parsed if block.kind == "python" and block.not_run is None]
    problems += run_python(runnable_python, root=root, env=env)
    return problems, [block for block in parsed if block.not_run is not None]


def runnable(blocks: list[Block]) -> Iterator[Block]:
    return (block for block in blocks if block.kind and block.not_run is None)
