"""`make smoke` against the local stack, as a fresh clone would run it after `make local`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def smoke(url: str, key: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/smoke.py", "--url", url, *arguments],
        cwd=ROOT,
        env={**os.environ, "SMOKE_API_KEY": key, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_smoke_passes_on_the_local_stack_and_its_real_send_reaches_the_archive(stack, api, aircall):
    # Given the US number configured, as the README's quickstart does
    api.put("/numbers/100001", json={"mode": "proxy", "registration": "approved"}).raise_for_status()

    # When the smoke test runs with a real send
    done = smoke(stack.api_url, stack.api_key, "--from", "100001", "--to", "+14155550123", "--send")

    # Then every check passes, the message went to the sandbox, and the key was never printed
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "PASS health",
        "PASS api key",
        "PASS openapi",
        "PASS numbers",
        "PASS dry run",
        "PASS send",
        "PASS archive",
    ]
    assert lines[-1] == "smoke: 7 passed, 0 failed, 0 skipped"
    assert stack.api_key not in done.stdout
    sent = aircall.get("/_sandbox/messages", params={"number_id": "100001", "direction": "outbound"}).json()
    assert [message["body"] for message in sent["messages"]] == ["aircall-sms-gateway smoke test"]


def test_make_smoke_fails_with_exit_1_when_the_key_is_wrong(stack):
    done = smoke(stack.api_url, "not-the-key")
    assert done.returncode == 1
    assert "FAIL openapi: the key was refused: HTTP 401" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("smoke: 2 passed, 2 failed")
