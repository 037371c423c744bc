"""The client key authorizer against the local stack: its cold start, its warm cost, and what it reads.

1. Cold start: a fresh interpreter, with the environment the AuthorizerFunction gets from `template.yaml`,
   imports the authorizer and answers one REQUEST event naming a client key (one GetItem of KeysTable); the
   baseline is a fresh interpreter that imports boto3, makes a DynamoDB client and does one GetItem on the
   same emulator (`bench.stack_bench`'s probes, as the send path's cold start).
2. Warm: in this process, the handler answers `WARM_REQUESTS` requests naming the same key, with its decision
   cache on (`AUTHORIZER_CACHE_SECONDS` 300, the template's default) and off (0): milliseconds per request and
   DynamoDB requests per request (botocore's own counter, `stack_bench.AwsCallCounter`), beside one warm GetItem
   of the same table, so the authorizer's added latency per request reads as "within one DynamoDB read".
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench import stack_bench
from bench.stack_bench import AwsCallCounter
from local_stack.front import LambdaContext
from local_stack.stack import LocalStack
from local_stack.template import FunctionSpec

SAMPLES = 7
WARM_REQUESTS = 200
WHERE = "authorizer_path"
SENDER = "100005"
AUTHORIZER = "AuthorizerFunction"  # logical id in template.yaml


def _client_key(stack: LocalStack) -> str:
    made = httpx.post(
        f"{stack.api_url}/api-keys",
        headers={"x-api-key": stack.api_key},
        json={"name": "bench", "scopes": ["send", "read"], "number_ids": [int(SENDER)]},
        timeout=30,
    )
    if made.status_code != 201:
        raise RuntimeError(f"{WHERE}: POST /api-keys answered {made.status_code}: {made.text[:2000]}")
    return str(made.json()["key"])


def _event(key: str) -> dict[str, Any]:
    headers = stack_bench.gateway_headers(Authorization=f"Bearer {key}")
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:bench/v1/POST/messages",
        "resource": "/messages",
        "path": "/messages",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/messages", "httpMethod": "POST", "stage": "v1", "apiId": "bench"},
    }


def _check_allowed(answer: Any, where: str) -> None:
    if not isinstance(answer, dict) or answer.get("policyDocument", {}).get("Statement", [{}])[0].get("Effect") != (
        "Allow"
    ):
        raise RuntimeError(f"{WHERE}: {where}: the authorizer did not allow the key: {answer}")


def _cold_start(stack: LocalStack, spec: FunctionSpec, key: str) -> dict[str, object]:
    getitem_body = stack_bench.getitem_body(stack)
    samples: dict[str, list[float]] = {"authorizer": [], "boto3_getitem": []}
    with stack_bench.Prober(stack, spec, WHERE) as prober:
        for index in range(SAMPLES):
            allowed = prober.run(prober.handler_body, _event(key))
            _check_allowed(allowed["answer"], f"cold-start sample {index + 1}")
            samples["authorizer"].append(float(allowed["seconds"]))
            samples["boto3_getitem"].append(float(prober.run(getitem_body, _event(key))["seconds"]))
    cold = statistics.median(samples["authorizer"])
    getitem = statistics.median(samples["boto3_getitem"])
    return {
        "authorizer_cold_start_ms": round(cold * 1000, 1),
        "authorizer_cold_start_ratio_to_boto3_getitem": round(cold / getitem, 2),
    }


def _warm(stack: LocalStack, spec: FunctionSpec, key: str) -> dict[str, object]:
    results: dict[str, object] = {}
    for cache_seconds in ("300", "0"):
        environment = stack_bench.function_environment(stack, spec) | {"AUTHORIZER_CACHE_SECONDS": cache_seconds}
        with stack_bench.environment(environment), stack_bench.fresh_layer_modules(spec), AwsCallCounter() as counter:
            handler = stack_bench.load_handler(spec, f"bench_authorizer_{cache_seconds}")
            context = LambdaContext.for_function(spec, stack.region)
            _check_allowed(handler(_event(key), context), "first warm-up request")
            counter.take()
            started = time.perf_counter()
            for index in range(WARM_REQUESTS):
                _check_allowed(handler(_event(key), context), f"warm request {index + 1}")
            elapsed = time.perf_counter() - started
            operations, others = counter.take()
            suffix = "cached" if cache_seconds != "0" else "uncached"
            results[f"authorizer_warm_ms_{suffix}"] = round(elapsed * 1000 / WARM_REQUESTS, 3)
            results[f"authorizer_dynamodb_reads_per_request_{suffix}"] = round(
                sum(operations.values()) / WARM_REQUESTS, 2
            )
            results[f"authorizer_other_aws_calls_per_request_{suffix}"] = stack_bench.per_call(others, WARM_REQUESTS)
            if cache_seconds == "0":
                results["warm_getitem_ms"] = _warm_getitem_ms()
    getitem = float(results["warm_getitem_ms"])  # type: ignore[arg-type]
    uncached = float(results["authorizer_warm_ms_uncached"])  # type: ignore[arg-type]
    results["authorizer_uncached_ratio_to_one_getitem"] = round(uncached / getitem, 2) if getitem else None
    return results


def _warm_getitem_ms() -> float:
    """One warm GetItem of KeysTable on the gateway's own client, the same connection the authorizer uses."""
    from aircall_sms.settings import get_settings
    from aircall_sms.store.base import raw_client

    client, table = raw_client(), get_settings().keys_table
    key = {"key_id": {"S": "key_bench"}}
    client.get_item(TableName=table, Key=key)
    started = time.perf_counter()
    for _ in range(WARM_REQUESTS):
        client.get_item(TableName=table, Key=key)
    return round((time.perf_counter() - started) * 1000 / WARM_REQUESTS, 3)


def run() -> dict[str, object]:
    with stack_bench.running_stack(WHERE, SENDER) as stack:
        spec = stack.front.functions[AUTHORIZER] if stack.front else None
        if spec is None:
            raise RuntimeError(f"{WHERE}: the template has no {AUTHORIZER}")
        key = _client_key(stack)
        results = _cold_start(stack, spec, key)
        results.update(_warm(stack, spec, key))
    return results
