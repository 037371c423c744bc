"""Aircall's callbacks (`POST /webhooks/aircall`) against the whole local stack, measured as `bench.send_path`
measures the send path (its helpers are in `bench.stack_bench`).

The bench plays Aircall: it configures the sender number through the front (proxy mode, as `send_path`), reads
the number's callback token from the sandbox (`GET /v1/numbers/{id}/messages/configuration`, as the integration
tests do), then sets the sandbox's callbackUrl of that number to null (the token stays): the sandbox then
posts no status step of its own, which would move every sent message to `delivered` before the bench's
callback (making it "unchanged", not a status move). Messages are then sent through the front (`POST
/messages`, each answered 201 with its Aircall id), and every status callback the bench serves is a
`message.status_updated` with status `delivered` for a different one of them, in the sandbox's envelope
(webhook style) around the sandbox's own message object: a real queued -> delivered move, answered 200 with
result "updated". Every inbound callback is a `message.received` for a new message the sandbox received
(`POST /_sandbox/inbound`, its own Aircall id), from a contact of its own: answered 200, result "archived".

1. Cold start: a fresh interpreter, with the environment the InboundFunction gets from `template.yaml` (through
   the local stack), imports the inbound handler and serves one callback; the baseline is a fresh interpreter
   that imports boto3, creates a DynamoDB client and does one GetItem on the numbers table of the same
   emulator. Two subjects, a status callback and an inbound message; the three are interleaved over the
   samples and the medians compared. Same interpreter, environment and code copies as `send_path`. Every
   sample's answer is checked (200, result "updated" or "archived"): anything else fails the bench. After each
   subject, the bench waits for the stack's stream pollers to hand the records it wrote to the EventsFunction
   (in this process; in Lambda that work runs elsewhere), so it does not run during the next probe.
2. Round trips, in this process with the same environment: the handler's `lambda_handler` called directly, on
   cold caches first (the gateway's modules freshly imported, as in a new Lambda instance; the first callback
   counts the handler's import too), then `WARM_CALLBACKS` warm ones: once for status callbacks, once (with
   fresh modules again) for inbound messages. DynamoDB calls of the calling thread are counted at botocore's
   `Endpoint.make_request` (checked at start with a pynamodb model).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from bench import send_path, stack_bench
from bench.stack_bench import AwsCallCounter
from local_stack.front import LambdaContext
from local_stack.stack import LocalStack
from local_stack.template import FunctionSpec

SAMPLES = send_path.SAMPLES
WARM_CALLBACKS = 20
CALLBACK_ROUTE = ("POST", "/webhooks/aircall")
SENDER = send_path.SENDER
RECIPIENT = send_path.RECIPIENT
WHERE = "inbound_path"


def _contact(index: int) -> str:
    """The index-th contact writing to the number: French fixed lines, one per inbound message."""
    return f"+33145677{index:03d}"


# ----------------------------------------------------------------------------------------------- Aircall


class Aircall:
    """The bench's side of Aircall: the number's real callback token and the messages callbacks are about."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        config = stack.sandbox_config
        self._auth = (config.api_id, config.api_token)
        self.token = self._silence_callbacks()
        self._contacts = 0

    def _configuration_url(self) -> str:
        return f"{self.stack.aircall_url}/v1/numbers/{SENDER}/messages/configuration"

    def _configuration(self) -> dict[str, Any]:
        answer = httpx.get(self._configuration_url(), auth=self._auth, timeout=30)
        answer.raise_for_status()
        document: dict[str, Any] = answer.json()
        return document

    def _silence_callbacks(self) -> str:
        """The number's callback token; the sandbox posts nothing for the number from now on."""
        before = self._configuration()
        if not before.get("callbackUrl"):
            raise RuntimeError(f"{WHERE}: number {SENDER} has no callbackUrl in the sandbox: it is not configured")
        answer = httpx.post(self._configuration_url(), auth=self._auth, json={"callbackUrl": None}, timeout=30)
        answer.raise_for_status()
        after = self._configuration()
        if after.get("token") != before["token"] or after.get("callbackUrl") is not None:
            raise RuntimeError(f"{WHERE}: the sandbox changed the token or kept the callbackUrl: {after}")
        token: str = before["token"]
        return token

    def send(self, count: int) -> list[dict[str, Any]]:
        """`count` messages sent through the front (POST /messages): the sandbox's message objects, in order."""
        ids: list[str] = []
        for index in range(count):
            answer = httpx.post(
                f"{self.stack.api_url}/messages",
                headers={"x-api-key": self.stack.api_key, "Idempotency-Key": f"bench-{uuid.uuid4()}"},
                json={"from": SENDER, "to": RECIPIENT, "text": "bench"},
                timeout=30,
            )
            if answer.status_code != 201:
                raise RuntimeError(f"{WHERE}: send {index + 1} answered {answer.status_code}: {answer.text[:2000]}")
            ids.append(str(answer.json()["message"]["aircall_id"]))
        stack_bench.drain_callbacks(self.stack)
        stack_bench.drain_streams(self.stack)
        listed = httpx.get(
            f"{self.stack.aircall_url}/_sandbox/messages",
            params={"number_id": SENDER, "direction": "outbound"},
            timeout=30,
        )
        listed.raise_for_status()
        document = listed.json()
        by_id = {str(item["id"]): item for item in document.get("messages", document)}
        return [{key: value for key, value in by_id[aircall_id].items() if key != "sandbox"} for aircall_id in ids]

    def received(self) -> dict[str, Any]:
        """A new inbound message (the sandbox's message object), from a contact of its own."""
        contact = _contact(self._contacts)
        self._contacts += 1
        answer = httpx.post(
            f"{self.stack.aircall_url}/_sandbox/inbound",
            json={"number_id": int(SENDER), "from": contact, "body": "bench"},
            timeout=30,
        )
        answer.raise_for_status()
        document = answer.json()
        if document.get("delivery") is not None:
            raise RuntimeError(f"{WHERE}: the sandbox posted the inbound message itself: {document['delivery']}")
        message: dict[str, Any] = document["message"]
        return message

    # -- the callbacks, as API Gateway events

    def status_event(self, spec: FunctionSpec, message: dict[str, Any]) -> dict[str, Any]:
        """`message.status_updated` (delivered) for a sent message, in the sandbox's webhook envelope."""
        now = time.time()
        data = {**message, "status": "delivered", "updated_at": int(now * 1000)}
        return self._event(spec, "message.status_updated", int(now), data)

    def received_event(self, spec: FunctionSpec) -> dict[str, Any]:
        """`message.received` for a new inbound message, in the sandbox's webhook envelope."""
        message = self.received()
        return self._event(spec, "message.received", int(time.time()), message)

    def _event(self, spec: FunctionSpec, event: str, timestamp: int, data: dict[str, Any]) -> dict[str, Any]:
        payload = {"resource": "message", "event": event, "timestamp": timestamp, "token": self.token, "data": data}
        method, path = CALLBACK_ROUTE
        headers = stack_bench.gateway_headers(user_agent="bench-aircall")
        return stack_bench.api_event(spec, method, path, headers, json.dumps(payload), None)


def _check_handled(answer: Any, result: str, where: str) -> None:
    body: Any = answer.get("body") if isinstance(answer, dict) else answer
    status = answer.get("statusCode") if isinstance(answer, dict) else None
    try:
        document = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        document = None
    if status != 200 or not isinstance(document, dict) or document.get("result") != result:
        raise RuntimeError(
            f"{WHERE}: {where}: the inbound handler answered {status} {body!r}, not 200 with result {result!r}"
        )


# ----------------------------------------------------------------------------------------------- cold start


def _cold_start(stack: LocalStack, spec: FunctionSpec, aircall: Aircall) -> dict[str, object]:
    sent = aircall.send(2 * SAMPLES)  # a status for each cold and each restored sample
    getitem_body = stack_bench.getitem_body(stack)
    samples: dict[str, list[float]] = {
        "status": [],
        "received": [],
        "boto3_getitem": [],
        "status_restored": [],
        "received_restored": [],
    }
    with stack_bench.Prober(stack, spec, WHERE) as prober:
        for index in range(SAMPLES):
            status = prober.run(prober.handler_body, aircall.status_event(spec, sent[index]))
            _check_handled(status["answer"], "updated", f"cold-start status sample {index + 1}")
            samples["status"].append(float(status["seconds"]))
            stack_bench.drain_streams(stack)
            received = prober.run(prober.handler_body, aircall.received_event(spec))
            _check_handled(received["answer"], "archived", f"cold-start inbound sample {index + 1}")
            samples["received"].append(float(received["seconds"]))
            stack_bench.drain_streams(stack)
            # SnapStart's shape (stack_bench.RESTORED_BODY): what a restored instance does, for both kinds
            restored = prober.run(prober.restored_body, aircall.status_event(spec, sent[SAMPLES + index]))
            _check_handled(restored["answer"], "updated", f"SnapStart status sample {index + 1}")
            samples["status_restored"].append(float(restored["seconds"]))
            restored = prober.run(prober.restored_body, aircall.received_event(spec))
            _check_handled(restored["answer"], "archived", f"SnapStart inbound sample {index + 1}")
            samples["received_restored"].append(float(restored["seconds"]))
            stack_bench.drain_streams(stack)
            baseline = prober.run(getitem_body, {})
            samples["boto3_getitem"].append(float(baseline["seconds"]))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    getitem = medians["boto3_getitem"]
    return {
        "inbound_cold_start_ms": round(medians["status"] * 1000, 1),
        "inbound_boto3_getitem_cold_ms": round(getitem * 1000, 1),
        "inbound_cold_start_ratio_to_boto3_getitem": round(medians["status"] / getitem, 2),
        "inbound_received_cold_start_ms": round(medians["received"] * 1000, 1),
        "inbound_received_cold_start_ratio_to_boto3_getitem": round(medians["received"] / getitem, 2),
        "inbound_after_restore_ratio_to_boto3_getitem": round(medians["status_restored"] / getitem, 2),
        "inbound_received_after_restore_ratio_to_boto3_getitem": round(medians["received_restored"] / getitem, 2),
        # Every sample was checked: anything else fails the bench.
        "inbound_cold_start_answers": f"{SAMPLES} x 200 updated, {SAMPLES} x 200 archived",
    }


# ----------------------------------------------------------------------------------------------- round trips


def _count(
    stack: LocalStack,
    spec: FunctionSpec,
    events: list[dict[str, Any]],
    result: str,
    name: str,
    others: Counter[str],
) -> dict[str, object]:
    """Serve `events` in this process on a fresh instance: the first on cold caches, the rest warm."""
    with stack_bench.fresh_layer_modules(spec), AwsCallCounter() as counter:
        stack_bench.check_counter_sees_pynamodb(counter, stack, WHERE)
        # The first callback counts what importing the handler does too (a Lambda instance's init phase).
        handler = stack_bench.load_handler(spec, "bench_inbound_path")

        def serve(event: dict[str, Any], where: str) -> None:
            answer = handler(event, LambdaContext.for_function(spec, stack.region))
            _check_handled(answer, result, where)

        serve(events[0], f"first in-process {name}")
        first, first_others = counter.take()
        for index, event in enumerate(events[1:]):
            serve(event, f"warm {name} {index + 1}")
        warm, warm_others = counter.take()
    others.update(first_others + warm_others)
    per_call = stack_bench.per_call
    warm_count = len(events) - 1
    return {
        f"dynamodb_round_trips_first_{name}": sum(first.values()),
        f"dynamodb_operations_first_{name}": per_call(first, 1),
        f"dynamodb_round_trips_per_{name}": round(sum(warm.values()) / warm_count, 2),
        f"dynamodb_operations_per_{name}": per_call(warm, warm_count),
    }


def _round_trips(stack: LocalStack, spec: FunctionSpec, aircall: Aircall) -> dict[str, object]:
    # Every event is built (its message sent, or received by the sandbox) before anything is counted.
    status_events = [aircall.status_event(spec, message) for message in aircall.send(1 + WARM_CALLBACKS)]
    received_events = [aircall.received_event(spec) for _ in range(1 + WARM_CALLBACKS)]
    stack_bench.drain_streams(stack)
    others: Counter[str] = Counter()
    seq = stack_bench.last_seq(stack)
    results: dict[str, object] = {}
    with stack_bench.environment(stack_bench.function_environment(stack, spec)):
        results |= _count(stack, spec, status_events, "updated", "status_callback", others)
        results |= _count(stack, spec, received_events, "archived", "inbound_message", others)
    callbacks = len(status_events) + len(received_events)
    results["other_aws_calls_per_callback"] = stack_bench.per_call(others, callbacks)
    results["aircall_calls_per_callback"] = round(len(stack_bench.aircall_since(stack, seq)) / callbacks, 2)
    return results


# ----------------------------------------------------------------------------------------------- run


def run() -> dict[str, object]:
    with stack_bench.running_stack(WHERE, SENDER) as stack:
        spec = stack_bench.function_for_route(stack, *CALLBACK_ROUTE)
        aircall = Aircall(stack)
        results = _cold_start(stack, spec, aircall)
        results.update(_round_trips(stack, spec, aircall))
    return results
