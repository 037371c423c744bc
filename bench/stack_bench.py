"""What the benchmarks of a handler against the whole local stack share (`bench.send_path`, `bench.inbound_path`).

- Cold-start probes: a fresh `.venv-lambda/bin/python -s` (see `bench.lambda_env`) in a Lambda-like environment
  (the function's variables from the template through the stack, the ones the Lambda runtime defines, only the
  function's code and the layers on the path, as deployed: the layer precompiled) runs a timed body, then
  checks that no dev tool is importable. `HANDLER_BODY` imports a handler and serves one event; `GETITEM_BODY`
  is the baseline (import boto3, create a DynamoDB client, one GetItem).
- In-process calls: the function's environment, the layers' packages imported anew (cold module caches, as a new
  Lambda instance), the handler loaded from its file, and `AwsCallCounter` counting the calling thread's AWS API
  calls at botocore's `Endpoint.make_request`.
- The stack: the function serving a route, a number configured through the front, the sandbox's request log and
  callback queue, API Gateway (REST, proxy, payload v1) events.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
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

from bench import lambda_env
from local_stack.stack import LocalStack
from local_stack.template import FunctionSpec, functions, table_specs

NUMBERS_TABLE = "NumbersTable"  # logical id in template.yaml
# What the authorizer hands the functions for the deployment's admin key (api.access.authorizer_context).
ADMIN_CONTEXT = {"client_id": "admin", "scopes": "admin", "number_ids": "*", "principalId": "admin"}
# What a fresh probe keeps from this process's environment (the rest is the function's, as in Lambda).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT")
_MARKER = "BENCH_PROBE_RESULT "

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
print(
    {marker!r}
    + json.dumps({{"seconds": elapsed, "answer": answer, "leaked": leaked, "init": globals().get("init_seconds")}}),
    flush=True,
)
"""

HANDLER_BODY = """
spec = importlib.util.spec_from_file_location("bench_handler", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
answer = module.{attribute}(event, Context())
"""

# SnapStart's shape: the init (import and the before-snapshot hook) runs untimed, as Lambda runs it when it
# publishes a version, and is reported as `init`; the timed part is what a restored instance does: the after-restore
# hook (re-seed, drop the connections and credentials), then the request. Lambda's own restore of the snapshot
# (Firecracker resuming the memory) is not in it: nothing here can show that.
RESTORED_BODY = """
spec = importlib.util.spec_from_file_location("bench_handler", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
from aircall_sms.use_cases import snapshot
snapshot.before_snapshot()
init_seconds = time.perf_counter() - start
start = time.perf_counter()  # the snapshot: what follows, a restored instance does
snapshot.after_restore()
answer = module.{attribute}(event, Context())
"""

GETITEM_BODY = """
import boto3
client = boto3.client("dynamodb")
client.get_item(TableName={table!r}, Key={key!r})
answer = None
"""


# ----------------------------------------------------------------------------------------------- the stack


def function_for_route(stack: LocalStack, method: str, path: str) -> FunctionSpec:
    """The function that serves `method path`, as the template declares it (environment resolved)."""
    front = stack.front
    assert front is not None, "the local stack is not started"
    for spec in front.functions.values():
        if any(route.method in (method, "ANY") and route.path == path for route in spec.routes):
            return spec
    raise RuntimeError(f"no function of {stack.template.path} serves {method} {path}")


def function_environment(stack: LocalStack, spec: FunctionSpec) -> dict[str, str]:
    """What the function's process gets: the template's variables (resolved by the stack) plus the stack's
    endpoints, dummy credentials, region and POWERTOOLS_TRACE_DISABLED (no X-Ray daemon here)."""
    return {**spec.environment, **stack.handler_environment()}


def probe_environment(
    function_env: dict[str, str], spec: FunctionSpec, code_dir: Path, layer_dirs: list[Path]
) -> dict[str, str]:
    """A Lambda-like process environment: the function's variables, the ones the Lambda runtime defines for
    every function, its code directory and the layers on the path (as /var/task and /opt/python), and from this
    process only what an interpreter needs to run."""
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    return {
        **inherited,
        **lambda_env.runtime_environment(spec.function_name, spec.memory_size, spec.handler, code_dir),
        **function_env,
        "PYTHONPATH": os.pathsep.join(str(directory) for directory in (code_dir, *layer_dirs)),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def configure_number(stack: LocalStack, number_id: str, where: str) -> None:
    """PUT /numbers/{number_id} in proxy mode through the HTTP front, with the stack's API key."""
    answer = httpx.put(
        f"{stack.api_url}/numbers/{number_id}", headers={"x-api-key": stack.api_key}, json={"mode": "proxy"}, timeout=30
    )
    if answer.status_code not in (200, 201):
        raise RuntimeError(
            f"{where}: configuring number {number_id} answered {answer.status_code}: {answer.text[:2000]} "
            "(the manage handler's traceback, if any, is on stderr above)"
        )


def numbers_key(stack: LocalStack) -> dict[str, dict[str, str]]:
    """A key of the numbers table (hash key only; no such item needs to exist), built from its declaration."""
    spec = table_specs(stack.template, stack.parameter_overrides)[NUMBERS_TABLE]
    types = {item["AttributeName"]: item["AttributeType"] for item in spec.create_kwargs["AttributeDefinitions"]}
    key: dict[str, dict[str, str]] = {}
    for item in spec.create_kwargs["KeySchema"]:
        kind = types[item["AttributeName"]]
        key[item["AttributeName"]] = {kind: "1" if kind in ("S", "N") else "MQ=="}
    return key


def getitem_body(stack: LocalStack) -> str:
    """The baseline probe's body: boto3, a DynamoDB client and one GetItem on the numbers table."""
    return GETITEM_BODY.format(table=stack.tables[NUMBERS_TABLE], key=numbers_key(stack))


def drain_callbacks(stack: LocalStack) -> None:
    """Wait until the sandbox has posted every status callback (outside any timed or counted window)."""
    answer = httpx.post(f"{stack.aircall_url}/_sandbox/callbacks/drain", json={"timeout_s": 30}, timeout=40)
    answer.raise_for_status()


def drain_streams(stack: LocalStack) -> None:
    """Wait until the stack's stream pollers have handed every record written so far to their function (the
    EventsFunction, in this process): outside any timed window, so that work does not run during the next
    probe (in Lambda it runs elsewhere, not on the function's CPU)."""
    if stack.streams is not None:
        stack.drain_streams(timeout=60)


def aircall_requests(stack: LocalStack) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.aircall_url}/_sandbox/requests", timeout=30)
    answer.raise_for_status()
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


def last_seq(stack: LocalStack) -> int:
    return max((int(entry["seq"]) for entry in aircall_requests(stack)), default=0)


def aircall_since(stack: LocalStack, seq: int) -> list[dict[str, Any]]:
    return [entry for entry in aircall_requests(stack) if int(entry["seq"]) > seq]


# ----------------------------------------------------------------------------------------------- events


def api_event(
    spec: FunctionSpec, method: str, path: str, headers: dict[str, str], body: str, api_key: str | None
) -> dict[str, Any]:
    """One API Gateway (REST, proxy, payload v1) event for `method path` of `spec`, as the front builds it; a
    keyed route's event carries the authorizer's context of the stack's admin key (as the front's authorizer
    would put it there)."""
    route = next(route for route in spec.routes if route.path == path)
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    identity: dict[str, Any] = {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent")}
    if api_key is not None:
        identity["apiKey"] = api_key
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
            "identity": identity,
            "domainName": "bench.execute-api.local",
            "apiId": "bench",
        }
        | ({"authorizer": dict(ADMIN_CONTEXT)} if route.authorizer is not None else {}),
        "body": body,
        "isBase64Encoded": False,
    }


def gateway_headers(user_agent: str = "bench", **extra: str) -> dict[str, str]:
    """The headers API Gateway passes for a JSON request from `user_agent`, then `extra`."""
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "bench.execute-api.local",
        "User-Agent": user_agent,
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **extra,
    }


# ----------------------------------------------------------------------------------------------- cold start


class Prober:
    """Runs cold-start probes of one function: its code and the layers copied without bytecode, the
    Lambda-like environment built once. A context manager (the copies live in a temporary directory)."""

    def __init__(self, stack: LocalStack, spec: FunctionSpec, where: str) -> None:
        if spec.code_uri is None:
            raise RuntimeError(f"{where}: {spec.logical_id} has no local CodeUri")
        self.stack, self.spec, self.where = stack, spec, where
        self.python = lambda_env.python()
        self._stack = contextlib.ExitStack()
        self.env: dict[str, str] = {}
        self.handler_body = ""
        self.restored_body = ""

    def __enter__(self) -> Prober:
        code_uri = self.spec.code_uri
        assert code_uri is not None
        copies = self._stack.enter_context(
            lambda_env.source_copies([code_uri, *self.spec.layer_dirs], layers=self.spec.layer_dirs)
        )
        layers = [copies[directory] for directory in self.spec.layer_dirs]
        self.env = probe_environment(function_environment(self.stack, self.spec), self.spec, copies[code_uri], layers)
        handler = copies[code_uri] / self.spec.handler_file.relative_to(code_uri)
        self.handler_body = HANDLER_BODY.format(path=str(handler), attribute=self.spec.handler_attribute)
        self.restored_body = RESTORED_BODY.format(path=str(handler), attribute=self.spec.handler_attribute)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def run(self, body: str, event: dict[str, Any]) -> Any:
        """One fresh interpreter runs `body` (timed) with `event`: {"seconds", "answer", "leaked"}."""
        spec = self.spec
        script = _PROBE.format(
            event=json.dumps(event),
            function_name=spec.function_name,
            memory=spec.memory_size,
            arn=f"arn:aws:lambda:{self.stack.region}:123456789012:function:{spec.function_name}",
            request_id=str(uuid.uuid4()),
            timeout_ms=spec.timeout * 1000,
            body=body,
            leak_check=lambda_env.leaked_modules_check(),
            marker=_MARKER,
        )
        command = [str(self.python), *lambda_env.PYTHON_FLAGS, "-c", script]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        results = [line[len(_MARKER) :] for line in done.stdout.splitlines() if line.startswith(_MARKER)]
        if done.returncode != 0 or not results:
            raise RuntimeError(
                f"{self.where}: a cold-start probe failed (exit {done.returncode}):\n"
                f"--- stderr\n{done.stderr[-4000:]}\n--- stdout\n{done.stdout[-2000:]}"
            )
        result = json.loads(results[-1])
        lambda_env.check_not_leaked(result["leaked"], self.where)
        return result


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


def check_counter_sees_pynamodb(counter: AwsCallCounter, stack: LocalStack, where: str) -> None:
    """A pynamodb model on the numbers table: its one GetItem must be counted, else the counts mean nothing."""
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.exceptions import DoesNotExist
    from pynamodb.models import Model

    key_name = next(iter(numbers_key(stack)))
    meta = type("Meta", (), {"table_name": stack.tables[NUMBERS_TABLE]})
    probe: Any = type(
        "BenchCounterProbe", (Model,), {"Meta": meta, "key": UnicodeAttribute(hash_key=True, attr_name=key_name)}
    )
    counter.take()
    with contextlib.suppress(DoesNotExist):
        probe.get("bench-does-not-exist")
    seen, others = counter.take()
    if seen != Counter({"GetItem": 1}) or others:
        raise RuntimeError(
            f"{where}: the call counter did not see pynamodb's GetItem exactly once: {dict(seen | others)}"
        )


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
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
def stdout_to_stderr() -> Iterator[None]:
    """The handlers' log lines and metrics (stdout in Lambda, i.e. CloudWatch) go to stderr, keeping stdout for
    the bench's table; also for the front's threads (handlers answering the sandbox's callbacks)."""
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
def fresh_layer_modules(spec: FunctionSpec) -> Iterator[None]:
    """Import the layers' packages anew (their module-level caches empty, as in a new Lambda instance) and put
    this process's modules back afterwards (the front's handlers keep using them meanwhile)."""
    with _fresh_modules(spec.layer_dirs):
        yield


@contextlib.contextmanager
def own_layer_modules(stack: LocalStack) -> Iterator[None]:
    """For the whole life of `stack` (enter it inside): its handlers import the layers' packages anew, and the
    process's modules are put back afterwards. The gateway's modules cache what the first stack of the process
    gave them (table connections on its emulator's URL, the settings, the Aircall client, cached secrets): a
    second stack in the same process would otherwise reach the first one's stopped emulator."""
    with _fresh_modules(
        tuple(dict.fromkeys(d for spec in functions(stack.template).values() for d in spec.layer_dirs))
    ):
        yield


@contextlib.contextmanager
def _fresh_modules(layer_dirs: tuple[Path, ...]) -> Iterator[None]:
    from aws_lambda_powertools.utilities import parameters

    tops = {
        entry.stem if entry.suffix == ".py" else entry.name
        for directory in layer_dirs
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


def load_handler(spec: FunctionSpec, prefix: str) -> Callable[[Any, Any], Any]:
    name = f"{prefix}_{spec.logical_id}"
    module_spec = importlib.util.spec_from_file_location(name, spec.handler_file)
    if module_spec is None or module_spec.loader is None:
        raise RuntimeError(f"{prefix}: cannot import {spec.handler_file}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    handler: Callable[[Any, Any], Any] = getattr(module, spec.handler_attribute)
    return handler


def per_call(operations: Counter[str], calls: int) -> dict[str, float]:
    return {name: round(count / calls, 2) for name, count in sorted(operations.items())}


def check_stopped(pid: int | None, where: str, timeout: float = 10.0) -> None:
    """The stack's teardown must not leave the moto server behind (the sandbox and front are threads)."""
    deadline = time.monotonic() + timeout
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    if pid is not None:
        raise RuntimeError(f"{where}: the DynamoDB emulator (pid {pid}) still runs after the stack stopped")


# Aircall's company request budget per minute, for the gateway and for the sandbox: every sample sends.
REQUESTS_PER_MINUTE = 100_000


@contextlib.contextmanager
def running_stack(where: str, sender: str) -> Iterator[LocalStack]:
    """The local stack for one bench module: a budget no sample can spend, `sender` configured, its own copies
    of the gateway's modules, stdout kept for the bench's table (the handlers log to it, as in Lambda); on exit,
    a check that the emulator stopped."""
    from aircall_sandbox import SandboxConfig

    # The stack's callback URL is its front: plain HTTP on loopback, which only this allowance lets through.
    sandbox = SandboxConfig(
        requests_per_minute=REQUESTS_PER_MINUTE, callback_delay_ms=10, allow_http_loopback_callbacks=True
    )
    settings = {**os.environ, "AIRCALL_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE)}
    started = time.perf_counter()
    stack = LocalStack(dynamodb_port=0, aircall_port=0, api_port=0, sandbox_config=sandbox, environ=settings)
    with stdout_to_stderr(), own_layer_modules(stack), stack:
        print(f"{where}: local stack up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        emulator_pid = stack.dynamodb.pid if stack.dynamodb else None
        configure_number(stack, sender, where)
        yield stack
    check_stopped(emulator_pid, where)
