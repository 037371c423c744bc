"""Reading the SAM template: intrinsic tags, tables, functions, routes and the functions' environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_stack.template import (
    Resolver,
    StreamSource,
    TemplateError,
    event_buses,
    function_environments,
    functions,
    load_template,
    merged_environment,
    parse_template_text,
    routes,
    stage_name,
    stream_sources,
    table_definitions,
    table_specs,
)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------ intrinsic tags


def test_short_form_tags_become_long_form_dicts():
    body = parse_template_text(
        """
        A: !Ref Thing
        B: !GetAtt Table.Arn
        C: !Sub "${AWS::Region}-x"
        D: !Join [",", [a, b]]
        E: !If [Cond, 1, 2]
        F: !Select [0, !GetAZs ""]
        G: !Sub
          - "${X}"
          - X: !Ref Other
        H: !Equals [a, b]
        I: !Condition Cond
        J: !GetAtt [Table, StreamArn]
        K: 2010-09-09
        """
    )
    assert body["A"] == {"Ref": "Thing"}
    assert body["B"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert body["C"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert body["D"] == {"Fn::Join": [",", ["a", "b"]]}
    assert body["E"] == {"Fn::If": ["Cond", 1, 2]}
    assert body["F"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert body["G"] == {"Fn::Sub": ["${X}", {"X": {"Ref": "Other"}}]}
    assert body["H"] == {"Fn::Equals": ["a", "b"]}
    assert body["I"] == {"Condition": "Cond"}
    assert body["J"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert body["K"] == "2010-09-09"


def test_the_project_template_parses():
    template = load_template(ROOT / "template.yaml")
    assert template.resources
    assert template.directory == ROOT


# ------------------------------------------------------------------------------------------ tables


def test_tables_become_create_table_kwargs_exactly_as_declared(tiny_template):
    definitions = table_definitions(tiny_template)

    assert set(definitions) == {"ItemsTable", "LogTable"}
    assert definitions["ItemsTable"] == {
        "TableName": "aircall-sms-gateway-local-items",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_owner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
            }
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": "by_owner_local",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "owner", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def test_a_table_without_table_name_is_named_by_its_logical_id_and_keeps_its_throughput(tiny_template):
    log_table = table_definitions(tiny_template)["LogTable"]

    assert log_table["TableName"] == "LogTable"
    assert log_table["BillingMode"] == "PROVISIONED"
    assert log_table["ProvisionedThroughput"] == {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}


def test_table_ttl_comes_from_time_to_live_specification(tiny_template):
    specs = table_specs(tiny_template)

    assert specs["ItemsTable"].ttl_attribute == "expires_at"
    assert specs["LogTable"].ttl_attribute is None


def test_a_stream_specification_creates_the_table_with_its_stream(tiny_template):
    definitions = table_definitions(tiny_template)

    assert definitions["LogTable"]["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert "StreamSpecification" not in definitions["ItemsTable"]


def test_the_project_tables_that_feed_the_events_function_have_streams():
    definitions = table_definitions(ROOT / "template.yaml")

    for logical_id in ("MessagesTable", "ContactsTable"):
        assert definitions[logical_id]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_parameter_overrides_reach_table_names(tiny_template):
    definitions = table_definitions(tiny_template, {"ItemsTableName": "custom-items"})

    assert definitions["ItemsTable"]["TableName"] == "custom-items"


def test_the_project_tables_have_keys_and_a_billing_mode():
    for definition in table_definitions(ROOT / "template.yaml").values():
        assert definition["KeySchema"]
        assert definition["AttributeDefinitions"]
        assert definition["BillingMode"] in ("PAY_PER_REQUEST", "PROVISIONED")


# ------------------------------------------------------------------------------------------ functions and routes


def test_api_events_become_routes_with_upper_case_methods(tiny_template):
    found = {(route.method, route.path): route for route in routes(tiny_template)}

    assert set(found) == {
        ("ANY", "/echo/{name}"),
        ("GET", "/echo/special"),
        ("POST", "/open"),
        ("GET", "/files/{path+}"),
        ("GET", "/boom"),
        ("GET", "/malformed"),
        ("GET", "/binary"),
    }
    echo = found[("ANY", "/echo/{name}")]
    assert echo.function_id == "EchoFunction"
    assert echo.code_uri == tiny_template.parent / "echo"
    assert echo.handler == "app.lambda_handler"
    assert echo.stage == "test"
    assert echo.event_id == "Echo"


def test_api_key_flag_comes_from_the_event_else_from_the_api(tiny_template):
    required = {route.path: route.api_key_required for route in routes(tiny_template)}

    assert required["/open"] is False  # the event's Auth.ApiKeyRequired: false
    assert required["/echo/{name}"] is True  # the Api's Auth.ApiKeyRequired: true


def test_api_key_defaults_to_not_required_without_any_auth(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.lambda_handler
      Events:
        Get:
          Type: Api
          Properties: {Path: /x, Method: get}
"""
    )
    (route,) = routes(template)
    assert route.api_key_required is False
    assert route.api_id == "ServerlessRestApi"
    assert route.stage == "Prod"


def test_functions_without_api_events_are_listed_too(tiny_template):
    specs = functions(tiny_template)

    assert set(specs) == {"EchoFunction", "TickFunction"}
    tick = specs["TickFunction"]
    assert tick.routes == ()
    assert tick.events["EveryMinute"]["Type"] == "Schedule"
    assert tick.handler_file == tiny_template.parent / "tick" / "app.py"


def test_dynamodb_events_name_their_table_and_how_lambda_reads_it(tiny_template):
    assert stream_sources(tiny_template) == [
        StreamSource(
            function_id="TickFunction",
            event_id="LogChanges",
            table_logical_id="LogTable",
            table_name="LogTable",
            starting_position="LATEST",
            batch_size=5,
            maximum_retry_attempts=-1,
            report_batch_item_failures=False,
            enabled=True,
        )
    ]


def test_the_project_reads_the_streams_with_the_events_usage_and_media_functions_reporting_item_failures():
    sources = stream_sources(ROOT / "template.yaml")

    assert sorted((source.function_id, source.table_logical_id) for source in sources) == [
        ("EventsFunction", "ContactsTable"),
        ("EventsFunction", "MessagesTable"),
        ("MediaFunction", "MessagesTable"),
        ("UsageFunction", "MessagesTable"),
    ]
    for source in sources:
        assert (source.starting_position, source.report_batch_item_failures) == ("TRIM_HORIZON", True)


def test_a_dynamodb_event_on_a_stream_of_no_template_table_is_an_error(make_tiny_project):
    template = make_tiny_project(
        lambda text: text.replace(
            "Stream: !GetAtt LogTable.StreamArn", "Stream: arn:aws:dynamodb:x:1:table/Other/stream/l"
        )
    )

    with pytest.raises(TemplateError, match="LogChanges"):
        stream_sources(template)


def test_event_buses_are_named_by_their_name_property():
    assert event_buses(ROOT / "template.yaml") == {"EventBus": "aircall-sms-gateway-local-aircall-sms"}
    assert function_environments(ROOT / "template.yaml")["EventsFunction"]["EVENT_BUS_NAME"] == (
        "aircall-sms-gateway-local-aircall-sms"
    )


def test_globals_fill_in_function_settings_and_layers(tiny_template):
    echo = functions(tiny_template)["EchoFunction"]

    assert echo.timeout == 7
    assert echo.memory_size == 256
    assert echo.handler_attribute == "lambda_handler"
    assert echo.layer_dirs == (tiny_template.parent / "shared",)


def test_stage_name_is_the_api_stage(tiny_template):
    assert stage_name(tiny_template) == "test"
    assert stage_name(tiny_template, parameter_overrides={"StageName": "v9"}) == "v9"


def test_the_project_routes_follow_the_http_contract_on_client_keys():
    # docs/http-api.md, Access: every route except POST /webhooks/aircall and GET /health needs a client key, checked by
    # the Lambda authorizer, the API's own description (GET /openapi.json) included; no API Gateway API key. The
    # console's static pages and Swagger UI's page (GET /docs) are open too: they hold no data, every call they make
    # carries the person's token or the key typed in.
    open_routes = {
        ("POST", "/webhooks/aircall"),
        ("GET", "/health"),
        ("GET", "/console"),
        ("GET", "/console/{asset+}"),
        ("GET", "/docs"),
    }
    for route in routes(ROOT / "template.yaml"):
        keyed = (route.method, route.path) not in open_routes
        assert (route.authorizer is not None) is keyed, route
        assert route.authorizer is None or route.authorizer.function_id == "AuthorizerFunction"
        assert not route.api_key_required, route
        assert route.code_uri is not None


# ------------------------------------------------------------------------------------------ environment


def test_environment_merges_globals_with_the_function_and_resolves_references(tiny_template, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")

    echo = function_environments(tiny_template)["EchoFunction"]

    assert echo["GREETING"] == "hello"  # parameter default
    assert echo["BUDGET"] == "60"  # a Number parameter, as text
    assert echo["ITEMS_TABLE"] == "aircall-sms-gateway-local-items"  # a table: its local name
    assert echo["LOG_TABLE"] == "LogTable"
    assert echo["BUS_NAME"] == "tiny-bus"  # an event bus: its Name, as CloudFormation answers
    assert echo["BUS_ARN"] == "arn:aws:events:eu-west-3:123456789012:event-bus/tiny-bus"
    assert echo["ITEMS_ARN"] == "arn:aws:dynamodb:eu-west-3:123456789012:table/aircall-sms-gateway-local-items"
    assert echo["REGION_LINE"] == "eu-west-3/123456789012/aws/amazonaws.com/${Literal}"
    assert echo["JOINED"] == "a-hello-y"
    assert echo["MAPPED"] == "10"
    assert "VOLUME" not in echo  # !If [IsLoud, ..., AWS::NoValue]


def test_parameter_overrides_win_over_defaults_and_drive_conditions(tiny_template):
    echo = function_environments(tiny_template, {"Greeting": "bonjour", "Mode": "loud"})["EchoFunction"]

    assert echo["GREETING"] == "bonjour"
    assert echo["JOINED"] == "a-bonjour-y"
    assert echo["VOLUME"] == "LOUD"


def test_region_defaults_to_us_east_1(monkeypatch, tiny_template):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)

    assert Resolver(load_template(tiny_template)).resolve({"Ref": "AWS::Region"}) == "us-east-1"


def test_a_function_without_own_variables_gets_the_globals(tiny_template):
    tick = function_environments(tiny_template)["TickFunction"]

    assert set(tick) == {"GREETING", "BUDGET", "ITEMS_TABLE", "LOG_TABLE"}


def test_merged_environment_is_the_union_and_rejects_disagreements():
    assert merged_environment({"A": {"X": "1"}, "B": {"X": "1", "Y": "2"}}) == {"X": "1", "Y": "2"}
    with pytest.raises(TemplateError, match="set X differently"):
        merged_environment({"A": {"X": "1"}, "B": {"X": "2"}})


def test_an_unknown_reference_is_an_error(tiny_template):
    with pytest.raises(TemplateError, match="Nowhere"):
        Resolver(load_template(tiny_template)).resolve({"Ref": "Nowhere"})


def test_the_project_environment_resolves_to_one_consistent_set():
    environments = function_environments(ROOT / "template.yaml", {"CallbackUrl": "http://x/webhooks/aircall"})

    merged = merged_environment(environments)
    assert merged["CALLBACK_URL"] == "http://x/webhooks/aircall"
    assert all(isinstance(value, str) for value in merged.values())


def test_the_callbacks_queue_resolves_as_cloudformation_answers_and_is_read_by_the_inbound_function():
    from local_stack.template import Resolver, functions, load_template, queue_sources, queue_specs

    template = load_template(ROOT / "template.yaml")
    resolver = Resolver(template, region="us-east-1")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/CallbacksQueue"
    assert resolver.resolve({"Ref": "CallbacksQueue"}) == url
    assert functions(template)["InboundFunction"].environment["CALLBACKS_QUEUE_URL"].endswith("/CallbacksQueue")
    specs = queue_specs(template)
    names = [spec.name for spec in specs]
    assert names.index("CallbacksDeadLetterQueue") < names.index("CallbacksQueue")  # the DLQ exists first
    [callbacks] = [spec for spec in specs if spec.name == "CallbacksQueue"]
    redrive = json.loads(callbacks.attributes["RedrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:CallbacksDeadLetterQueue",
        "maxReceiveCount": 10,
    }
    [source] = queue_sources(template)
    assert (source.function_id, source.queue_name, source.batch_size) == ("InboundFunction", "CallbacksQueue", 10)
    assert source.report_batch_item_failures and source.enabled


def test_a_bucket_is_named_as_cloudformation_would_and_its_arn_is_s3s(tiny_template):
    from local_stack.template import STACK_NAME, Resolver, buckets, load_template

    template = load_template(ROOT / "template.yaml")
    resolver = Resolver(template)
    assert buckets(template)["MediaBucket"] == f"{STACK_NAME}-mediabucket"
    assert resolver.resolve({"Ref": "MediaBucket"}) == f"{STACK_NAME}-mediabucket"
    assert resolver.resolve({"Fn::GetAtt": ["MediaBucket", "Arn"]}) == f"arn:aws:s3:::{STACK_NAME}-mediabucket"
    assert (
        resolver.resolve({"Fn::Sub": "${MediaBucket.Arn}/media/*"}) == f"arn:aws:s3:::{STACK_NAME}-mediabucket/media/*"
    )
