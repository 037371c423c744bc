"""The whole local stack on ephemeral ports: each part answers, and stopping leaves nothing behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_stack import dynamodb as dynamodb_module
from local_stack.stack import LocalStack
from local_stack.template import table_definitions

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def ephemeral_stack(**settings: Any) -> LocalStack:
    """A stack whose three servers listen on free ports."""
    return LocalStack(dynamodb_port=0, aircall_port=0, api_port=0, **settings)


def _refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) != 0


@pytest.fixture(scope="module")
def stack():
    with ephemeral_stack(api_key="smoke-key", environ={"AIRCALL_REQUESTS_PER_MINUTE": "7"}) as running:
        yield running


def test_the_sandbox_answers(stack):
    response = httpx.get(f"{stack.aircall_url}/_sandbox/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_sandbox_accepts_the_stacks_plain_http_callback_url(stack):
    # Given the callback URL the stack gives Aircall: its own front, plain HTTP on loopback
    config = stack.sandbox_config
    answer = httpx.post(
        f"{stack.aircall_url}/v1/numbers/100004/messages/configuration",
        auth=(config.api_id, config.api_token),
        json={"callbackUrl": stack.callback_url},
    )
    # Then the sandbox, which refuses http:// by default as Aircall does, takes it
    assert (answer.status_code, answer.json()["callbackUrl"]) == (200, stack.callback_url)
    assert config.allow_http_loopback_callbacks


def test_the_stack_keeps_the_sandboxs_refusal_of_http_callbacks_when_told_to():
    stack = ephemeral_stack(environ={"LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS": "false"})

    assert stack.sandbox_config.allow_http_loopback_callbacks is False


def test_the_template_tables_exist_in_the_emulator(stack):
    expected = {definition["TableName"] for definition in table_definitions(ROOT / "template.yaml").values()}

    existing = set(stack.client("dynamodb").list_tables()["TableNames"])

    assert expected <= existing
    assert set(stack.tables.values()) == expected


def test_the_aircall_credentials_secret_holds_the_sandbox_credentials(stack):
    secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.secret_name)

    assert stack.secret_name == "aircall-sms-gateway/aircall-credentials"
    assert json.loads(secret["SecretString"]) == {
        "api_id": stack.sandbox_config.api_id,
        "api_token": stack.sandbox_config.api_token,
    }


def test_the_front_answers_as_api_gateway_without_calling_a_handler_in_the_templates_gateway_responses(stack):
    unknown = httpx.get(f"{stack.api_url}/no-such-route")
    without_key = httpx.post(f"{stack.api_url}/messages", json={})

    # MISSING_AUTHENTICATION_TOKEN and UNAUTHORIZED, as the template's GatewayResponses shape them
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert (without_key.status_code, without_key.json()["error"]["code"]) == (401, "unauthorized")
    assert without_key.json()["error"]["details"]["request_id"] == without_key.headers["x-amzn-RequestId"]


def test_the_handlers_environment_points_at_the_local_parts(stack):
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == stack.dynamodb_url
    assert os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == stack.dynamodb_url
    assert os.environ["AWS_ENDPOINT_URL_EVENTS"] == stack.dynamodb_url
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert os.environ["AIRCALL_API_BASE_URL"] == stack.aircall_url
    assert os.environ["CALLBACK_URL"] == f"{stack.api_url}/webhooks/aircall"
    assert os.environ["MESSAGES_TABLE"] == stack.tables["MessagesTable"]


def test_a_boto3_client_without_endpoint_reaches_the_emulator(stack):
    import boto3

    names = boto3.client("dynamodb").list_tables()["TableNames"]

    assert set(stack.tables.values()) <= set(names)


def test_the_request_budget_parameter_comes_from_aircall_requests_per_minute(stack):
    assert stack.parameter_overrides["AircallRequestsPerMinute"] == "7"
    assert os.environ["AIRCALL_REQUESTS_PER_MINUTE"] == "7"


def test_stopping_restores_the_environment_and_leaves_no_process_or_thread(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    before = set(threading.enumerate())
    stack = ephemeral_stack().start()
    urls = [stack.api_url, stack.aircall_url, stack.dynamodb_url]
    pid = stack.dynamodb.pid if stack.dynamodb else None
    started = set(threading.enumerate()) - before
    pollers = [thread for thread in started if thread.name.startswith("local-stack-stream-")]

    stack.stop()

    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
    assert all(_refuses_connections(url) for url in urls)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert len(pollers) == 4  # the EventsFunction's two DynamoDB events, the UsageFunction's and the MediaFunction's
    assert not any(thread.is_alive() for thread in started if thread.name.startswith("local-stack-"))
    with pytest.raises(RuntimeError, match="not running"):
        stack.published_events()


def test_a_failed_start_stops_what_had_started(monkeypatch):
    started = []
    original_start = dynamodb_module.DynamoDBEmulator.start

    def recording_start(self):
        started.append(original_start(self))
        return started[-1]

    monkeypatch.setattr(dynamodb_module.DynamoDBEmulator, "start", recording_start)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stack = LocalStack(dynamodb_port=0, aircall_port=0, api_port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            stack.start()

    assert [emulator.running for emulator in started] == [False]
    assert stack.dynamodb is None and stack.sandbox is None


# ------------------------------------------------------------------------------------------ python -m local_stack


def _lines(stream, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)
    into.put("")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_python_m_local_stack_runs_until_a_signal_and_exits_cleanly(stop_signal):
    environment = {**os.environ, "LOCAL_DYNAMODB_PORT": "0", "LOCAL_AIRCALL_PORT": "0", "LOCAL_API_PORT": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        while not any("Ctrl-C stops everything" in line for line in output):
            line = lines.get(timeout=60)
            assert line, "local_stack exited early:\n" + "".join(output)
            output.append(line)
        banner = "".join(output)
        assert "x-api-key: local-api-key" in banner
        assert "api_id=" in banner and "api_token=" in banner
        assert "curl" in banner

        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    while (line := lines.get(timeout=10)) != "":
        output.append(line)
    assert "Stopped." in "".join(output)
    moto_url = re.search(r"DynamoDB \(moto\)\s+(http://\S+)", banner)
    assert moto_url is not None
    assert _refuses_connections(moto_url.group(1))
