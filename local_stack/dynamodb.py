"""The DynamoDB emulator: moto's server in a subprocess, and the template's tables created in it.

moto's server answers every AWS service's API on one port, so the same process also serves Secrets Manager,
EventBridge, SQS, SNS and CloudWatch to the handlers (their `AWS_ENDPOINT_URL_*` point at `url`). It runs as
`emulator_server.py` rather than `python -m moto.server`: the same server, answering one request at a time, so
conditional writes and transactions are atomic as in DynamoDB (see that module).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import boto3
import httpx
from botocore.exceptions import ClientError

from local_stack.iam import mark_internal
from local_stack.template import TableSpec

_SERVER_SCRIPT = Path(__file__).with_name("emulator_server.py")
DUMMY_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - the emulator takes any value # nosec B105
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY}
_STOP_GRACE_SECONDS = 5.0
_running: weakref.WeakSet[DynamoDBEmulator] = weakref.WeakSet()


class EmulatorError(RuntimeError):
    """The emulator did not start (its output is in the message)."""


class DynamoDBEmulator:
    """moto's server (`python emulator_server.py -H 127.0.0.1 -p <port>`) until `stop()`; also a context manager.

    `port=0` picks a free port. `start()` returns once the server answers HTTP; `url` is then known.
    A process left running when the interpreter exits is stopped by an atexit hook.
    """

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", startup_timeout: float = 30.0) -> None:
        self._requested_port = port
        self._host = host
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the DynamoDB emulator is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The moto server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self._process is not None:
            return self
        # An ephemeral port is chosen here and handed to moto; if another process takes it in between,
        # moto exits at once and a fresh port is tried.
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            port = self._requested_port or _free_port(self._host)
            try:
                self._launch(port)
                return self
            except EmulatorError:
                if attempt == attempts - 1:
                    raise
        return self  # pragma: no cover - the loop either returns or raises

    def stop(self) -> None:
        process, log = self._process, self._log
        self._process, self._log, self._port = None, None, None
        _running.discard(self)
        if process is not None:
            _terminate(process)
        if log is not None:
            log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _launch(self, port: int) -> None:
        log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process, closed in stop()
        environment = {**os.environ, **{key.upper(): value for key, value in DUMMY_CREDENTIALS.items()}}
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments # nosec B603
            [sys.executable, str(_SERVER_SCRIPT), "-H", self._host, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop moto in order
        )
        self._process, self._log, self._port = process, log, port
        _running.add(self)
        try:
            self._wait_until_answering(process, port)
        except EmulatorError as error:
            output = _read_log(log)
            self.stop()
            raise EmulatorError(f"{error}\n--- moto output ---\n{output}") from None
        except BaseException:
            self.stop()
            raise

    def _wait_until_answering(self, process: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self._startup_timeout
        url = f"http://{self._host}:{port}/moto-api/"
        while True:
            if process.poll() is not None:
                raise EmulatorError(f"moto server exited with code {process.returncode} before answering")
            try:
                httpx.get(url, timeout=1.0)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise EmulatorError(
                        f"moto server did not answer on {url} within {self._startup_timeout}s"
                    ) from None
                time.sleep(0.05)
            else:
                return


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _read_log(log: IO[bytes]) -> str:
    with contextlib.suppress(OSError, ValueError):
        log.seek(0)
        return log.read()[-4000:].decode("utf-8", "replace")
    return ""


@atexit.register
def _stop_leftovers() -> None:
    for emulator in list(_running):
        emulator.stop()


# ----------------------------------------------------------------------------------------------- clients


def client(
    service: str, endpoint_url: str, *, region: str | None = None, session: boto3.session.Session | None = None
) -> Any:
    """A boto3 client for `service` on the emulator, with moto's dummy credentials. `session`: make it from that
    session (clients of one session share botocore's loaded data; a session is not for concurrent use)."""
    region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    made = (session or boto3.session.Session()).client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        **DUMMY_CREDENTIALS,
    )
    return mark_internal(made)  # the stack's and the tests' own: not held to a function's policy


def create_tables(
    endpoint_url: str,
    definitions: Mapping[str, TableSpec | Mapping[str, Any]] | Iterable[TableSpec],
    *,
    region: str | None = None,
) -> list[str]:
    """Create every table that does not exist yet and enable its TTL; returns the names created.

    `definitions` is `table_specs(template)` (kwargs + TTL), `table_definitions(template)` (kwargs only),
    or any iterable of `TableSpec`. Existing tables are left as they are (their TTL is still ensured).
    """
    specs = _as_specs(definitions)
    dynamodb = client("dynamodb", endpoint_url, region=region)
    existing = set(_table_names(dynamodb))
    created: list[str] = []
    for spec in specs:
        if spec.table_name not in existing:
            try:
                dynamodb.create_table(**spec.create_kwargs)
                created.append(spec.table_name)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceInUseException":
                    raise
            dynamodb.get_waiter("table_exists").wait(
                TableName=spec.table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
            )
        if spec.ttl_attribute:
            _ensure_ttl(dynamodb, spec.table_name, spec.ttl_attribute)
    return created


def _as_specs(definitions: Mapping[str, TableSpec | Mapping[str, Any]] | Iterable[TableSpec]) -> list[TableSpec]:
    if not isinstance(definitions, Mapping):
        return list(definitions)
    specs: list[TableSpec] = []
    for logical_id, definition in definitions.items():
        if isinstance(definition, TableSpec):
            specs.append(definition)
        else:
            specs.append(TableSpec(logical_id=logical_id, create_kwargs=dict(definition)))
    return specs


def _table_names(dynamodb: Any) -> list[str]:
    names: list[str] = []
    for page in dynamodb.get_paginator("list_tables").paginate():
        names.extend(page.get("TableNames", []))
    return names


def _ensure_ttl(dynamodb: Any, table_name: str, attribute: str) -> None:
    description = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and description.get("AttributeName") == attribute:
        return
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )
