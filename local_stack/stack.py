"""`LocalStack`: the whole gateway on this machine, without AWS or Docker.

In order: the DynamoDB emulator (moto's server, also Secrets Manager, EventBridge, SQS, SNS, CloudWatch, S3), the
template's tables (with their streams), the Aircall credentials secret and the template's own secrets (the admin
key's holds LOCAL_API_KEY), the template's buckets (empty), the Aircall sandbox, the local sign-in provider
(`local_stack.identity`: the console's people sign in there as deployed through Cognito; its URL is the template's
SignInProviderUrl), the HTTP front calling the handlers in-process, the template's event buses with a capture of
what is published on them (`published_events()`, `GET /_local/events`), one stream poller per `Type: DynamoDB`
function event, calling the function in-process as Lambda's event source mapping would (`drain_streams()` waits for
them), the template's SQS queues with one poller per `Type: SQS` function event (`local_stack.queues`: the callbacks
DynamoDB could not take go there; `drain_queues()` waits for them), and, with `run_schedules=True` (as `make local`
does), the `Type: Schedule` events (`local_stack.schedules`). `stop()` tears it down in reverse order, also when
starting failed half-way.

Settings (arguments win over the environment):
    LOCAL_DYNAMODB_PORT (8000), LOCAL_AIRCALL_PORT (3001), LOCAL_API_PORT (3000), LOCAL_SIGN_IN_PORT (0)
    — 0 picks a free port; LOCAL_CONSOLE_USERS and LOCAL_CONSOLE_PASSWORD (the console's people, see
    `local_stack.identity`);
    LOCAL_API_KEY ("local-api-key": the admin client key, in the template's AdminKeySecret);
    LOCAL_AUTHORIZER_CACHE_SECONDS (0: the authorizer decides every request afresh; the template's
    AuthorizerCacheSeconds); LOCAL_AIRCALL_* (the sandbox, see aircall_sandbox/README.md; the stack
    sets LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS=true unless told otherwise: its callbacks are plain HTTP);
    AIRCALL_REQUESTS_PER_MINUTE (the template's AircallRequestsPerMinute, else its default);
    AWS_DEFAULT_REGION (us-east-1).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
from botocore.exceptions import ClientError

from local_stack import iam
from local_stack.dynamodb import DUMMY_CREDENTIALS, DynamoDBEmulator, client, create_tables
from local_stack.event_bus import PublishedEvents
from local_stack.front import DEFAULT_API_KEY, DEFAULT_TEMPLATE, Front, FrontServer, add_layers_to_sys_path
from local_stack.identity import CLIENT_ID as IDENTITY_CLIENT_ID
from local_stack.identity import DEFAULT_PASSWORD, DEFAULT_USERS, IdentityProvider, IdentityServer, people_from
from local_stack.queues import QueuePollers, create_queues
from local_stack.schedules import Schedules
from local_stack.streams import POLL_INTERVAL, StreamPollers
from local_stack.template import (
    SECRET_TYPE,
    Resolver,
    Template,
    buckets,
    event_buses,
    functions,
    load_template,
    parameter_value,
    queue_sources,
    queue_specs,
    schedule_sources,
    stream_sources,
    table_specs,
)

if TYPE_CHECKING:
    from aircall_sandbox import SandboxConfig, SandboxServer

DEFAULT_DYNAMODB_PORT = 8000
DEFAULT_AIRCALL_PORT = 3001
DEFAULT_API_PORT = 3000
DEFAULT_SIGN_IN_PORT = 0  # a free port: the console learns it from its configuration
CREDENTIALS_SECRET_PARAMETER = "AircallCredentialsSecretName"  # noqa: S105 - a parameter name # nosec B105
ADMIN_KEY_SECRET = "AdminKeySecret"  # noqa: S105 - a logical id # nosec B105
AUTHORIZER_CACHE_PARAMETER = "AuthorizerCacheSeconds"
EVENTS_ROUTE = "/_local/events"

# botocore reads AWS_ENDPOINT_URL_<service id>: "Secrets Manager" -> SECRETS_MANAGER, EventBridge -> EVENTBRIDGE.
# The short spellings are set as well, for code that reads them itself.
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SECRETSMANAGER",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_EVENTS",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ENDPOINT_URL_S3",
)


class LocalStack:
    """The local stack; a context manager (`with LocalStack() as stack: httpx.get(stack.api_url + "/health")`)."""

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        *,
        dynamodb_port: int | None = None,
        aircall_port: int | None = None,
        api_port: int | None = None,
        sign_in_port: int | None = None,
        api_key: str | None = None,
        sandbox_config: SandboxConfig | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        log_requests: bool = False,
        environ: Mapping[str, str] | None = None,
        stream_poll_interval: float = POLL_INTERVAL,
        run_schedules: bool = False,
    ) -> None:
        settings = os.environ if environ is None else environ
        self.template: Template = load_template(template_path)
        self.dynamodb_port = _port(settings, "LOCAL_DYNAMODB_PORT", dynamodb_port, DEFAULT_DYNAMODB_PORT)
        self.aircall_port = _port(settings, "LOCAL_AIRCALL_PORT", aircall_port, DEFAULT_AIRCALL_PORT)
        self.api_port = _port(settings, "LOCAL_API_PORT", api_port, DEFAULT_API_PORT)
        self.sign_in_port = _port(settings, "LOCAL_SIGN_IN_PORT", sign_in_port, DEFAULT_SIGN_IN_PORT)
        self.console_people = people_from(settings.get("LOCAL_CONSOLE_USERS") or DEFAULT_USERS)
        self.console_password = settings.get("LOCAL_CONSOLE_PASSWORD") or DEFAULT_PASSWORD
        self.api_key: str = api_key or settings.get("LOCAL_API_KEY") or DEFAULT_API_KEY
        self.region = settings.get("AWS_DEFAULT_REGION") or "us-east-1"
        # The sandbox shares the layer's domain code (aircall_sms): the layer goes on sys.path before it loads.
        add_layers_to_sys_path(functions(self.template).values())
        from aircall_sandbox import SandboxConfig

        # The stack's callback URL is its own front, plain HTTP on loopback, which Aircall (and so the sandbox)
        # refuses by default: the stack allows it unless LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS says false.
        # A `sandbox_config` given here must allow it too (`allow_http_loopback_callbacks=True`).
        self.sandbox_config = sandbox_config or SandboxConfig.from_env(
            {"LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS": "true", **settings}
        )
        self._requests_per_minute = settings.get("AIRCALL_REQUESTS_PER_MINUTE") or None
        self._authorizer_cache_seconds = settings.get("LOCAL_AUTHORIZER_CACHE_SECONDS") or "0"
        self._parameter_overrides = dict(parameter_overrides or {})
        self._host = host
        self._log_requests = log_requests
        self._stream_poll_interval = stream_poll_interval
        self._run_schedules = run_schedules
        self.dynamodb: DynamoDBEmulator | None = None
        self.sandbox: SandboxServer | None = None
        self.front: Front | None = None
        self.front_server: FrontServer | None = None
        self.identity: IdentityServer | None = None
        self.events: PublishedEvents | None = None
        self.streams: StreamPollers | None = None
        self.queues: QueuePollers | None = None
        self.schedules: Schedules | None = None
        self.tables: dict[str, str] = {}
        self.buckets: dict[str, str] = {}
        self.secret_name: str | None = None
        self.parameter_overrides: dict[str, str] = {}

    # -- URLs

    @property
    def api_url(self) -> str:
        return _started(self.front_server, "front").url

    @property
    def aircall_url(self) -> str:
        return _started(self.sandbox, "Aircall sandbox").url

    @property
    def dynamodb_url(self) -> str:
        return _started(self.dynamodb, "DynamoDB emulator").url

    @property
    def sign_in_url(self) -> str:
        return _started(self.identity, "sign-in provider").url

    @property
    def console_url(self) -> str:
        return f"{self.api_url}/console"

    @property
    def callback_url(self) -> str:
        return f"{self.api_url}/webhooks/aircall"

    # -- lifecycle

    def start(self) -> Self:
        if self.front_server is not None:
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.dynamodb = DynamoDBEmulator(self.dynamodb_port, host=self._host).start()
        specs = table_specs(self.template, self._parameter_overrides)
        create_tables(self.dynamodb.url, specs, region=self.region)
        self.tables = {logical_id: spec.table_name for logical_id, spec in specs.items()}
        self.secret_name = self._create_credentials_secret()
        self._create_template_secrets()
        self.buckets = self._create_buckets()
        from aircall_sandbox import SandboxServer

        self.sandbox = SandboxServer(self.sandbox_config, host=self._host, port=self.aircall_port).start()
        # The front's URL is part of its configuration (CallbackUrl), so it listens first and serves after.
        self.front_server = FrontServer(
            None, host=self._host, port=self.api_port, log_requests=self._log_requests
        ).start()
        provider = IdentityProvider(self.console_people, self.console_password, f"{self.api_url}/console/")
        self.identity = IdentityServer(provider, host=self._host, port=self.sign_in_port).start()
        self.parameter_overrides = self._front_parameters()
        self.front = Front(
            self.template.path,
            self.api_key,
            parameter_overrides=self.parameter_overrides,
            env_overrides=self.handler_environment(),
        )
        # The buses exist before any handler can publish, and the pollers run before the front serves.
        session = boto3.session.Session()  # one for the stack's own clients, made here, in this thread

        def stack_client(service: str) -> Any:
            return client(service, self.dynamodb_url, region=self.region, session=session)

        self.events = PublishedEvents(stack_client, event_buses(self.template, self.parameter_overrides)).create()
        self.front.add_local_route("GET", EVENTS_ROUTE, self._events_answer)
        self.streams = StreamPollers(
            stream_sources(self.template, self.parameter_overrides),
            self.front.invoke,
            stack_client,
            region=self.region,
            poll_interval=self._stream_poll_interval,
        ).start()
        create_queues(stack_client("sqs"), queue_specs(self.template, self.parameter_overrides))
        self.queues = QueuePollers(
            queue_sources(self.template, self.parameter_overrides),
            self.front.invoke,
            stack_client("sqs"),
            region=self.region,
        ).start()
        self.front_server.front = self.front
        if self._run_schedules:
            self.schedules = Schedules(schedule_sources(self.template, self.parameter_overrides), self.front.invoke)
            self.schedules.start()

    def stop(self) -> None:
        """Stop everything that runs, in reverse order; the first error (if any) is raised at the end."""
        errors: list[BaseException] = []
        front_server, front, sandbox, dynamodb = self.front_server, self.front, self.sandbox, self.dynamodb
        streams, schedules, identity, queues = self.streams, self.schedules, self.identity, self.queues
        self.front_server = self.front = self.sandbox = self.dynamodb = self.streams = self.events = None
        self.queues = None
        self.schedules = self.identity = None
        for stop in (
            schedules.stop if schedules else None,
            queues.stop if queues else None,
            streams.stop if streams else None,
            front_server.stop if front_server else None,
            front.close if front else None,
            identity.stop if identity else None,
            sandbox.stop if sandbox else None,
            dynamodb.stop if dynamodb else None,
        ):
            if stop is None:
                continue
            try:
                stop()
            except BaseException as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- configuration

    def handler_environment(self) -> dict[str, str]:
        """What the stack adds to the handlers' environment (on top of the template's variables)."""
        moto_url = self.dynamodb_url
        return {
            **dict.fromkeys(_ENDPOINT_VARIABLES, moto_url),
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def _front_parameters(self) -> dict[str, str]:
        wanted = {
            "AircallApiBaseUrl": self.aircall_url,
            "CallbackUrl": self.callback_url,
            "SignInProviderUrl": self.sign_in_url,
            "SignInClientId": IDENTITY_CLIENT_ID,
        }
        if self._requests_per_minute is not None:
            wanted["AircallRequestsPerMinute"] = self._requests_per_minute
        wanted[AUTHORIZER_CACHE_PARAMETER] = self._authorizer_cache_seconds
        declared = {name: value for name, value in wanted.items() if name in self.template.parameters}
        return {**declared, **self._parameter_overrides}

    def _create_template_secrets(self) -> None:
        """Every `AWS::SecretsManager::Secret` of the template, under its name: the admin key's holds the stack's
        API key; a generated one (`GenerateSecretString`) a fresh random value; a given one its `SecretString`."""
        resolver = Resolver(self.template, self._parameter_overrides)
        secretsmanager = self.client("secretsmanager")
        for logical_id, resource in self.template.resources_of_type(SECRET_TYPE).items():
            properties = resource.get("Properties") or {}
            if logical_id == ADMIN_KEY_SECRET:
                value = self.api_key
            elif "SecretString" in properties:
                value = str(resolver.resolve(properties["SecretString"]))
            else:
                value = secrets.token_urlsafe(32)
            _put_secret(secretsmanager, resolver.secret_name(logical_id), value)

    def _create_buckets(self) -> dict[str, str]:
        """Every `AWS::S3::Bucket` of the template, empty, under its name (the emulator serves S3 too)."""
        names = buckets(self.template, self._parameter_overrides)
        s3 = self.client("s3")
        for name in names.values():
            create_bucket(s3, name)
        return names

    def _create_credentials_secret(self) -> str | None:
        if CREDENTIALS_SECRET_PARAMETER not in self.template.parameters:
            return None
        name = parameter_value(self.template, CREDENTIALS_SECRET_PARAMETER, self._parameter_overrides)
        secret = json.dumps({"api_id": self.sandbox_config.api_id, "api_token": self.sandbox_config.api_token})
        _put_secret(self.client("secretsmanager"), name, secret)
        return name

    # -- helpers for tests and demos

    def client(self, service: str) -> Any:
        """A boto3 client on the emulator (any service moto serves), with dummy credentials."""
        return client(service, self.dynamodb_url, region=self.region)

    @property
    def access_denials(self) -> iam.Denials:
        """The AWS calls refused so far because the calling function's policy does not allow them."""
        return _started(self.front, "front").access_denials

    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Call a function in-process with any event (e.g. a scheduled function with an EventBridge event)."""
        return _started(self.front, "front").invoke(function_logical_id, event)

    def drain_streams(self, timeout: float = 10.0) -> None:
        """Wait until every record written to the tables' streams so far has been handed to its function
        (retries included); TimeoutError after `timeout` seconds."""
        _started(self.streams, "stream pollers").drain(timeout)

    def drain_queues(self, timeout: float = 10.0) -> None:
        """Wait until every queue a function reads is empty (its messages handled, or moved to a dead-letter
        queue); TimeoutError after `timeout` seconds."""
        _started(self.queues, "queue pollers").drain(timeout)

    def published_events(self) -> list[dict[str, Any]]:
        """What the functions published on the template's event buses, oldest first:
        `[{"detail_type", "source", "detail"}, ...]` (call `drain_streams()` first to include the latest changes)."""
        return _started(self.events, "event capture").read()

    def _events_answer(self) -> dict[str, Any]:
        """`GET /_local/events`: the published events, once the stream pollers caught up (or after 5 s)."""
        with contextlib.suppress(TimeoutError, RuntimeError):
            self.drain_streams(timeout=5.0)
        return {"events": self.published_events()}


def _put_secret(secretsmanager: Any, name: str, value: str) -> None:
    """Create the secret `name` holding `value`, or give an existing one that value."""
    try:
        secretsmanager.create_secret(Name=name, SecretString=value)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        secretsmanager.put_secret_value(SecretId=name, SecretString=value)


def _port(settings: Mapping[str, str], name: str, given: int | None, default: int) -> int:
    if given is not None:
        return given
    raw = settings.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from None


def _started[T](part: T | None, name: str) -> T:
    if part is None:
        raise RuntimeError(f"the local stack's {name} is not running (start the stack first)")
    return part


def create_bucket(s3: Any, name: str) -> None:
    """Create the bucket `name` (kept if it is there already) in the region of the client `s3`, as S3 wants it:
    outside us-east-1 the request names its region, without which S3 (and moto) refuse it."""
    region = s3.meta.region_name
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name, **where)
