"""Inbound MMS media through the whole local stack: what keeping the files costs, in counts.

The workload: `MESSAGES` inbound SMS without media and `MESSAGES` inbound MMS of `FILES` pictures each (the
sandbox's files, `FILE_BYTES` each), posted by the sandbox as Aircall would, then one `GET /messages` page of the
MMS. Counted while it runs: the MediaFunction's invocations (its mapping's filter lets only the new MMS through:
the SMS cost it nothing), the S3 requests and the DynamoDB requests it makes per MMS, the downloads of Aircall's
links per file, and the S3 requests the archive's answer makes (none: its links are signed in the function) with
the bytes a link adds to it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench import stack_bench
from local_stack.stack import LocalStack

WHERE = "media"
NUMBER = "100005"
MESSAGES = 20
FILES = 2
FILE_BYTES = 50_000


def run() -> dict[str, object]:
    with stack_bench.running_stack(WHERE, NUMBER) as stack:
        meter = _Meter(stack)
        with meter.watching():
            _receive(stack)
        received = dict(meter.invocations), Counter(meter.calls)
        meter.reset()
        with meter.watching():
            page, link_bytes = _read(stack)
        answer_calls = Counter(meter.calls)
        downloads = _downloads(stack)
    invocations, calls = received
    per_mms = {
        name.removeprefix("MediaFunction:"): round(count / MESSAGES, 2)
        for name, count in sorted(calls.items())
        if name.startswith("MediaFunction:")
    }
    return {
        f"{WHERE}.inbound_sms_and_mms": f"{MESSAGES} + {MESSAGES}",
        f"{WHERE}.media_function_invocations": invocations.get("MediaFunction", 0),
        f"{WHERE}.media_function_calls_per_mms_of_{FILES}_files": per_mms,
        f"{WHERE}.aircall_downloads_per_file": round(downloads / (MESSAGES * FILES), 2),
        f"{WHERE}.s3_requests_per_archive_page_of_{page}_mms": sum(
            count for name, count in answer_calls.items() if ":s3." in name
        ),
        f"{WHERE}.answer_bytes_per_link": link_bytes,
    }


def _receive(stack: LocalStack) -> None:
    with httpx.Client(base_url=stack.aircall_url, timeout=30) as aircall:
        for index in range(MESSAGES):
            sms = {"number_id": int(NUMBER), "from": f"+3361234{index:04d}", "body": "Bonjour"}
            aircall.post("/_sandbox/inbound", json=sms).raise_for_status()
            files = [
                aircall.post(
                    "/_sandbox/media",
                    json={"file_name": f"{n}.jpg", "file_type": "image/jpeg", "size_bytes": FILE_BYTES},
                ).json()
                for n in range(FILES)
            ]
            details = [{name: file[name] for name in ("file_name", "file_type", "presigned_url")} for file in files]
            mms = {"number_id": int(NUMBER), "from": "+33612349000", "body": "Photos", "media_details": details}
            aircall.post("/_sandbox/inbound", json=mms).raise_for_status()
    stack.drain_streams(120)


def _read(stack: LocalStack) -> tuple[int, int]:
    with httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=30) as api:
        answer = api.get("/messages", params={"number_id": NUMBER, "contact": "+33612349000", "limit": MESSAGES})
        answer.raise_for_status()
    items = answer.json()["items"]
    stored = [item for item in items if item.get("media_status") == "stored"]
    if len(stored) != MESSAGES:
        raise RuntimeError(f"{WHERE}: {len(stored)} of {MESSAGES} MMS stored")
    entry = stored[0]["media"][0]
    link_bytes = len(json.dumps({"url": entry["url"], "url_expires_at": entry["url_expires_at"]})) * 2
    return len(stored), link_bytes  # `url` twice: in the entry and in `media_urls`


def _downloads(stack: LocalStack) -> int:
    files = httpx.get(f"{stack.aircall_url}/_sandbox/media", timeout=30).json()["files"]
    return sum(int(file["downloads"]) for file in files)


class _Meter:
    """Counts the handlers' invocations and their AWS calls (`<function>:<service>.<operation>`)."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self._current = threading.local()
        self.invocations: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        self.invocations.clear()
        self.calls.clear()

    @contextmanager
    def watching(self) -> Iterator[None]:
        from botocore.endpoint import Endpoint

        front = self._stack.front
        assert front is not None
        original_handler, original_request = front.handler, Endpoint.make_request
        meter = self

        def handler(function_logical_id: str) -> Any:
            inner = original_handler(function_logical_id)

            def counted(event: Any, context: Any) -> Any:
                with meter._lock:
                    meter.invocations[function_logical_id] += 1
                meter._current.function = function_logical_id
                try:
                    return inner(event, context)
                finally:
                    meter._current.function = None

            return counted

        def make_request(endpoint: Any, operation_model: Any, request_dict: Any) -> Any:
            function = getattr(meter._current, "function", None)
            if function is not None:
                service = operation_model.service_model.endpoint_prefix
                with meter._lock:
                    meter.calls[f"{function}:{service}.{operation_model.name}"] += 1
            return original_request(endpoint, operation_model, request_dict)

        front.handler = handler  # type: ignore[method-assign]
        Endpoint.make_request = make_request  # type: ignore[method-assign, assignment]
        try:
            yield
        finally:
            Endpoint.make_request = original_request  # type: ignore[method-assign]
            front.handler = original_handler  # type: ignore[method-assign]
