"""The send path against the whole local stack (moto server + Aircall sandbox + HTTP front), started once.

1. Cold start: a fresh interpreter, with the environment the SendFunction gets from `template.yaml` (through
   the local stack), imports the send handler and serves one `POST /messages`; the baseline is a fresh
   interpreter that imports boto3, creates a DynamoDB client and does one GetItem on the numbers table of the
   same emulator. The subjects are interleaved over the samples (a busy moment hits both alike) and the
   medians are compared. X-Ray is the only thing turned off (there is no daemon here), as the stack does:
   Powertools' Tracer still imports the X-Ray SDK, but neither patches the libraries (`patch_all`) nor records
   subsegments, which it does in Lambda (`Tracing: Active`).
   Both run as in Lambda, not in the dev venv: `.venv-lambda/bin/python -s` (see `bench.lambda_env`: a venv
   holding exactly `layers/shared/requirements.txt`, built on first use), with only the function's code
   directory and the layers on the path (/var/task and /opt/python in Lambda; copies without bytecode, so the
   gateway's own code is compiled on every cold start as in Lambda), and the variables the Lambda runtime
   defines (LAMBDA_TASK_ROOT, AWS_EXECUTION_ENV...: the X-Ray SDK and botocore read them). Every probe
   checks, after its timed part, that none of the dev tools (click, rich, moto, awscrt...) is importable: some
   libraries import them when they are installed (botocore imports awscrt, httpx imports click and rich),
   which Lambda never does.
2. Round trips of an accepted send: in this process, with the same environment, the send handler's
   `lambda_handler` is called directly: one first send on cold caches (the gateway's modules freshly imported,
   Powertools' parameter cache cleared, as in a new Lambda instance), then `WARM_SENDS` warm sends. Every
   DynamoDB API call of the calling thread is counted at botocore's `Endpoint.make_request`, the one choke
   point both boto3 and pynamodb go through (checked at start with a pynamodb model); the sandbox's `/v1`
   request log gives the Aircall calls. The front's own threads (the sandbox's callbacks reaching the inbound
   handler in this process) are not counted.

Nothing is named here but the route (`POST /messages`) and the numbers table's logical id: the function, its
environment, its tables and its handler come from the template, so new tables or variables need no change.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from aircall_sandbox import SandboxConfig
from bench import lambda_env
from local_stack.front import LambdaContext
from local_stack.stack import LocalStack
from local_stack.template import FunctionSpec, table_specs

SAMPLES = 7
WARM_SENDS = 20
SEND_ROUTE = ("POST", "/messages")
NUMBERS_TABLE = "NumbersTable"  # logical id in template.yaml
# A French fixed line: domestic sends need no registration or consent; the recipient is another French
# fixed line (valid for phonenumbers, so the gateway and the sandbox accept it).
SENDER = "100005"
RECIPIENT = "+33145678901"
# Aircall's company request budget per minute, for the gateway and for the sandbox: every sample sends.
REQUESTS_PER_MINUTE = 100_000
# What a fresh probe keeps from this process's environment (the rest is the function's, as in Lambda).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT")
_MARKER = "BENCH_SEND_PATH_RESULT "

_PROBE = """
import importlib.util, json, sys, time
event = json.loads({event!r})


class Context:
    function_name = {function_name!r}
    memory_limit_in_mb = {memory!r}
    invoked_function_arn = {arn!r}
    aws_request_id = {request_id!r}
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self):
        return {timeout_ms!r}


start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
{leak_check}
print({marker!r} + json.dumps({{"seconds": elapsed, "answer": answer, "leaked": leaked}}), flush=True)
"""

_SEND_BODY = """
spec = importlib.util.spec_from_file_location("bench_send_handler", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
answer = module.{attribute}(event, Context())
"""

_GETITEM_BODY = """
import boto3
client = boto3.client("dynamodb")
client.get_item(TableName={table!r}, Key={key!r})
answer = None
"""


# ----------------------------------------------------------------------------------------------- the stack


def _send_function(stack: LocalStack) -> FunctionSpec:
    """The function that serves `POST /messages`, as the template declares it (environment resolved)."""
    front = stack.front
    assert front is not None, "the local stack is not started"
    method, path = SEND_ROUTE
    for spec in front.functions.values():
        if any(route.method in (method, "ANY") and route.path == path for route in spec.routes):
            return spec
    raise RuntimeError(f"no function of {stack.template.path} serves {method} {path}")


def _function_environment(stack: LocalStack, spec: FunctionSpec) -> dict[str, str]:
    """What the function's process gets: the template's variables (resolved by the stack) plus the stack's
    endpoints, dummy credentials, region and POWERTOOLS_TRACE_DISABLED (no X-Ray daemon here)."""
    return {**spec.environment, **stack.handler_environment()}


def _probe_environment(
    function_environment: dict[str, str], spec: FunctionSpec, code_dir: Path, layer_dirs: list[Path]
) -> dict[str, str]:
    """A Lambda-like process environment: the function's variables, the ones the Lambda runtime defines for
    every function, its code directory and the layers on the path (as /var/task and /opt/python), and from this
    process only what an interpreter needs to run."""
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    return {
        **inherited,
        **lambda_env.runtime_environment(spec.function_name, spec.memory_size, spec.handler, code_dir),
        **function_environment,
        "PYTHONPATH": os.pathsep.join(str(directory) for directory in (code_dir, *layer_dirs)),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _configure_number(stack: LocalStack) -> None:
    """PUT /numbers/{SENDER} in proxy mode through the HTTP front, with the stack's API key."""
    answer = httpx.put(
        f"{stack.api_url}/numbers/{SENDER}", headers={"x-api-key": stack.api_key}, json={"mode": "proxy"}, timeout=30
    )
    if answer.status_code not in (200, 201):
        raise RuntimeError(
            f"send_path: configuring number {SENDER} answered {answer.status_code}: {answer.text[:2000]} "
            "(the manage handler's traceback, if any, is on stderr above)"
        )


def _numbers_key(stack: LocalStack) -> dict[str, dict[str, str]]:
    """A key of the numbers table (hash key only; no such item needs to exist), built from its declaration."""
    spec = table_specs(stack.template, stack.parameter_overrides)[NUMBERS_TABLE]
    types = {item["AttributeName"]: item["AttributeType"] for item in spec.create_kwargs["AttributeDefinitions"]}
    key: dict[str, dict[str, str]] = {}
    for item in spec.create_kwargs["KeySchema"]:
        kind = types[item["AttributeName"]]
        key[item["AttributeName"]] = {kind: "1" if kind in ("S", "N") else "MQ=="}
    return key


def _drain_callbacks(stack: LocalStack) -> None:
    """Wait until the sandbox has posted every status callback (outside any timed or counted window)."""
    answer = httpx.post(f"{stack.aircall_url}/_sandbox/callbacks/drain", json={"timeout_s": 30}, timeout=40)
    answer.raise_for_status()


def _aircall_requests(stack: LocalStack) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.aircall_url}/_sandbox/requests", timeout=30)
    answer.raise_for_status()
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


def _last_seq(stack: LocalStack) -> int:
    return max((int(entry["seq"]) for entry in _aircall_requests(stack)), default=0)


def _aircall_since(stack: LocalStack, seq: int) -> list[dict[str, Any]]:
    return [entry for entry in _aircall_requests(stack) if int(entry["seq"]) > seq]


# ----------------------------------------------------------------------------------------------- events


def _send_event(stack: LocalStack, spec: FunctionSpec) -> dict[str, Any]:
    """One API Gateway (REST, proxy, payload v1) event for POST /messages, as the front builds it."""
    method, path = SEND_ROUTE
    route = next(route for route in spec.routes if route.path == path)
    request_id = str(uuid.uuid4())
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "bench.execute-api.local",
        "User-Agent": "bench",
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "x-api-key": stack.api_key,
        "Idempotency-Key": f"bench-{uuid.uuid4()}",
    }
    now = datetime.now(UTC)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "bench1",
            "resourcePath": path,
            "httpMethod": method,
            "extendedRequestId": "bench=",
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{route.stage}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": route.stage,
            "domainPrefix": "bench",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "bench", "apiKey": stack.api_key},
            "domainName": "bench.execute-api.local",
            "apiId": "bench",
        },
        "body": json.dumps({"from": SENDER, "to": RECIPIENT, "text": "bench"}),
        "isBase64Encoded": False,
    }


def _check_created(answer: Any, where: str) -> None:
    if not isinstance(answer, dict) or answer.get("statusCode") != 201:
        body = answer.get("body") if isinstance(answer, dict) else answer
        status = answer.get("statusCode") if isinstance(answer, dict) else None
        raise RuntimeError(f"send_path: {where}: the send handler answered {status}, not 201: {body}")


# ----------------------------------------------------------------------------------------------- cold start


def _probe(
    python: Path, body: str, event: dict[str, Any], spec: FunctionSpec, stack: LocalStack, env: dict[str, str]
) -> Any:
    script = _PROBE.format(
        event=json.dumps(event),
        function_name=spec.function_name,
        memory=spec.memory_size,
        arn=f"arn:aws:lambda:{stack.region}:123456789012:function:{spec.function_name}",
        request_id=str(uuid.uuid4()),
        timeout_ms=spec.timeout * 1000,
        body=body,
        leak_check=lambda_env.leaked_modules_check(),
        marker=_MARKER,
    )
    command = [str(python), *lambda_env.PYTHON_FLAGS, "-c", script]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    results = [line[len(_MARKER) :] for line in done.stdout.splitlines() if line.startswith(_MARKER)]
    if done.returncode != 0 or not results:
        raise RuntimeError(
            f"send_path: a cold-start probe failed (exit {done.returncode}):\n"
            f"--- stderr\n{done.stderr[-4000:]}\n--- stdout\n{done.stdout[-2000:]}"
        )
    result = json.loads(results[-1])
    lambda_env.check_not_leaked(result["leaked"], "send_path")
    return result


def _cold_start(stack: LocalStack, spec: FunctionSpec) -> dict[str, object]:
    python = lambda_env.python()
    code_uri = spec.code_uri
    if code_uri is None:
        raise RuntimeError(f"send_path: {spec.logical_id} has no local CodeUri")
    getitem_body = _GETITEM_BODY.format(table=stack.tables[NUMBERS_TABLE], key=_numbers_key(stack))
    samples: dict[str, list[float]] = {"send_handler": [], "boto3_getitem": []}
    with lambda_env.source_copies([code_uri, *spec.layer_dirs]) as copies:
        layers = [copies[directory] for directory in spec.layer_dirs]
        env = _probe_environment(_function_environment(stack, spec), spec, copies[code_uri], layers)
        handler = copies[code_uri] / spec.handler_file.relative_to(code_uri)
        send_body = _SEND_BODY.format(path=str(handler), attribute=spec.handler_attribute)
        for index in range(SAMPLES):
            sent = _probe(python, send_body, _send_event(stack, spec), spec, stack, env)
            _check_created(sent["answer"], f"cold-start sample {index + 1}")
            samples["send_handler"].append(float(sent["seconds"]))
            _drain_callbacks(stack)
            baseline = _probe(python, getitem_body, _send_event(stack, spec), spec, stack, env)
            samples["boto3_getitem"].append(float(baseline["seconds"]))
    send = statistics.median(samples["send_handler"])
    getitem = statistics.median(samples["boto3_getitem"])
    return {
        "send_cold_start_ms": round(send * 1000, 1),
        "boto3_getitem_cold_ms": round(getitem * 1000, 1),
        "send_cold_start_ratio_to_boto3_getitem": round(send / getitem, 2),
    }


# ----------------------------------------------------------------------------------------------- round trips


class AwsCallCounter:
    """Counts the AWS API calls (service, operation) made by one thread, at `botocore.endpoint.Endpoint.
    make_request`: every boto3 client call and every pynamodb call goes through it once per API call (retries
    happen inside it, so a retried call still counts once)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._thread = threading.get_ident()
        self._original: Callable[..., Any] | None = None

    def __enter__(self) -> AwsCallCounter:
        from botocore.endpoint import Endpoint

        original = Endpoint.make_request
        self._original = original
        counter = self

        def make_request(endpoint: Any, operation_model: Any, request_dict: Any) -> Any:
            if threading.get_ident() == counter._thread:
                service = str(operation_model.service_model.endpoint_prefix)
                counter.calls.append((service, str(operation_model.name)))
            return original(endpoint, operation_model, request_dict)

        Endpoint.make_request = make_request  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *_exc: object) -> None:
        from botocore.endpoint import Endpoint

        if self._original is not None:
            Endpoint.make_request = self._original  # type: ignore[method-assign]

    def take(self, service: str = "dynamodb") -> tuple[Counter[str], Counter[str]]:
        """The operations of `service`, and the other calls as `service:Operation`, counted since the last
        `take`; every call is then forgotten."""
        operations = Counter(operation for name, operation in self.calls if name == service)
        others = Counter(f"{name}:{operation}" for name, operation in self.calls if name != service)
        self.calls.clear()
        return operations, others


def _check_counter_sees_pynamodb(counter: AwsCallCounter, table_name: str, key_name: str) -> None:
    """A pynamodb model on the numbers table: its one GetItem must be counted, else the counts mean nothing."""
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.exceptions import DoesNotExist
    from pynamodb.models import Model

    meta = type("Meta", (), {"table_name": table_name})
    probe: Any = type(
        "BenchCounterProbe", (Model,), {"Meta": meta, "key": UnicodeAttribute(hash_key=True, attr_name=key_name)}
    )
    counter.take()
    with contextlib.suppress(DoesNotExist):
        probe.get("bench-does-not-exist")
    seen, others = counter.take()
    if seen != Counter({"GetItem": 1}) or others:
        raise RuntimeError(
            f"send_path: the call counter did not see pynamodb's GetItem exactly once: {dict(seen | others)}"
        )


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The handlers' log lines and metrics (stdout in Lambda, i.e. CloudWatch) go to stderr, keeping stdout for
    the bench's table; also for the front's threads (the inbound handler answering the sandbox's callbacks)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _fresh_layer_modules(spec: FunctionSpec) -> Iterator[None]:
    """Import the layers' packages anew (their module-level caches empty, as in a new Lambda instance) and put
    this process's modules back afterwards (the front's handlers keep using them meanwhile)."""
    from aws_lambda_powertools.utilities import parameters

    tops = {
        entry.stem if entry.suffix == ".py" else entry.name
        for directory in spec.layer_dirs
        for entry in directory.iterdir()
        if (entry.is_dir() and (entry / "__init__.py").is_file()) or entry.suffix == ".py"
    }

    def owned(name: str) -> bool:
        return name.split(".", 1)[0] in tops

    saved = {name: module for name, module in sys.modules.items() if owned(name)}
    for name in saved:
        del sys.modules[name]
    parameters.clear_caches()
    try:
        yield
    finally:
        for name in [name for name in sys.modules if owned(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
        parameters.clear_caches()


def _load_handler(spec: FunctionSpec) -> Callable[[Any, Any], Any]:
    name = f"bench_send_path_{spec.logical_id}"
    module_spec = importlib.util.spec_from_file_location(name, spec.handler_file)
    if module_spec is None or module_spec.loader is None:
        raise RuntimeError(f"send_path: cannot import {spec.handler_file}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    handler: Callable[[Any, Any], Any] = getattr(module, spec.handler_attribute)
    return handler


def _path_shape(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


def _per_send(operations: Counter[str], sends: int) -> dict[str, float]:
    return {name: round(count / sends, 2) for name, count in sorted(operations.items())}


def _round_trips(stack: LocalStack, spec: FunctionSpec) -> dict[str, object]:
    _drain_callbacks(stack)
    key_name = next(iter(_numbers_key(stack)))
    environment = _function_environment(stack, spec)
    with _environment(environment), _fresh_layer_modules(spec), AwsCallCounter() as counter:
        _check_counter_sees_pynamodb(counter, stack.tables[NUMBERS_TABLE], key_name)
        seq = _last_seq(stack)
        # The first send counts what importing the handler does too (a Lambda instance's init phase).
        handler = _load_handler(spec)

        def send(where: str) -> None:
            answer = handler(_send_event(stack, spec), LambdaContext.for_function(spec, stack.region))
            _check_created(answer, where)

        send("first in-process send")
        first, first_others = counter.take()
        first_aircall = _aircall_since(stack, seq)
        seq = _last_seq(stack)
        for index in range(WARM_SENDS):
            send(f"warm send {index + 1}")
        warm, warm_others = counter.take()
        warm_aircall = _aircall_since(stack, seq)
        _drain_callbacks(stack)
    aircall_paths = Counter(f"{entry['method']} {_path_shape(str(entry['path']))}" for entry in warm_aircall)
    return {
        "dynamodb_round_trips_first_send": sum(first.values()),
        "dynamodb_operations_first_send": _per_send(first, 1),
        "aircall_calls_first_send": len(first_aircall),
        "dynamodb_round_trips_per_send": round(sum(warm.values()) / WARM_SENDS, 2),
        "dynamodb_operations_per_send": _per_send(warm, WARM_SENDS),
        "aircall_calls_per_send": round(len(warm_aircall) / WARM_SENDS, 2),
        "aircall_requests_per_send": _per_send(aircall_paths, WARM_SENDS),
        "other_aws_calls_first_send": _per_send(first_others, 1),
        "other_aws_calls_per_send": _per_send(warm_others, WARM_SENDS),
    }


# ----------------------------------------------------------------------------------------------- run


def run() -> dict[str, object]:
    sandbox = SandboxConfig(requests_per_minute=REQUESTS_PER_MINUTE, callback_delay_ms=10)
    settings = {**os.environ, "AIRCALL_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE)}
    started = time.perf_counter()
    # The handlers running in this process (the front's, and the send handler in part 2) log to stdout, as in
    # Lambda; stdout is kept for the bench's table.
    with (
        _stdout_to_stderr(),
        LocalStack(dynamodb_port=0, aircall_port=0, api_port=0, sandbox_config=sandbox, environ=settings) as stack,
    ):
        print(f"send_path: local stack up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        emulator_pid = stack.dynamodb.pid if stack.dynamodb else None
        spec = _send_function(stack)
        _configure_number(stack)
        results = _cold_start(stack, spec)
        results.update(_round_trips(stack, spec))
    _check_stopped(emulator_pid)
    return results


def _check_stopped(pid: int | None, timeout: float = 10.0) -> None:
    """The stack's teardown must not leave the moto server behind (the sandbox and front are threads)."""
    deadline = time.monotonic() + timeout
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    if pid is not None:
        raise RuntimeError(f"send_path: the DynamoDB emulator (pid {pid}) still runs after the stack stopped")
