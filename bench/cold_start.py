"""Cold import of each handler, as a ratio to a bare `import boto3` measured in the same run.

Each sample is a fresh interpreter that imports the module and reports the import time; the samples of
every subject are interleaved (so a busy moment hits all of them alike) and the median is kept.

The interpreter is Lambda's, not the dev venv's: `.venv-lambda/bin/python -s` (see `bench.lambda_env`: a venv
holding exactly `layers/shared/requirements.txt`), in an environment built from scratch with only the layer on
the path and the variables the Lambda runtime defines; the handlers are copies without bytecode (compiled on
every cold start, as in Lambda), the layer a copy precompiled as its deployed build is.
Each probe checks, after its timed part, that none of the dev tools is importable.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

from bench import lambda_env

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 7
# What a probe keeps from this process's environment.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT")

_PROBE = """
import importlib.util, json, sys, time
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
{leak_check}
print(json.dumps({{"seconds": elapsed, "leaked": leaked}}))
"""

_HANDLER = """
spec = importlib.util.spec_from_file_location("handler", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""

HANDLERS = ("send", "inbound", "manage", "events", "usage", "quota_reset", "authorizer", "health", "console")


def _subjects(functions: Path) -> dict[str, str]:
    return {
        "boto3": "import boto3",
        **{f"{name}_handler": _HANDLER.format(path=str(functions / name / "app.py")) for name in HANDLERS},
    }


def _sample(python: Path, layer: Path, task_root: Path, body: str) -> float:
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ} | {
        **lambda_env.runtime_environment("bench", 512, "app.lambda_handler", task_root),
        "PYTHONPATH": str(layer),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MESSAGES_TABLE": "bench",
        "NUMBERS_TABLE": "bench",
        "LEDGER_TABLE": "bench",
        "CONTACTS_TABLE": "bench",
        "CALLBACKS_TABLE": "bench",
        "KEYS_TABLE": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    script = _PROBE.format(body=body, leak_check=lambda_env.leaked_modules_check())
    output = subprocess.run(
        [str(python), *lambda_env.PYTHON_FLAGS, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(output.stdout.strip().splitlines()[-1])
    lambda_env.check_not_leaked(result["leaked"], "cold_start")
    return float(result["seconds"])


def run() -> dict[str, object]:
    python = lambda_env.python()
    functions, layer = ROOT / "functions", ROOT / "layers" / "shared"
    with lambda_env.source_copies([functions, layer], layers=[layer]) as copies:
        subjects = _subjects(copies[functions])
        samples: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(SAMPLES):
            for name, body in subjects.items():
                task_root = copies[functions] / name.removesuffix("_handler")
                samples[name].append(_sample(python, copies[layer], task_root, body))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["boto3"]
    report: dict[str, object] = {"cold_import_ms_boto3": round(baseline * 1000, 1)}
    for name, value in medians.items():
        if name != "boto3":
            report[f"cold_import_ratio_{name}_to_boto3"] = round(value / baseline, 2)
    return report
