"""The functions' IAM policies, enforced locally: a handler's AWS call its role does not allow is refused as AWS
refuses it (`AccessDeniedException`), and recorded, so a grant missing from `template.yaml` fails here, not after
a deploy.

Each function's identity policy is read from the template: its `Policies` (inline statements; SAM policy
templates are not read and refuse to load) or, with `Role: !GetAtt <role>.Arn`, that role's inline policies.
Every botocore call made while a function runs (`acting_as`, which the front enters around each invocation) is
turned into the IAM actions and resource ARNs AWS authorizes it by (a DynamoDB transaction: one action per item
on its table; a Query of an index: the index's ARN; a secret named by its name: its ARN with any suffix) and
checked against the statements: allowed when an `Allow` matches every pair and no `Deny` matches any.

Calls made outside a function (the tests' own clients, the stack's pollers, made by
`local_stack.dynamodb.client`, which marks them) are not checked, nor the services with nothing to authorize
locally (CloudWatch metrics, X-Ray). Resource policies (a bucket's, a key's) are not evaluated: every policy of
the functions is an identity policy.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import functools
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from local_stack.template import ACCOUNT_ID, FUNCTION_TYPE, Resolver, Template, TemplateError, table_specs

INTERNAL_ATTRIBUTE = "_local_stack_internal"  # set on the stack's own clients: never checked
# botocore's endpoint prefix -> IAM's service prefix, where they differ
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
_UNCHECKED_SERVICES = frozenset({"cloudwatch", "xray", "logs", "sts"})
_ACCESS_DENIED = {"s3": "AccessDenied", "sqs": "AccessDenied"}


@dataclass(frozen=True)
class Need:
    """What AWS authorizes one part of a call by: an action on a resource, and for a DynamoDB item the partition
    key values it touches (`dynamodb:LeadingKeys`; None when the call names no item, e.g. a Query)."""

    action: str
    resource: str
    leading_keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    # `ForAllValues:StringEquals` on `dynamodb:LeadingKeys`, the one condition the functions' policies use
    leading_keys: tuple[str, ...] | None = None

    def matches(self, need: Need) -> bool:
        if not any(fnmatch.fnmatchcase(need.action.lower(), pattern.lower()) for pattern in self.actions):
            return False
        if not any(fnmatch.fnmatchcase(need.resource, pattern) for pattern in self.resources):
            return False
        if self.leading_keys is None:
            return True
        # Held strictly: a call that names no item (a Query, a Scan) does not meet the condition.
        return need.leading_keys is not None and set(need.leading_keys) <= set(self.leading_keys)


@dataclass(frozen=True)
class Policy:
    """One function's identity policy: its statements (Allow and Deny)."""

    function_id: str
    statements: tuple[Statement, ...]
    hash_keys: Mapping[str, str] = field(default_factory=dict)  # table name -> its partition key attribute

    def allows(self, need: Need) -> bool:
        if any(s.effect == "Deny" and s.matches(need) for s in self.statements):
            return False
        return any(s.effect == "Allow" and s.matches(need) for s in self.statements)


@dataclass(frozen=True)
class Denial:
    """A call refused: which function, which action on which resource, by which operation."""

    function_id: str
    action: str
    resource: str
    operation: str

    def __str__(self) -> str:
        return f"{self.function_id} is not allowed {self.action} on {self.resource} ({self.operation})"


@dataclass
class Denials:
    """The calls refused so far (thread-safe)."""

    found: list[Denial] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, denial: Denial) -> None:
        with self._lock:
            self.found.append(denial)

    def since(self, start: int) -> list[Denial]:
        with self._lock:
            return list(self.found[start:])

    def __len__(self) -> int:
        with self._lock:
            return len(self.found)


# ----------------------------------------------------------------------------------------------- the template


class _PolicyResolver(Resolver):
    """The template's resolver, but a secret's `!Ref` is its ARN (any suffix), as CloudFormation answers."""

    def ref(self, name: str) -> Any:
        resource = self.template.resources.get(name)
        if resource is not None and resource.get("Type") == "AWS::SecretsManager::Secret":
            return secret_arn(self.region, self.secret_name(name))
        return super().ref(name)


def secret_arn(region: str, name: str) -> str:
    """A secret's ARN: Secrets Manager appends "-" and six random characters to its name (`??????` matches them)."""
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}-XXXXXX"


def policies(template: Template, parameter_overrides: Mapping[str, str] | None, region: str) -> dict[str, Policy]:
    """Logical id -> the function's identity policy, for every function of the template."""
    resolver = _PolicyResolver(template, parameter_overrides, region=region)
    hash_keys = {
        spec.table_name: next(
            key["AttributeName"] for key in spec.create_kwargs["KeySchema"] if key["KeyType"] == "HASH"
        )
        for spec in table_specs(template, parameter_overrides).values()
    }
    found: dict[str, Policy] = {}
    for logical_id, resource in template.resources_of_type(FUNCTION_TYPE).items():
        properties = resource.get("Properties") or {}
        documents: list[Any] = []
        role = properties.get("Role")
        if role is not None:
            documents = _role_documents(template, logical_id, role)
        for entry in properties.get("Policies") or []:
            if isinstance(entry, str):
                continue  # a managed policy by name (e.g. AWSLambdaBasicExecutionRole): logs and traces only
            if not isinstance(entry, dict) or "Statement" not in entry:
                raise TemplateError(f"{logical_id}: only inline policy statements are read locally, not {entry!r}")
            documents.append(entry)
        statements = [
            _statement(logical_id, raw)
            for document in documents
            for raw in _as_list(resolver.resolve(document).get("Statement"))
        ]
        found[logical_id] = Policy(logical_id, tuple(statements), hash_keys)
    return found


def _role_documents(template: Template, function_id: str, role: Any) -> list[Any]:
    target = role.get("Fn::GetAtt") if isinstance(role, dict) else None
    role_id = target.split(".")[0] if isinstance(target, str) else (target or [None])[0]
    resource = template.resources.get(str(role_id))
    if resource is None or resource.get("Type") != "AWS::IAM::Role":
        raise TemplateError(f"{function_id}: its Role must be !GetAtt <an AWS::IAM::Role of the template>.Arn")
    return [policy.get("PolicyDocument") or {} for policy in (resource.get("Properties") or {}).get("Policies") or []]


def _statement(function_id: str, raw: Any) -> Statement:
    if not isinstance(raw, dict) or {"NotAction", "NotResource"} & set(raw):
        raise TemplateError(f"{function_id}: a statement locally needs Effect, Action and Resource: {raw!r}")
    condition = raw.get("Condition")
    leading_keys = None
    if condition is not None:
        keys = (condition.get("ForAllValues:StringEquals") or {}).get("dynamodb:LeadingKeys")
        if (
            set(condition) != {"ForAllValues:StringEquals"}
            or keys is None
            or len(condition["ForAllValues:StringEquals"]) != 1
        ):
            raise TemplateError(
                f"{function_id}: the one condition read locally is ForAllValues:StringEquals on dynamodb:LeadingKeys"
            )
        leading_keys = tuple(str(key) for key in _as_list(keys))
    return Statement(
        effect=str(raw.get("Effect")),
        actions=tuple(str(action) for action in _as_list(raw.get("Action"))),
        resources=tuple(str(resource) for resource in _as_list(raw.get("Resource"))),
        leading_keys=leading_keys,
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# ----------------------------------------------------------------------------------------------- a call's needs


def required(
    service: str, operation: str, params: Mapping[str, Any], region: str, hash_keys: Mapping[str, str]
) -> list[Need]:
    """What AWS authorizes `operation` of `service` (IAM's prefix) by; `hash_keys`: table name -> its partition
    key attribute."""
    if service == "dynamodb":
        return _dynamodb(operation, params, region, hash_keys)
    if service == "secretsmanager":
        secret = str(params.get("SecretId", ""))
        return [
            Need(f"secretsmanager:{operation}", secret if secret.startswith("arn:") else secret_arn(region, secret))
        ]
    if service == "sqs":
        name = urlsplit(str(params.get("QueueUrl", ""))).path.rstrip("/").rpartition("/")[2]
        return [Need(f"sqs:{_sqs_action(operation)}", f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}")]
    if service == "events" and operation == "PutEvents":
        buses = sorted({str(entry.get("EventBusName") or "default") for entry in params.get("Entries") or []})
        return [
            Need(
                "events:PutEvents",
                bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{bus}",
            )
            for bus in buses
        ]
    if service == "s3":
        return _s3(operation, params)
    if service == "cognito-idp" and "UserPoolId" in params:
        pool = f"arn:aws:cognito-idp:{region}:{ACCOUNT_ID}:userpool/{params['UserPoolId']}"
        return [Need(f"cognito-idp:{operation}", pool)]
    return [Need(f"{service}:{operation}", "*")]


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb(operation: str, params: Mapping[str, Any], region: str, hash_keys: Mapping[str, str]) -> list[Need]:
    def arn(table: str, index: str | None = None) -> str:
        base = table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
        return f"{base}/index/{index}" if index else base

    def leading(table: str, *items: Mapping[str, Any] | None) -> tuple[str, ...] | None:
        attribute = hash_keys.get(table.rpartition("/")[2])
        values = []
        for item in items:
            value = (item or {}).get(attribute or "")
            if not isinstance(value, dict) or not value:
                return None
            values.append(str(next(iter(value.values()))))
        return tuple(values)

    if operation == "BatchGetItem":
        return [
            Need("dynamodb:BatchGetItem", arn(table), leading(table, *request.get("Keys") or []))
            for table, request in (params.get("RequestItems") or {}).items()
        ]
    if operation == "BatchWriteItem":
        return [
            Need(
                "dynamodb:BatchWriteItem",
                arn(table),
                leading(
                    table,
                    *(
                        (w.get("PutRequest") or {}).get("Item") or (w.get("DeleteRequest") or {}).get("Key")
                        for w in writes
                    ),
                ),
            )
            for table, writes in (params.get("RequestItems") or {}).items()
        ]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        needs = []
        for entry in params.get("TransactItems") or []:
            for kind, action in (*_TRANSACT_ACTIONS.items(), ("Get", "GetItem")):
                if kind in entry:
                    part = entry[kind]
                    table = str(part["TableName"])
                    needs.append(
                        Need(f"dynamodb:{action}", arn(table), leading(table, part.get("Key") or part.get("Item")))
                    )
        return needs
    if "TableName" in params:
        table = str(params["TableName"])
        item = params.get("Key") or params.get("Item")
        return [
            Need(f"dynamodb:{operation}", arn(table, params.get("IndexName")), leading(table, item) if item else None)
        ]
    return [Need(f"dynamodb:{operation}", "*")]


def _sqs_action(operation: str) -> str:
    return {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}.get(operation, operation)


_S3_OBJECT_ACTIONS = {
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "CopyObject": "PutObject",
}


def _s3(operation: str, params: Mapping[str, Any]) -> list[Need]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
    if operation in ("ListObjects", "ListObjectsV2"):
        return [Need("s3:ListBucket", bucket)]
    if operation == "DeleteObjects":
        objects = (params.get("Delete") or {}).get("Objects") or []
        return [Need("s3:DeleteObject", f"{bucket}/{entry.get('Key', '')}") for entry in objects]
    if "Key" in params:
        needs = [Need(f"s3:{_S3_OBJECT_ACTIONS.get(operation, operation)}", f"{bucket}/{params['Key']}")]
        source = params.get("CopySource")
        if operation == "CopyObject" and isinstance(source, dict):
            needs.append(Need("s3:GetObject", f"arn:aws:s3:::{source.get('Bucket', '')}/{source.get('Key', '')}"))
        return needs
    return [Need(f"s3:{operation}", bucket)]


# ----------------------------------------------------------------------------------------------- enforcing


@dataclass(frozen=True)
class _Acting:
    policy: Policy
    denials: Denials


_ACTING: contextvars.ContextVar[_Acting | None] = contextvars.ContextVar("local_stack_iam_acting", default=None)
_install_lock = threading.Lock()
_installed = False


@contextlib.contextmanager
def acting_as(policy: Policy, denials: Denials) -> Iterator[None]:
    """Check every AWS call made in this context (this thread) against `policy`; refusals go to `denials`."""
    install()
    token = _ACTING.set(_Acting(policy, denials))
    try:
        yield
    finally:
        _ACTING.reset(token)


def mark_internal(client: Any) -> Any:
    """`client` is the stack's or a test's own: its calls are never checked."""
    setattr(client, INTERNAL_ATTRIBUTE, True)
    return client


def install() -> None:
    """Wrap botocore's one entry point of every API call (boto3's clients and pynamodb's go through it)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]

        @functools.wraps(original)
        def checked(self: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            acting = _ACTING.get()
            if acting is not None and not getattr(self, INTERNAL_ATTRIBUTE, False):
                _check(self, acting, operation_name, api_params)
            return original(self, operation_name, api_params)

        BaseClient._make_api_call = checked  # type: ignore[attr-defined]
        _installed = True


def _check(client: Any, acting: _Acting, operation: str, params: Mapping[str, Any]) -> None:
    prefix = client.meta.service_model.endpoint_prefix
    service = _IAM_PREFIX.get(prefix, prefix)
    if service in _UNCHECKED_SERVICES:
        return
    for need in required(service, operation, params, client.meta.region_name, acting.policy.hash_keys):
        if acting.policy.allows(need):
            continue
        action, resource = need.action, need.resource
        denial = Denial(acting.policy.function_id, action, resource, operation)
        acting.denials.add(denial)
        print(f"local_stack: access denied: {denial}", file=sys.stderr)
        from botocore.exceptions import ClientError

        code = _ACCESS_DENIED.get(service, "AccessDeniedException")
        message = (
            f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{acting.policy.function_id}Role/{acting.policy.function_id} "
            f"is not authorized to perform: {action} on resource: {resource} "
            "because no identity-based policy allows the action"
        )
        response: Any = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400 if service == "dynamodb" else 403},
        }
        raise ClientError(response, operation)
