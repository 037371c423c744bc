"""The interpreter the cold-start probes run in: a Python 3.13 virtualenv, `.venv-lambda`, that holds exactly the
layer's runtime dependencies (`layers/shared/requirements.txt`) and nothing else, not even pip.

The dev venv (`.venv`) is no place to time a cold start: it also holds the dev tools, and some libraries change
what they import when those are installed (`botocore.compat` imports `awscrt`, `httpx` imports `click` and
`rich` for its command line), which costs far more than anything the gateway does. In Lambda, only the layer's
requirements exist, so the probes run with `.venv-lambda/bin/python -s` (no user site) and an environment built
from scratch (no PYTHONPATH but the function's code and the layers, as /var/task and /opt/python in Lambda).

`ensure()` creates the venv on first use and rebuilds it from scratch whenever the requirements (or the
interpreter) change: a stamp file inside the venv records what it was built from. Building needs PyPI once
(well under a minute). The interpreter is `$PYTHON313` when set (the Makefile passes the one it found), else
the first Python 3.13 found as the Makefile's install target looks for it: pyenv's 3.13 versions, then
`python3.13` on PATH.

The dependencies keep the .pyc files pip compiles at install. The deployed layer holds them too:
layers/shared/Makefile (`BuildMethod: makefile`) precompiles every module of the layer, the gateway's package
included, with unchecked hashes. `source_copies` compiles the probes' copy of the layer the same way, and leaves
the function's own code uncompiled (as `sam build` ships it).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-lambda"
REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
STAMP = VENV / ".bench-stamp.json"
# Importable in the dev venv, never in Lambda: a probe that can find one of them does not time Lambda's imports.
DEV_ONLY_MODULES = ("click", "rich", "moto", "awscrt", "samcli", "pytest")
# Interpreter flags of every probe: no user site-packages (the venv's own site-packages stays).
PYTHON_FLAGS = ("-s",)


def python() -> Path:
    """The venv's interpreter, after making sure the venv matches the requirements."""
    ensure()
    return VENV / "bin" / "python"


def ensure() -> None:
    interpreter = _python313()
    wanted = {"requirements_sha256": hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest(), "python": interpreter}
    if _stamp() == wanted and (VENV / "bin" / "python").exists():
        return
    print(f"bench: building {VENV.name} ({REQUIREMENTS.relative_to(ROOT)} only) with {interpreter}", file=sys.stderr)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(VENV)], check=True)
    # As `sam build` installs the layer (dependencies resolved by pip); the dev venv's pip installs into the new
    # venv (`--python`), so pip itself is not one of its packages.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(VENV / "bin" / "python"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    STAMP.write_text(json.dumps(wanted, indent=2) + "\n")


def _python313() -> str:
    candidates = [os.environ.get("PYTHON313", "")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    candidates.append(shutil.which("python3.13") or "")
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return candidate
    raise RuntimeError("bench: python3.13 not found (install it, or use pyenv, or set PYTHON313)")


def _stamp() -> object:
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def source_copies(directories: Iterable[Path], *, layers: Iterable[Path] = ()) -> Iterator[dict[Path, Path]]:
    """Copies of `directories` (the function's code, the layer) in a temporary directory, by original path, as
    they are deployed: without the bytecode a test run left in the working tree, and the `layers` among them
    precompiled as layers/shared/Makefile does (unchecked-hash .pyc, by the probes' Python 3.13). The function's
    code is not compiled (`sam build` ships none, and /var/task is read-only), so it compiles on every cold
    start, as in Lambda."""
    precompiled = set(layers)
    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as temporary:
        copies: dict[Path, Path] = {}
        for index, directory in enumerate(dict.fromkeys(directories)):
            copy = Path(temporary) / f"{index}-{directory.name}"
            shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            if directory in precompiled:
                compiling = [
                    str(python()),
                    "-m",
                    "compileall",
                    "-q",
                    "--invalidation-mode",
                    "unchecked-hash",
                    str(copy),
                ]
                subprocess.run(compiling, check=True)
            copies[directory] = copy
        yield copies


def runtime_environment(function_name: str, memory_mb: int, handler: str, task_root: Path) -> dict[str, str]:
    """The reserved variables Lambda sets in every python3.13 function (AWS Lambda Developer Guide, "Defined
    runtime environment variables"), but the per-invocation trace header (tracing is off in the probes).
    Libraries read them: the X-Ray SDK (LAMBDA_TASK_ROOT: Lambda's segment context and local sampling, instead
    of a sampler that creates an X-Ray API client at import), botocore and Powertools (AWS_EXECUTION_ENV)."""
    return {
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "_HANDLER": handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }


def leaked_modules_check() -> str:
    """Python source for a probe, run after its timed part: the names of `DEV_ONLY_MODULES` it could import."""
    return (
        "import importlib.util\n"
        f"leaked = [name for name in {DEV_ONLY_MODULES!r} if importlib.util.find_spec(name) is not None]\n"
    )


def check_not_leaked(leaked: object, where: str) -> None:
    if leaked:
        raise RuntimeError(f"{where}: the probe could import dev-only modules {leaked}: it does not time Lambda")
