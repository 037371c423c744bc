"""The send path against the whole local stack (moto server + Aircall sandbox + HTTP front), started once.

1. Cold start: a fresh interpreter, with the environment the SendFunction gets from `template.yaml` (through
   the local stack), imports the send handler and serves one `POST /messages`; the baseline is a fresh
   interpreter that imports boto3, creates a DynamoDB client and does one GetItem on the numbers table of the
   same emulator. The subjects are interleaved over the samples (a busy moment hits both alike) and the
   medians are compared. The functions hold no tracer (Lambda's active tracing needs none in the function), so
   nothing differs from Lambda there. SnapStart's shape is probed too (`stack_bench.RESTORED_BODY`): the import
   and the before-snapshot hook untimed (reported as the init Lambda runs before the snapshot), then timed what a
   restored instance does: the after-restore hook and the request. Lambda's restore itself is not measurable here.
   Both run as in Lambda, not in the dev venv: `.venv-lambda/bin/python -s` (see `bench.lambda_env`: a venv
   holding exactly `layers/shared/requirements.txt`, built on first use), with only the function's code
   directory and the layers on the path (/var/task and /opt/python in Lambda; copies as deployed: the layer
   precompiled as layers/shared/Makefile builds it, the function's code compiled on every cold start), and the
   variables the Lambda runtime
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
What this and `bench.inbound_path` share (probes, environments, the call counter) is in `bench.stack_bench`.
"""

from __future__ import annotations

import json
import re
import statistics
import uuid
from collections import Counter
from typing import Any

from bench import stack_bench
from bench.stack_bench import AwsCallCounter
from local_stack.front import LambdaContext
from local_stack.stack import LocalStack
from local_stack.template import FunctionSpec

SAMPLES = 7
WARM_SENDS = 20
SEND_ROUTE = ("POST", "/messages")
# A French fixed line: domestic sends need no registration or consent; the recipient is another French
# fixed line (valid for phonenumbers, so the gateway and the sandbox accept it).
SENDER = "100005"
RECIPIENT = "+33145678901"
# Aircall's company request budget per minute, for the gateway and for the sandbox: every sample sends.
WHERE = "send_path"


# ----------------------------------------------------------------------------------------------- events


def _send_event(stack: LocalStack, spec: FunctionSpec) -> dict[str, Any]:
    """One API Gateway (REST, proxy, payload v1) event for POST /messages, as the front builds it."""
    method, path = SEND_ROUTE
    headers = stack_bench.gateway_headers(**{"x-api-key": stack.api_key, "Idempotency-Key": f"bench-{uuid.uuid4()}"})
    body = json.dumps({"from": SENDER, "to": RECIPIENT, "text": "bench"})
    return stack_bench.api_event(spec, method, path, headers, body, stack.api_key)


def _check_created(answer: Any, where: str) -> None:
    if not isinstance(answer, dict) or answer.get("statusCode") != 201:
        body = answer.get("body") if isinstance(answer, dict) else answer
        status = answer.get("statusCode") if isinstance(answer, dict) else None
        raise RuntimeError(f"send_path: {where}: the send handler answered {status}, not 201: {body}")


# ----------------------------------------------------------------------------------------------- cold start


def _cold_start(stack: LocalStack, spec: FunctionSpec) -> dict[str, object]:
    getitem_body = stack_bench.getitem_body(stack)
    samples: dict[str, list[float]] = {"send_handler": [], "boto3_getitem": [], "restored": [], "snapshot_init": []}
    with stack_bench.Prober(stack, spec, WHERE) as prober:
        for index in range(SAMPLES):
            sent = prober.run(prober.handler_body, _send_event(stack, spec))
            _check_created(sent["answer"], f"cold-start sample {index + 1}")
            samples["send_handler"].append(float(sent["seconds"]))
            stack_bench.drain_callbacks(stack)
            restored = prober.run(prober.restored_body, _send_event(stack, spec))
            _check_created(restored["answer"], f"SnapStart sample {index + 1}")
            samples["restored"].append(float(restored["seconds"]))
            samples["snapshot_init"].append(float(restored["init"]))
            stack_bench.drain_callbacks(stack)
            baseline = prober.run(getitem_body, _send_event(stack, spec))
            samples["boto3_getitem"].append(float(baseline["seconds"]))
    send = statistics.median(samples["send_handler"])
    getitem = statistics.median(samples["boto3_getitem"])
    return {
        "send_cold_start_ms": round(send * 1000, 1),
        "boto3_getitem_cold_ms": round(getitem * 1000, 1),
        "send_cold_start_ratio_to_boto3_getitem": round(send / getitem, 2),
        # SnapStart: the init Lambda runs once before the snapshot (import + preloads), and what a restored
        # instance still does (the after-restore hook, reconnecting, the request), without Lambda's restore itself.
        "send_snapstart_init_before_snapshot_ms": round(statistics.median(samples["snapshot_init"]) * 1000, 1),
        "send_after_restore_ms": round(statistics.median(samples["restored"]) * 1000, 1),
        "send_after_restore_ratio_to_boto3_getitem": round(statistics.median(samples["restored"]) / getitem, 2),
    }


# ----------------------------------------------------------------------------------------------- round trips


def _path_shape(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


def _round_trips(stack: LocalStack, spec: FunctionSpec) -> dict[str, object]:
    stack_bench.drain_callbacks(stack)
    environment = stack_bench.function_environment(stack, spec)
    with stack_bench.environment(environment), stack_bench.fresh_layer_modules(spec), AwsCallCounter() as counter:
        stack_bench.check_counter_sees_pynamodb(counter, stack, WHERE)
        seq = stack_bench.last_seq(stack)
        # The first send counts what importing the handler does too (a Lambda instance's init phase).
        handler = stack_bench.load_handler(spec, "bench_send_path")

        def send(where: str) -> None:
            answer = handler(_send_event(stack, spec), LambdaContext.for_function(spec, stack.region))
            _check_created(answer, where)

        send("first in-process send")
        first, first_others = counter.take()
        first_aircall = stack_bench.aircall_since(stack, seq)
        seq = stack_bench.last_seq(stack)
        for index in range(WARM_SENDS):
            send(f"warm send {index + 1}")
        warm, warm_others = counter.take()
        warm_aircall = stack_bench.aircall_since(stack, seq)
        stack_bench.drain_callbacks(stack)
    aircall_paths = Counter(f"{entry['method']} {_path_shape(str(entry['path']))}" for entry in warm_aircall)
    per_send = stack_bench.per_call
    return {
        "dynamodb_round_trips_first_send": sum(first.values()),
        "dynamodb_operations_first_send": per_send(first, 1),
        "aircall_calls_first_send": len(first_aircall),
        "dynamodb_round_trips_per_send": round(sum(warm.values()) / WARM_SENDS, 2),
        "dynamodb_operations_per_send": per_send(warm, WARM_SENDS),
        "aircall_calls_per_send": round(len(warm_aircall) / WARM_SENDS, 2),
        "aircall_requests_per_send": per_send(aircall_paths, WARM_SENDS),
        "other_aws_calls_first_send": per_send(first_others, 1),
        "other_aws_calls_per_send": per_send(warm_others, WARM_SENDS),
    }


# ----------------------------------------------------------------------------------------------- run


def run() -> dict[str, object]:
    with stack_bench.running_stack(WHERE, SENDER) as stack:
        spec = stack_bench.function_for_route(stack, *SEND_ROUTE)
        results = _cold_start(stack, spec)
        results.update(_round_trips(stack, spec))
    return results
