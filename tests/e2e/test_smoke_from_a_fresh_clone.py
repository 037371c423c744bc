"""The issue's "done when": a fresh clone runs `make smoke` against `make local`. The repository's committed tree
is cloned, `make local` is started in the clone (on free ports: other stacks may hold the defaults), and `make
smoke` from the clone checks it end to end with a real send, with the admin key the banner prints.

The clone uses this run's virtual environment (a symlink, as docs/development.md allows) and tells make that it
is installed (`-o .venv/.installed`): installing would take minutes and is `make install`'s own business."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BANNER_KEY = re.compile(r"admin key: x-api-key: ([^\s,]+),")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_fresh_clone_runs_make_smoke_against_make_local(tmp_path: Path) -> None:
    # Given a fresh clone of the repository, with this run's venv
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    ports = {name: free_port() for name in ("LOCAL_API_PORT", "LOCAL_AIRCALL_PORT", "LOCAL_DYNAMODB_PORT")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LOCAL_"))}
    environment |= {name: str(port) for name, port in ports.items()}
    make = ["make", "--no-print-directory", "-o", ".venv/.installed"]

    # When `make local` runs in it
    banner = tmp_path / "local.log"
    with banner.open("w") as output:
        local = subprocess.Popen(
            [*make, "local"],
            cwd=clone,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        api = f"http://127.0.0.1:{ports['LOCAL_API_PORT']}"
        key = wait_for_key(banner, local)
        wait_for_health(api, local)
        configured = httpx.put(
            f"{api}/numbers/100001",
            json={"mode": "proxy", "registration": "approved"},
            headers={"x-api-key": key},
            timeout=30,
        )
        assert configured.status_code in (200, 201), configured.text

        # And `make smoke` runs against it with a real send
        smoke = subprocess.run(
            [*make, "smoke", f"URL={api}", f"KEY={key}", "FROM=100001", "TO=+14155550123", "SEND=1"],
            cwd=clone,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        # Then every check passes, and the key is not printed
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert smoke.stdout.splitlines()[-1] == "smoke: 7 passed, 0 failed, 0 skipped", smoke.stdout
        assert key not in smoke.stdout
    finally:
        os.killpg(local.pid, signal.SIGTERM)  # the session this test started, and only it
        try:
            local.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(local.pid, signal.SIGKILL)
            local.wait(timeout=10)


def wait_for_key(banner: Path, local: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = BANNER_KEY.search(banner.read_text())
        if found:
            return found.group(1)
        assert local.poll() is None, f"make local stopped: {banner.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"make local printed no admin key: {banner.read_text()[-3000:]}")


def wait_for_health(api: str, local: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert local.poll() is None, "make local stopped"
        try:
            if httpx.get(f"{api}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the local stack's /health never answered 200")
