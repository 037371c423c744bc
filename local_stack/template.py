"""Reads the SAM template: its DynamoDB tables, its functions with their API routes, and their environment.

Everything comes from `template.yaml` generically (no resource is named here), so a table, function or route
added to the template is served by the local stack without touching this package.

Intrinsic functions are resolved to deterministic local values (see `Resolver`):
- `!Ref` a parameter: the override given, else the parameter's `Default`;
- `!Ref` a `AWS::DynamoDB::Table`: its local table name (`TableName` if set, else the logical id);
- `!Ref` a `AWS::Events::EventBus`: its `Name` (as CloudFormation answers);
- `!Ref` a `AWS::SecretsManager::Secret`: its `Name` (CloudFormation answers the ARN; Secrets Manager takes
  either as a SecretId);
- `!Ref` a `AWS::SQS::Queue`: its URL, as CloudFormation answers (`https://sqs.<region>.amazonaws.com/<account>/
  <name>`, the name being `QueueName` or the logical id; moto's SQS reads the queue's name from it);
  `!GetAtt <queue>.QueueName` that name, `.Arn` its ARN;
- `!Ref` a `AWS::S3::Bucket`: its `BucketName`, else `<stack name>-<logical id, lower case>` (`!GetAtt X.Arn`:
  `arn:aws:s3:::<name>`);
- `!Ref` any other resource (an SNS topic, function, ...): its logical id;
- `!GetAtt X.Arn` (and any attribute ending in `Arn`): `arn:aws:<service>:<region>:123456789012:<X>`
  (`...:table/<name>` for tables, `...:event-bus/<name>` for buses; a table's `StreamArn` is
  `...:table/<name>/stream/local`); `!GetAtt X.<other>`: `<X>` for name-like attributes (a bus's `Name`: its
  name), else `<X>.<other>`;
- pseudo parameters: `AWS::Region` (AWS_DEFAULT_REGION, else us-east-1), `AWS::AccountId` 123456789012,
  `AWS::StackName` aircall-sms-gateway-local, `AWS::Partition` aws, `AWS::URLSuffix` amazonaws.com;
- `!Sub`, `!Join`, `!Select`, `!Split`, `!If` (with the template's `Conditions`), `!Equals`, `!And`, `!Or`,
  `!Not`, `!FindInMap`, `!Base64`, `!GetAZs`; `AWS::NoValue` drops the key or list item it stands for.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
STACK_NAME = "aircall-sms-gateway-local"
DEFAULT_REGION = "us-east-1"
IMPLICIT_API_ID = "ServerlessRestApi"
IMPLICIT_API_STAGE = "Prod"

TABLE_TYPE = "AWS::DynamoDB::Table"
EVENT_BUS_TYPE = "AWS::Events::EventBus"
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type # nosec B105
BUCKET_TYPE = "AWS::S3::Bucket"
FUNCTION_TYPE = "AWS::Serverless::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
API_TYPE = "AWS::Serverless::Api"
LAYER_TYPE = "AWS::Serverless::LayerVersion"

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template is missing something the local stack needs, or uses something it cannot resolve."""


class _NoValue:
    """`AWS::NoValue`: removes the property or list item it is the value of."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# ----------------------------------------------------------------------------------------------- loading


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags: `!Ref X` -> {"Ref": "X"}, `!Sub s` -> {"Fn::Sub": s}, ..."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{tag_suffix}")
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


def _construct_timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    """CloudFormation keeps `2010-09-09` a string; plain YAML would make it a date."""
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)
_CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)


def parse_template_text(text: str) -> dict[str, Any]:
    """A template's text (YAML with short-form tags, or JSON) as plain dicts and lists."""
    body = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass # nosec B506
    if not isinstance(body, dict):
        raise TemplateError("a template must be a mapping")
    return body


@dataclass(frozen=True)
class Template:
    """A parsed template and the directory its relative paths (CodeUri, ContentUri) start from."""

    path: Path
    body: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.body.get("Resources") or {}
        return resources

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        parameters: dict[str, dict[str, Any]] = self.body.get("Parameters") or {}
        return parameters

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if isinstance(resource, dict) and resource.get("Type") == resource_type
        }

    def globals_for(self, section: str) -> dict[str, Any]:
        section_globals: dict[str, Any] = (self.body.get("Globals") or {}).get(section) or {}
        return section_globals


def load_template(path: str | Path) -> Template:
    path = Path(path).resolve()
    return Template(path=path, body=parse_template_text(path.read_text(encoding="utf-8")))


TemplateSource = Template | str | Path


def _as_template(source: TemplateSource) -> Template:
    return source if isinstance(source, Template) else load_template(source)


# ----------------------------------------------------------------------------------------------- resolving


class Resolver:
    """Resolves intrinsic functions to local values (rules in the module docstring)."""

    def __init__(
        self,
        template: Template,
        parameter_overrides: Mapping[str, str] | None = None,
        *,
        region: str | None = None,
    ) -> None:
        self.template = template
        self.parameter_overrides = dict(parameter_overrides or {})
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
        self._pseudo: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    # -- the public entry point

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its local value (NO_VALUE entries dropped)."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    # -- references

    def parameter(self, name: str) -> Any:
        if name in self.parameter_overrides:
            return self.parameter_overrides[name]
        declaration = self.template.parameters.get(name)
        if declaration is None:
            raise TemplateError(f"unknown parameter {name!r}")
        if "Default" not in declaration:
            raise TemplateError(f"parameter {name!r} has no Default and no override was given")
        default = declaration["Default"]
        if str(declaration.get("Type", "")).startswith(("CommaDelimitedList", "List<")):
            return [item.strip() for item in str(default).split(",")] if isinstance(default, str) else default
        return default

    def ref(self, name: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.template.parameters or name in self.parameter_overrides:
            return self.parameter(name)
        if name.endswith(".Alias") and name.removesuffix(".Alias") in self.template.resources:
            name = name.removesuffix(".Alias")  # SAM's AutoPublishAlias alias: locally, the function itself
        resource = self.template.resources.get(name)
        if resource is None:
            raise TemplateError(f"!Ref to {name!r}: no such parameter or resource")
        if resource.get("Type") == TABLE_TYPE:
            return self.table_name(name)
        if resource.get("Type") == EVENT_BUS_TYPE:
            return self.event_bus_name(name)
        if resource.get("Type") == SECRET_TYPE:
            return self.secret_name(name)
        if resource.get("Type") == QUEUE_TYPE:
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{self.queue_name(name)}"
        if resource.get("Type") == BUCKET_TYPE:
            return self.bucket_name(name)
        return name

    def queue_name(self, logical_id: str) -> str:
        properties = self.template.resources[logical_id].get("Properties") or {}
        name = self.resolve(properties.get("QueueName", NO_VALUE))
        return logical_id if name is NO_VALUE or name in (None, "") else str(name)

    def bucket_name(self, logical_id: str) -> str:
        properties = self.template.resources[logical_id].get("Properties") or {}
        name = self.resolve(properties.get("BucketName", NO_VALUE))
        return f"{STACK_NAME}-{logical_id.lower()}" if name is NO_VALUE or name in (None, "") else str(name)

    def secret_name(self, logical_id: str) -> str:
        properties = self.template.resources[logical_id].get("Properties") or {}
        name = self.resolve(properties.get("Name", NO_VALUE))
        return logical_id if name is NO_VALUE or name in (None, "") else str(name)

    def table_name(self, logical_id: str) -> str:
        properties = self.template.resources[logical_id].get("Properties") or {}
        name = self.resolve(properties.get("TableName", NO_VALUE))
        return logical_id if name is NO_VALUE or name in (None, "") else str(name)

    def event_bus_name(self, logical_id: str) -> str:
        properties = self.template.resources[logical_id].get("Properties") or {}
        name = self.resolve(properties.get("Name", NO_VALUE))
        if name is NO_VALUE or name in (None, ""):
            raise TemplateError(f"the event bus {logical_id} has no Name")
        return str(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.template.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        resource_type = str(resource.get("Type", ""))
        service = _arn_service(resource_type)
        if resource_type == TABLE_TYPE:
            table_arn = f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{self.table_name(logical_id)}"
            if attribute == "Arn":
                return table_arn
            if attribute == "StreamArn":
                return f"{table_arn}/stream/local"
        if resource_type == QUEUE_TYPE:
            if attribute == "Arn":
                return f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{self.queue_name(logical_id)}"
            if attribute == "QueueName":
                return self.queue_name(logical_id)
            if attribute == "QueueUrl":
                return self.ref(logical_id)
        if resource_type == EVENT_BUS_TYPE:
            if attribute == "Arn":
                return f"arn:aws:events:{self.region}:{ACCOUNT_ID}:event-bus/{self.event_bus_name(logical_id)}"
            if attribute == "Name":
                return self.event_bus_name(logical_id)
        if resource_type == BUCKET_TYPE and attribute == "Arn":
            return f"arn:aws:s3:::{self.bucket_name(logical_id)}"
        if attribute.endswith("Arn"):
            return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{logical_id}"
        if attribute.endswith("Name") or attribute in ("Id", "ApiId", "RootResourceId"):
            return logical_id
        return f"{logical_id}.{attribute}"

    # -- conditions and functions

    def condition(self, name: str) -> bool:
        conditions = self.template.body.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self.resolve(conditions[name]))

    def _function(self, key: str, argument: Any) -> Any:
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else self.resolve(argument)
            if len(parts) != 2:
                raise TemplateError(f"!GetAtt needs Resource.Attribute, got {argument!r}")
            return self.get_att(str(parts[0]), str(parts[1]))
        if key == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(_text(item) for item in self.resolve(items))
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(str(delimiter))
        if key == "Fn::If":
            condition_name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(str(condition_name)) else when_false)
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return _text(left) == _text(right)
        if key == "Fn::And":
            return all(self._truth(item) for item in argument)
        if key == "Fn::Or":
            return any(self._truth(item) for item in argument)
        if key == "Fn::Not":
            return not self._truth(argument[0])
        if key == "Fn::FindInMap":
            map_name, top_key, second_key = (_text(self.resolve(item)) for item in argument[:3])
            try:
                return self.resolve(self.template.body["Mappings"][map_name][top_key][second_key])
            except KeyError:
                raise TemplateError(f"!FindInMap {map_name}/{top_key}/{second_key}: not in Mappings") from None
        if key == "Fn::Base64":
            return base64.b64encode(_text(self.resolve(argument)).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        raise TemplateError(f"{key} cannot be resolved locally")

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self.condition(str(value["Condition"]))
        return bool(self.resolve(value))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1] if len(argument) > 1 else {})
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name])
            if "." in name and name not in self._pseudo:
                logical_id, attribute = name.split(".", 1)
                return _text(self.get_att(logical_id, attribute))
            return _text(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, str(text))


def _arn_service(resource_type: str) -> str:
    parts = resource_type.split("::")
    if resource_type.startswith("AWS::Serverless::"):
        return {"Function": "lambda", "Api": "apigateway", "HttpApi": "apigateway", "LayerVersion": "lambda"}.get(
            parts[-1], "serverless"
        )
    return parts[1].lower() if len(parts) == 3 else "local"


def _text(value: Any) -> str:
    """A resolved value as CloudFormation turns it into a string (env values, !Sub, !Join)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    if isinstance(value, dict) or value is None or value is NO_VALUE:
        raise TemplateError(f"{value!r} cannot be used as a string")
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


# ----------------------------------------------------------------------------------------------- tables

_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
)


@dataclass(frozen=True)
class TableSpec:
    """One `AWS::DynamoDB::Table`: the boto3 `create_table` kwargs and the TTL attribute (if any)."""

    logical_id: str
    create_kwargs: dict[str, Any]
    ttl_attribute: str | None = None

    @property
    def table_name(self) -> str:
        name: str = self.create_kwargs["TableName"]
        return name


def table_specs(template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None) -> dict[str, TableSpec]:
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    specs: dict[str, TableSpec] = {}
    for logical_id, resource in template.resources_of_type(TABLE_TYPE).items():
        raw_properties = resource.get("Properties") or {}
        # Only the properties create_table takes are resolved: others (SSE keys, ...) may not resolve locally.
        properties = {
            name: resolver.resolve(raw_properties[name])
            for name in (*_TABLE_PROPERTIES, "TimeToLiveSpecification", "StreamSpecification")
            if name in raw_properties
        }
        kwargs: dict[str, Any] = {
            "TableName": resolver.table_name(logical_id),
            "AttributeDefinitions": properties.get("AttributeDefinitions") or [],
            "KeySchema": properties.get("KeySchema") or [],
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if properties.get(index_kind):
                kwargs[index_kind] = [_index(index) for index in properties[index_kind]]
        kwargs["BillingMode"] = properties.get("BillingMode") or "PROVISIONED"
        if "ProvisionedThroughput" in properties:
            kwargs["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
        stream_view = (properties.get("StreamSpecification") or {}).get("StreamViewType")
        if stream_view:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": str(stream_view)}
        ttl = properties.get("TimeToLiveSpecification") or {}
        ttl_attribute = ttl.get("AttributeName") if _truthy(ttl.get("Enabled", False)) else None
        specs[logical_id] = TableSpec(logical_id, kwargs, str(ttl_attribute) if ttl_attribute else None)
    return specs


def table_definitions(
    template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Logical id -> the boto3 `create_table` kwargs, exactly as the template declares the table."""
    return {logical_id: spec.create_kwargs for logical_id, spec in table_specs(template, parameter_overrides).items()}


def _index(index: Mapping[str, Any]) -> dict[str, Any]:
    definition: dict[str, Any] = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"]}
    projection = dict(index.get("Projection") or {"ProjectionType": "ALL"})
    definition["Projection"] = projection
    if "ProvisionedThroughput" in index:
        definition["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return definition


def _throughput(throughput: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in throughput.items()}


# ----------------------------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an `AWS::Serverless::Api` (`Auth.Authorizers`): the function it calls, its payload
    type (REQUEST or TOKEN), and the identity sources a request must carry for it to be called."""

    name: str
    function_id: str
    payload_type: str
    identity_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """One `Type: Api` event: `method` upper-case (`ANY` for any), `path` with `{param}` placeholders."""

    method: str
    path: str
    function_id: str
    code_uri: Path | None
    handler: str
    api_key_required: bool
    event_id: str
    api_id: str
    stage: str
    authorizer: Authorizer | None = None


@dataclass(frozen=True)
class GatewayResponse:
    """One of an API's `GatewayResponses`: the status, headers and JSON body template API Gateway answers with."""

    status: int | None
    headers: dict[str, str]
    body: str | None


@dataclass(frozen=True)
class FunctionSpec:
    """One `AWS::Serverless::Function` with the Globals merged in; `routes` is empty for non-API functions."""

    logical_id: str
    code_uri: Path | None
    handler: str
    function_name: str
    memory_size: int
    timeout: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    routes: tuple[Route, ...] = ()
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def handler_file(self) -> Path:
        """`app.lambda_handler` -> <CodeUri>/app.py (`pkg.mod.fn` -> <CodeUri>/pkg/mod.py)."""
        if self.code_uri is None:
            raise TemplateError(f"{self.logical_id} has no local CodeUri")
        module_path, _, _attribute = self.handler.rpartition(".")
        return self.code_uri / (module_path.replace(".", "/") + ".py")

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


def functions(
    template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None
) -> dict[str, FunctionSpec]:
    """Every `AWS::Serverless::Function`, keyed by logical id, in template order."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    function_globals = template.globals_for("Function")
    result: dict[str, FunctionSpec] = {}
    for logical_id, resource in template.resources_of_type(FUNCTION_TYPE).items():
        properties = resource.get("Properties") or {}

        def setting(name: str, default: Any, properties: dict[str, Any] = properties) -> Any:
            return resolver.resolve(properties.get(name, function_globals.get(name, default)))

        code_uri = setting("CodeUri", None)
        code_dir = (template.directory / code_uri).resolve() if isinstance(code_uri, str) else None
        handler = str(setting("Handler", "app.lambda_handler"))
        events = {
            event_id: event for event_id, event in (properties.get("Events") or {}).items() if isinstance(event, dict)
        }
        routes = tuple(
            _route(template, resolver, logical_id, code_dir, handler, event_id, event)
            for event_id, event in events.items()
            if event.get("Type") == "Api"
        )
        function_name = setting("FunctionName", logical_id)
        result[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=code_dir,
            handler=handler,
            function_name=str(function_name),
            memory_size=int(setting("MemorySize", 128)),
            timeout=int(setting("Timeout", 3)),
            environment=_environment(resolver, function_globals, properties),
            layer_dirs=_layer_dirs(template, function_globals, properties),
            routes=routes,
            events=events,
        )
    return result


def routes(template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None) -> list[Route]:
    """Every API route of every function, in template order."""
    return [route for spec in functions(template, parameter_overrides).values() for route in spec.routes]


def function_environments(
    template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Logical id -> the environment the function gets (Globals merged with its own, resolved)."""
    return {logical_id: spec.environment for logical_id, spec in functions(template, parameter_overrides).items()}


def merged_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The union of the functions' environments; a variable two functions set differently is an error
    (the handlers share one process locally)."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for logical_id, environment in environments.items():
        for name, value in environment.items():
            if name in merged and merged[name] != value:
                raise TemplateError(
                    f"{owner[name]} and {logical_id} set {name} differently ({merged[name]!r} vs {value!r}); "
                    "the local stack runs every function in one process and needs one value"
                )
            merged.setdefault(name, value)
            owner.setdefault(name, logical_id)
    return merged


def stage_name(
    template: TemplateSource, api_id: str | None = None, parameter_overrides: Mapping[str, str] | None = None
) -> str:
    """The stage of `api_id` (default: the template's first `AWS::Serverless::Api`, else SAM's implicit `Prod`)."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    apis = template.resources_of_type(API_TYPE)
    if api_id is None:
        api_id = next(iter(apis), IMPLICIT_API_ID)
    return _api_stage(template, resolver, api_id)


def _api_stage(template: Template, resolver: Resolver, api_id: str) -> str:
    api = template.resources_of_type(API_TYPE).get(api_id)
    if api is None:
        return IMPLICIT_API_STAGE
    stage = resolver.resolve((api.get("Properties") or {}).get("StageName", IMPLICIT_API_STAGE))
    return str(stage)


def _route(
    template: Template,
    resolver: Resolver,
    function_id: str,
    code_dir: Path | None,
    handler: str,
    event_id: str,
    event: Mapping[str, Any],
) -> Route:
    properties = resolver.resolve(event.get("Properties") or {})
    path, method = properties.get("Path"), properties.get("Method")
    if not path or not method:
        raise TemplateError(f"{function_id}.{event_id}: an Api event needs Path and Method")
    rest_api = (event.get("Properties") or {}).get("RestApiId")
    if isinstance(rest_api, dict) and "Ref" in rest_api:
        api_id = str(rest_api["Ref"])
    elif isinstance(rest_api, str):
        api_id = rest_api
    else:
        api_id = IMPLICIT_API_ID
    api_key_required = _api_key_required(template, resolver, api_id, properties.get("Auth") or {})
    authorizer = _route_authorizer(template, resolver, api_id, properties.get("Auth") or {})
    method = str(method).upper()
    return Route(
        method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
        path=str(path),
        function_id=function_id,
        code_uri=code_dir,
        handler=handler,
        api_key_required=api_key_required,
        event_id=event_id,
        api_id=api_id,
        stage=_api_stage(template, resolver, api_id),
        authorizer=authorizer,
    )


def _api_auth(template: Template, resolver: Resolver, api_id: str) -> dict[str, Any]:
    api = template.resources_of_type(API_TYPE).get(api_id)
    api_properties = (api.get("Properties") or {}) if api is not None else {}
    auth = resolver.resolve(api_properties.get("Auth", template.globals_for("Api").get("Auth", {}))) or {}
    return auth if isinstance(auth, dict) else {}


def _route_authorizer(
    template: Template, resolver: Resolver, api_id: str, event_auth: Mapping[str, Any]
) -> Authorizer | None:
    """The route's Lambda authorizer: the event's `Auth.Authorizer` (`NONE`: none), else the API's default."""
    api_auth = _api_auth(template, resolver, api_id)
    name = event_auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
    if not name or name in ("NONE", "AWS_IAM"):
        return None
    declared = (template.resources_of_type(API_TYPE).get(api_id) or {}).get("Properties", {}).get("Auth", {})
    definition = (declared.get("Authorizers") or {}).get(name)
    if not isinstance(definition, dict):
        raise TemplateError(f"{api_id}: the authorizer {name!r} is not declared in Auth.Authorizers")
    function_arn = definition.get("FunctionArn")
    # !GetAtt <function>.Arn, or !Ref <function>.Alias (SAM's reference to the AutoPublishAlias alias): the local
    # stack has no versions, the function is the same code.
    if isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn:
        target = function_arn["Fn::GetAtt"]
        function_id = target[0] if isinstance(target, list) else str(target).split(".", 1)[0]
    elif isinstance(function_arn, dict) and str(function_arn.get("Ref", "")).endswith(".Alias"):
        function_id = str(function_arn["Ref"]).removesuffix(".Alias")
    else:
        raise TemplateError(f"{api_id}.{name}: FunctionArn must be !GetAtt <function>.Arn or !Ref <function>.Alias")
    identity = resolver.resolve(definition.get("Identity") or {})
    return Authorizer(
        name=str(name),
        function_id=str(function_id),
        payload_type=str(resolver.resolve(definition.get("FunctionPayloadType", "TOKEN"))).upper(),
        identity_headers=tuple(str(header) for header in (identity.get("Headers") or [])),
    )


def gateway_responses(
    template: TemplateSource, api_id: str, parameter_overrides: Mapping[str, str] | None = None
) -> dict[str, GatewayResponse]:
    """The API's `GatewayResponses` by response type (UNAUTHORIZED, ACCESS_DENIED, DEFAULT_4XX, ...)."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    api = template.resources_of_type(API_TYPE).get(api_id) or {}
    declared = resolver.resolve((api.get("Properties") or {}).get("GatewayResponses") or {})
    found: dict[str, GatewayResponse] = {}
    for response_type, response in declared.items():
        templates = response.get("ResponseTemplates") or {}
        headers = {str(name): str(value).strip("'") for name, value in (response.get("ResponseHeaders") or {}).items()}
        status = response.get("StatusCode")
        found[str(response_type)] = GatewayResponse(
            status=int(status) if status is not None else None,
            headers=headers,
            body=templates.get("application/json"),
        )
    return found


def access_log_format(
    template: TemplateSource, api_id: str, parameter_overrides: Mapping[str, str] | None = None
) -> str | None:
    """The API stage's access log format (`AccessLogSetting.Format`), if it logs."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    api = template.resources_of_type(API_TYPE).get(api_id) or {}
    setting = resolver.resolve((api.get("Properties") or {}).get("AccessLogSetting") or {})
    fmt = setting.get("Format") if isinstance(setting, dict) else None
    return str(fmt) if fmt else None


def _api_key_required(template: Template, resolver: Resolver, api_id: str, event_auth: Mapping[str, Any]) -> bool:
    if "ApiKeyRequired" in event_auth:
        return _truthy(event_auth["ApiKeyRequired"])
    api = template.resources_of_type(API_TYPE).get(api_id)
    api_properties = (api.get("Properties") or {}) if api is not None else {}
    api_auth = resolver.resolve(api_properties.get("Auth", template.globals_for("Api").get("Auth", {}))) or {}
    return _truthy(api_auth.get("ApiKeyRequired", False))


def _environment(
    resolver: Resolver, function_globals: Mapping[str, Any], properties: Mapping[str, Any]
) -> dict[str, str]:
    variables: dict[str, Any] = {}
    for source in (function_globals, properties):
        variables.update(((source.get("Environment") or {}).get("Variables")) or {})
    environment: dict[str, str] = {}
    for name, value in variables.items():
        resolved = resolver.resolve(value)
        if resolved is NO_VALUE:
            continue
        environment[str(name)] = _text(resolved)
    return environment


def _layer_dirs(
    template: Template, function_globals: Mapping[str, Any], properties: Mapping[str, Any]
) -> tuple[Path, ...]:
    """The local directories of the function's `AWS::Serverless::LayerVersion` layers (their ContentUri)."""
    layers = list(function_globals.get("Layers") or []) + list(properties.get("Layers") or [])
    directories: list[Path] = []
    for layer in layers:
        if not (isinstance(layer, dict) and "Ref" in layer):
            continue
        resource = template.resources.get(str(layer["Ref"])) or {}
        content_uri = (resource.get("Properties") or {}).get("ContentUri")
        if resource.get("Type") == LAYER_TYPE and isinstance(content_uri, str):
            directory = (template.directory / content_uri).resolve()
            if directory not in directories:
                directories.append(directory)
    return tuple(directories)


# ----------------------------------------------------------------------------------------------- streams and buses


@dataclass(frozen=True)
class StreamSource:
    """One `Type: DynamoDB` event of a function: which table's stream feeds it, and how Lambda would read it.

    `maximum_retry_attempts` is -1 when the template sets none (Lambda retries until the records expire)."""

    function_id: str
    event_id: str
    table_logical_id: str
    table_name: str
    starting_position: str
    batch_size: int
    maximum_retry_attempts: int
    report_batch_item_failures: bool
    enabled: bool
    filter_patterns: tuple[dict[str, Any], ...] = ()  # `FilterCriteria` (local_stack.event_filter)


def stream_sources(
    template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None
) -> list[StreamSource]:
    """Every `Type: DynamoDB` event of every function, in template order. Its `Stream` (usually
    `!GetAtt <Table>.StreamArn`) must name one of the template's tables: the local stack reads that table's
    stream in the emulator, whatever ARN the template wrote."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    tables = {resolver.table_name(logical_id): logical_id for logical_id in template.resources_of_type(TABLE_TYPE)}
    sources: list[StreamSource] = []
    for function_id, resource in template.resources_of_type(FUNCTION_TYPE).items():
        for event_id, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "DynamoDB":
                continue
            properties = resolver.resolve(event.get("Properties") or {})
            table_name = _stream_table_name(str(properties.get("Stream", "")))
            if table_name not in tables:
                raise TemplateError(
                    f"{function_id}.{event_id}: Stream {properties.get('Stream')!r} is not the stream of a table "
                    "of this template"
                )
            sources.append(
                StreamSource(
                    function_id=function_id,
                    event_id=event_id,
                    table_logical_id=tables[table_name],
                    table_name=table_name,
                    starting_position=str(properties.get("StartingPosition", "LATEST")),
                    batch_size=int(properties.get("BatchSize", 100)),
                    maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    enabled=_truthy(properties.get("Enabled", True)),
                    filter_patterns=_filter_patterns(function_id, event_id, properties.get("FilterCriteria")),
                )
            )
    return sources


def _filter_patterns(function_id: str, event_id: str, criteria: Any) -> tuple[dict[str, Any], ...]:
    from local_stack.event_filter import parse_patterns

    try:
        return parse_patterns(criteria)
    except ValueError as error:
        raise TemplateError(f"{function_id}.{event_id}: FilterCriteria: {error}") from None


@dataclass(frozen=True)
class QueueSpec:
    """One `AWS::SQS::Queue`: its name and the attributes the local stack gives it (CreateQueue's, as text)."""

    logical_id: str
    name: str
    attributes: dict[str, str]


_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "DelaySeconds")


def queue_specs(template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None) -> list[QueueSpec]:
    """Every `AWS::SQS::Queue` of the template, those without a redrive policy first (a queue's dead-letter queue
    must exist before it); `RedrivePolicy` as JSON with its target's ARN resolved."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    specs: list[QueueSpec] = []
    for logical_id, resource in template.resources_of_type(QUEUE_TYPE).items():
        properties = resolver.resolve(resource.get("Properties") or {})
        attributes = {name: _text(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties}
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        specs.append(QueueSpec(logical_id=logical_id, name=resolver.queue_name(logical_id), attributes=attributes))
    return sorted(specs, key=lambda spec: "RedrivePolicy" in spec.attributes)


@dataclass(frozen=True)
class QueueSource:
    """One `Type: SQS` event of a function: the queue it reads and how Lambda would hand its messages over."""

    function_id: str
    event_id: str
    queue_name: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool


def queue_sources(template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None) -> list[QueueSource]:
    """Every `Type: SQS` event of every function, in template order; its `Queue` must be one of the template's
    queues (`!GetAtt <queue>.Arn`)."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    arns = {resolver.get_att(logical_id, "Arn"): logical_id for logical_id in template.resources_of_type(QUEUE_TYPE)}
    sources: list[QueueSource] = []
    for function_id, resource in template.resources_of_type(FUNCTION_TYPE).items():
        for event_id, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "SQS":
                continue
            properties = resolver.resolve(event.get("Properties") or {})
            arn = str(properties.get("Queue", ""))
            if arn not in arns:
                raise TemplateError(f"{function_id}.{event_id}: Queue {arn!r} is not a queue of this template")
            sources.append(
                QueueSource(
                    function_id=function_id,
                    event_id=event_id,
                    queue_name=resolver.queue_name(arns[arn]),
                    queue_arn=arn,
                    batch_size=int(properties.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    enabled=_truthy(properties.get("Enabled", True)),
                )
            )
    return sources


@dataclass(frozen=True)
class ScheduleSource:
    """One `Type: Schedule` event of a function: its expression (`rate(...)` or `cron(...)`) and the event it
    sends (`Input`, parsed; the EventBridge "Scheduled Event" envelope when there is none)."""

    function_id: str
    event_id: str
    expression: str
    event: Any
    enabled: bool


def schedule_sources(
    template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None
) -> list[ScheduleSource]:
    """Every `Type: Schedule` event of every function, in template order."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    sources: list[ScheduleSource] = []
    for function_id, resource in template.resources_of_type(FUNCTION_TYPE).items():
        for event_id, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "Schedule":
                continue
            properties = resolver.resolve(event.get("Properties") or {})
            raw_input = properties.get("Input")
            enabled = _truthy(properties.get("Enabled", True)) and properties.get("State", "ENABLED") == "ENABLED"
            try:
                payload = json.loads(raw_input) if isinstance(raw_input, str) else None
            except json.JSONDecodeError as error:
                raise TemplateError(f"{function_id}.{event_id}: Input is not JSON ({error})") from None
            sources.append(
                ScheduleSource(
                    function_id=function_id,
                    event_id=event_id,
                    expression=str(properties.get("Schedule", "")),
                    event=payload
                    if payload is not None
                    else {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
                    enabled=enabled,
                )
            )
    return sources


def _stream_table_name(stream_arn: str) -> str | None:
    """`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>` -> `<name>`."""
    resource = stream_arn.split(":", 5)[-1].split("/")
    return resource[1] if len(resource) >= 2 and resource[0] == "table" else None


def event_buses(template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Logical id -> name of every `AWS::Events::EventBus` (what `!Ref` answers)."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    buses = template.resources_of_type(EVENT_BUS_TYPE)
    return {logical_id: resolver.event_bus_name(logical_id) for logical_id in buses}


def parameter_value(template: TemplateSource, name: str, parameter_overrides: Mapping[str, str] | None = None) -> str:
    """A template parameter's value as a string: the override, else its Default."""
    return _text(Resolver(_as_template(template), parameter_overrides).parameter(name))


def buckets(template: TemplateSource, parameter_overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Logical id -> name of every `AWS::S3::Bucket` (what `!Ref` answers)."""
    template = _as_template(template)
    resolver = Resolver(template, parameter_overrides)
    return {logical_id: resolver.bucket_name(logical_id) for logical_id in template.resources_of_type(BUCKET_TYPE)}
