"""GET /openapi.json and GET /docs (the ManageFunction): the document covers every route of template.yaml with its
API key requirement, its request bodies are the pydantic models that validate requests, its errors are the
contract's, and it is a valid OpenAPI document. No network: generating it reads nothing."""

import json

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from aircall_sms.api import manage_routes, openapi
from aircall_sms.api.webhook_routes import AircallCallback
from aircall_sms.domain.requests import ConsentRequest, NumberRequest, OptOutRequest, SendRequest
from local_stack.template import functions
from tests.support import ROOT, FakeContext, load_event, load_handler

REF = "#/components/schemas/{model}"
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/messages"): SendRequest,
    ("put", "/numbers/{number_id}"): NumberRequest,
    ("put", "/opt-outs/{phone}"): OptOutRequest,
    ("put", "/consents/{phone}"): ConsentRequest,
    ("post", "/webhooks/aircall"): AircallCallback,
}


def without_nulls(schema):
    """A JSON schema as the document writes it: keys whose value is null are left out (`"default": null`)."""
    if isinstance(schema, dict):
        return {key: without_nulls(value) for key, value in schema.items() if value is not None}
    if isinstance(schema, list):
        return [without_nulls(value) for value in schema]
    return schema


def served(event_name):
    answer = load_handler("manage").lambda_handler(load_event(event_name), FakeContext())
    return answer["statusCode"], answer["multiValueHeaders"]["Content-Type"][0], answer["body"]


@pytest.fixture(scope="module")
def document():
    status, content_type, body = served("manage_openapi")
    assert (status, content_type) == (200, "application/json")
    return json.loads(body)


def operations(document):
    return {(method, path): operation for path, item in document["paths"].items() for method, operation in item.items()}


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "/v1"}]  # the stage the request came through


def test_the_document_lists_every_route_of_the_template_and_no_other():
    template_routes = {
        (route.method.lower(), route.path): route
        for spec in functions(ROOT / "template.yaml").values()
        for route in spec.routes
        if spec.logical_id != "ConsoleFunction"  # the console's web pages, not operations of the API
    }
    documented = operations(openapi.document("/v1", manage_routes.documented_routes()))

    assert set(documented) == set(template_routes)
    for key, route in template_routes.items():
        needs_key = documented[key].get("security") == [{"apiKey": []}]
        assert needs_key is route.api_key_required, key


def test_the_request_bodies_are_the_models_that_validate_requests(document):
    schemas = document["components"]["schemas"]
    for key, model in BODIES.items():
        operation = operations(document)[key]
        body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        refs = [body_schema.get("$ref")] + [option.get("$ref") for option in body_schema.get("anyOf", [])]
        assert REF.format(model=model.__name__) in refs, key
        expected = without_nulls(model.model_json_schema(by_alias=True, ref_template=REF))
        nested = expected.pop("$defs", {})
        assert schemas[model.__name__] == expected, key
        for name, schema in nested.items():
            assert schemas[name] == schema


def test_every_operation_documents_its_answers_in_the_contracts_error_shape(document):
    for key, operation in operations(document).items():
        statuses = set(operation["responses"])
        assert "422" not in statuses, key  # the gateway answers 400 invalid_request, never 422
        assert any(status < "300" for status in statuses), key
        for status, response in operation["responses"].items():
            assert response["description"], (key, status)
            if status >= "400":
                schema = response["content"]["application/json"]["schema"]
                assert "Error" in json.dumps(schema) or "Forbidden" in json.dumps(schema), (key, status)
        if operation.get("security"):
            assert "403" in statuses, key  # API Gateway's answer to a missing key
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_send_route_documents_its_error_codes_and_the_idempotency_key(document):
    send = operations(document)[("post", "/messages")]

    assert {"200", "201", "202", "400", "403", "404", "409", "413", "429", "502", "503", "504"} <= set(
        send["responses"]
    )
    assert "opted_out" in send["responses"]["403"]["description"]
    header = next(parameter for parameter in send["parameters"] if parameter["in"] == "header")
    assert header["name"].lower() == "idempotency-key"
    assert header["schema"]["anyOf"][0]["maxLength"] == 255


def test_the_swagger_ui_page_asks_for_a_key_and_runs_only_its_own_scripts():
    import base64
    import hashlib
    import re

    answer = load_handler("manage").lambda_handler(load_event("manage_docs"), FakeContext())
    body, headers = answer["body"], {key: values[0] for key, values in answer["multiValueHeaders"].items()}

    assert (answer["statusCode"], headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert "SwaggerUIBundle" in body and 'url: "openapi.json"' in body
    assert '"/webhooks/aircall"' not in body  # no document inline: it is fetched with the key typed in
    assert "<script src=" not in body  # every script inline: the page fetches nothing from elsewhere
    policy = headers["Content-Security-Policy"]
    scripts = re.findall(r"<script>(.*?)</script>", body, flags=re.DOTALL)
    assert len(scripts) == 2
    for script in scripts:  # each inline script is allowed by its hash, and nothing else runs
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize(
    ("path", "context_path", "server"),
    [
        ("/docs", "/v1/docs", "/v1"),
        ("/docs", "/docs", "/"),
        ("/docs", "/a/b/c/d/docs", "/"),  # not a stage's path
        ("/docs", "/v1 <script>/docs", "/"),
    ],
)
def test_the_server_is_the_stage_the_request_came_through(path, context_path, server):
    assert openapi.server_of({"path": path, "requestContext": {"path": context_path}}) == server


def schema_validator(document, name):
    """A JSON Schema validator for the document's component `name`, its `$ref`s resolved in the document."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:document", resource)
    return Draft202012Validator({"$ref": f"urn:document#/components/schemas/{name}"}, registry=registry)


def test_every_json_success_answer_has_a_named_schema_with_its_fields(document):
    schemas = document["components"]["schemas"]
    for (method, path), operation in operations(document).items():
        for status, answer in operation["responses"].items():
            if int(status) >= 300:
                continue
            (media, content), *_ = answer["content"].items()
            if media != "application/json":
                assert content["schema"] == {"type": "string"}, (method, path, status)
                continue
            ref = content["schema"]["$ref"]
            schema = schemas[ref.rsplit("/", 1)[1]]
            named = schema.get("properties") or [part.get("properties") for part in schema.get("allOf", [])]
            assert named and schema.get("required", True), (method, path, status, ref)


def test_every_schema_example_is_valid_by_its_schema(document):
    examples = 0
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            schema_validator(document, name).validate(example)
            examples += 1
    assert examples >= 10


def test_the_gateways_own_objects_are_valid_by_their_schemas(document):
    from aircall_sms.store.numbers import NumberRecord

    number = NumberRecord(
        number_id="100001", e164="+14155550100", region="US", kind="local", mode="agent", registration="none",
        configured_at="2026-11-30T09:15:02.118Z", updated_at="2026-11-30T09:15:02.118Z",
    )  # fmt: skip
    schema_validator(document, "NumberAnswer").validate({"number": number.to_api()})
    number.mode = "fax"
    with pytest.raises(Exception, match="fax"):
        schema_validator(document, "NumberAnswer").validate({"number": number.to_api()})


def test_every_operation_has_a_stable_unique_name(document):
    names = [operation["operationId"] for operation in operations(document).values()]
    assert len(names) == len(set(names)) == len(openapi.OPERATION_IDS)
    assert operations(document)[("post", "/messages")]["operationId"] == "sendMessage"


def test_the_send_body_shows_real_examples():
    schema = SendRequest.model_json_schema(by_alias=True)
    assert schema["properties"]["from"]["examples"][0] == "+14155550100"
    assert schema["properties"]["to"]["examples"] == ["+14155550123"]


def test_a_campaigns_message_shows_its_campaign_id_as_documented(document):
    from aircall_sms.store.messages import MessageRecord

    record = MessageRecord(
        id="msg_1", number_id="100001", sender="+14155550100", recipient="+14155550123", contact="+14155550123",
        direction="outbound", status="scheduled", created_at="2026-11-30T09:15:02.118Z",
        updated_at="2026-11-30T09:15:02.118Z",
    )  # fmt: skip
    assert "campaign_id" not in record.to_api()  # only a campaign's message has one
    record.campaign_id = "cmp_01JDXK3N8Q7W2V5R9T4Y6Z1A3B"
    answer = record.to_api()
    assert answer["campaign_id"] == "cmp_01JDXK3N8Q7W2V5R9T4Y6Z1A3B"
    schema_validator(document, "MessageAnswer").validate({"message": answer})
    assert document["components"]["schemas"]["Message"]["properties"]["campaign_id"]["type"] == "string"
    record.campaign_id = 7  # type: ignore[assignment]
    with pytest.raises(Exception, match="7"):
        schema_validator(document, "MessageAnswer").validate({"message": record.to_api()})
