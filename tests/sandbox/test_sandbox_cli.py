"""`python -m aircall_sandbox`: runs in the foreground and prints where it listens and the default credentials."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def foreground_sandbox(**env_overrides: str) -> Iterator[str]:
    """Run the module on a free port; yields the first line it prints; stops it with SIGTERM."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCAL_AIRCALL_")}
    env |= {"PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"} | env_overrides
    process = subprocess.Popen(
        [sys.executable, "-m", "aircall_sandbox", "--port", "0", "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_module_serves_in_the_foreground_and_prints_the_credentials_line():
    with foreground_sandbox() as line:
        match = re.fullmatch(
            r"Aircall sandbox on (http://127\.0\.0\.1:\d+) \(api_id=sandbox-api-id, api_token=sandbox-api-token\)", line
        )
        assert match, line
        response = httpx.get(f"{match.group(1)}/v1/ping", auth=("sandbox-api-id", "sandbox-api-token"))
        assert response.json() == {"ping": "pong"}


def test_a_custom_token_is_never_printed():
    with foreground_sandbox(LOCAL_AIRCALL_API_TOKEN="a-real-secret") as line:
        assert "a-real-secret" not in line
        assert "credentials from LOCAL_AIRCALL_API_ID" in line
