"""Sends through the whole local stack over HTTP: how many the gateway sustains, and how exact its limiter is.

1. Sustained sends: `CLIENTS` threads, each with its own HTTP connection, POST /messages back to back for
   `SECONDS` seconds (each a different text, so every one is a real send); the answer is the accepted sends per
   second and the latency percentiles. Everything shares this machine's cores: the HTTP front and the handlers
   (in-process, as one Lambda instance per request would be, but in one Python process), the DynamoDB emulator
   (one request at a time) and the Aircall sandbox, with the callbacks it posts back. It measures the gateway's
   code on this machine, not what Lambda and DynamoDB would sustain (each scales out on its own).
2. Limiter exactness: the number's hour window is set to leave `ROOM` segments, then `RACERS` threads send
   `RACE_SENDS` one-segment messages at once. Exact means: exactly `ROOM` admitted, every other one a `429
   quota_exceeded`, the window's counter at `ROOM`, and Aircall (the sandbox) received exactly `ROOM` sends.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench import stack_bench
from local_stack.stack import LocalStack

WHERE = "throughput"
SENDER = "100005"  # a French fixed line: no registration, consent or conversation needed
RECIPIENT = "+33145678901"
CLIENTS = 8
SECONDS = 20.0
ROOM = 37
RACERS = 32
RACE_SENDS = 120


def run() -> dict[str, object]:
    with stack_bench.running_stack(WHERE, SENDER) as stack:
        _set_limits(stack, None)
        sustained = _sustained(stack)
        used = _hour_used(stack)  # what the sustained phase used: the room is on top of it
        _set_limits(stack, {"hour": used + ROOM, "day": 1_000_000, "month": 1_000_000})
        exactness = _race(stack, used)
    return sustained | exactness


def _client(stack: LocalStack) -> httpx.Client:
    return httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=30)


def _set_limits(stack: LocalStack, limits: dict[str, int] | None) -> None:
    body = {"mode": "proxy", "limits": limits or {"hour": 1_000_000, "day": 1_000_000, "month": 1_000_000}}
    with _client(stack) as api:
        answer = api.put(f"/numbers/{SENDER}", json=body)
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"{WHERE}: PUT /numbers answered {answer.status_code}: {answer.text}")


def _send(api: httpx.Client, tag: str) -> tuple[int, float, dict[str, Any]]:
    started = time.perf_counter()
    answer = api.post("/messages", json={"from": SENDER, "to": RECIPIENT, "text": f"bench {tag}"})
    return answer.status_code, time.perf_counter() - started, answer.json()


def _sustained(stack: LocalStack) -> dict[str, object]:
    deadline = time.perf_counter() + SECONDS
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client_loop(index: int) -> None:
        with _client(stack) as api:
            while time.perf_counter() < deadline:
                status, seconds, _ = _send(api, f"{index}-{uuid.uuid4().hex[:12]}")
                with lock:
                    statuses[status] += 1
                    latencies.append(seconds)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client_loop, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        f"{WHERE}.sustained_sends_per_second": round(statuses[201] / elapsed, 1),
        f"{WHERE}.sustained_clients": CLIENTS,
        f"{WHERE}.sustained_answers": dict(sorted(statuses.items())),
        f"{WHERE}.send_latency_ms_p50_p95_p99": [
            round(1000 * statistics.quantiles(latencies, n=100)[point - 1], 1) for point in (50, 95, 99)
        ],
    }


def _hour_used(stack: LocalStack) -> int:
    with _client(stack) as api:
        return int(api.get(f"/numbers/{SENDER}/quota").json()["used"]["hour"])


def _race(stack: LocalStack, used_before: int) -> dict[str, object]:
    sends_before = _aircall_sends(stack)
    tags = [f"race-{uuid.uuid4().hex[:12]}" for _ in range(RACE_SENDS)]
    barrier = threading.Barrier(RACERS)
    clients = [_client(stack) for _ in range(RACERS)]

    def racer(index: int) -> list[int]:
        api = clients[index]
        barrier.wait()
        return [_send(api, tag)[0] for tag in tags[index::RACERS]]

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            answers = Counter(status for statuses in pool.map(racer, range(RACERS)) for status in statuses)
    finally:
        for api in clients:
            api.close()
    used = _hour_used(stack) - used_before
    reached = _aircall_sends(stack) - sends_before
    exact = answers[201] == ROOM and answers[429] == RACE_SENDS - ROOM and used == ROOM and reached == ROOM
    if not exact:
        raise RuntimeError(f"{WHERE}: the limiter was not exact: {dict(answers)}, used {used}, Aircall {reached}")
    return {
        f"{WHERE}.limiter_room_racers_sends": [ROOM, RACERS, RACE_SENDS],
        f"{WHERE}.limiter_admitted_refused": [answers[201], answers[429]],
        f"{WHERE}.limiter_window_counter": used,
        f"{WHERE}.limiter_sends_reaching_aircall": reached,
    }


def _aircall_sends(stack: LocalStack) -> int:
    log = httpx.get(f"{stack.aircall_url}/_sandbox/requests", params={"path_contains": "/send"}, timeout=30)
    return sum(1 for entry in log.json()["requests"] if entry["status"] == 200)
