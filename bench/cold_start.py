"""Cold import of each handler, as a ratio to a bare `import boto3` measured in the same run.

Each sample is a fresh interpreter that imports the module and reports the import time; the samples of
every subject are interleaved (so a busy moment hits all of them alike) and the median is kept.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 7

_PROBE = """
import importlib.util, sys, time
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""

_HANDLER = """
spec = importlib.util.spec_from_file_location("handler", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""

SUBJECTS = {
    "boto3": "import boto3",
    **{
        f"{name}_handler": _HANDLER.format(path=str(ROOT / "functions" / name / "app.py"))
        for name in ("send", "inbound", "manage")
    },
}


def _sample(body: str) -> float:
    env = os.environ | {
        "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MESSAGES_TABLE": "bench",
        "NUMBERS_TABLE": "bench",
        "LEDGER_TABLE": "bench",
        "CONTACTS_TABLE": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    output = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)], env=env, capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip().splitlines()[-1])


def run() -> dict[str, object]:
    samples: dict[str, list[float]] = {name: [] for name in SUBJECTS}
    for _ in range(SAMPLES):
        for name, body in SUBJECTS.items():
            samples[name].append(_sample(body))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["boto3"]
    report: dict[str, object] = {"cold_import_ms_boto3": round(baseline * 1000, 1)}
    for name, value in medians.items():
        if name != "boto3":
            report[f"cold_import_ratio_{name}_to_boto3"] = round(value / baseline, 2)
    return report
