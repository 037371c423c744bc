"""Access control's pure parts: the principal and its scopes and numbers, the shape of a client key, the key a
request names, the principal the authorizer hands over, its answer to API Gateway, and the route table."""

import pytest

from aircall_sms.api import access as api_access
from aircall_sms.api.access import ROUTE_SCOPES, authorizer_answer, principal_of, required_scope
from aircall_sms.domain import access
from aircall_sms.domain.access import Principal
from aircall_sms.errors import InsufficientScope, NumberNotAllowed, Unauthorized
from aircall_sms.use_cases.authorize import presented_key
from local_stack.template import routes
from tests.support import ROOT, load_event

LIMITED = Principal("key_01JDX0000000000000000CRM00", frozenset({"send", "read"}), frozenset({"100004"}))


def test_admin_has_every_scope_and_a_key_only_its_own():
    assert all(access.ADMIN_PRINCIPAL.has(scope) for scope in access.SCOPES)
    assert LIMITED.has("send") and not LIMITED.has("export") and not LIMITED.has("admin")


def test_a_missing_scope_is_403_naming_the_scope_needed():
    with pytest.raises(InsufficientScope) as refused:
        LIMITED.require("contacts")
    assert (refused.value.status, refused.value.details) == (403, {"required": "contacts"})


def test_a_key_limited_to_numbers_may_name_only_those():
    LIMITED.require_number("100004")
    with pytest.raises(NumberNotAllowed) as refused:
        LIMITED.require_number("100005")
    assert refused.value.details == {"number_id": 100005}
    with pytest.raises(NumberNotAllowed):
        LIMITED.require_every_number()
    assert LIMITED.narrowed(["100005", "100004", "100006"]) == ["100004"]
    access.ADMIN_PRINCIPAL.require_every_number()


def test_a_new_key_is_its_id_and_a_256_bit_secret_of_which_only_the_digest_is_kept():
    new = access.new_key("key_01JDX0000000000000000CRM00")
    key_id, secret = new.key.split(".")
    assert key_id == new.key_id and len(secret) == 43
    assert access.parse_key(new.key) == (key_id, secret)
    assert new.digest == access.digest(secret) and secret not in new.digest


@pytest.mark.parametrize(
    "text",
    [
        "key_01JDX0000000000000000CRM00",  # no secret
        "key_01JDX0000000000000000CRM00." + "a" * 42,  # truncated
        "key_01JDX0000000000000000CRM00." + "a" * 44,  # too long
        "key_01JDX0000000000000000CRMOO." + "a" * 43,  # O is not in the id's alphabet
        "local-api-key",
        "",
    ],
)
def test_anything_but_a_whole_client_key_is_not_one(text):
    assert access.parse_key(text) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer abc"}, "abc"),
        ({"authorization": "bearer   abc  "}, "abc"),
        ({"x-api-key": "abc"}, "abc"),
        ({"X-Api-Key": " abc "}, "abc"),
        ({"Authorization": "Bearer abc", "x-api-key": "other"}, "abc"),
        ({"Authorization": "Basic abc", "x-api-key": "other"}, "other"),
        ({"Authorization": "Bearer "}, None),
        ({"x-api-key": ""}, None),
        ({}, None),
    ],
)
def test_a_request_names_its_key_as_a_bearer_token_or_in_x_api_key(headers, expected):
    assert presented_key(headers) == expected


def test_the_authorizers_context_carries_the_principal_to_the_functions_and_back():
    answer = authorizer_answer(LIMITED, "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/POST/messages")
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*/*",
    }
    assert answer["principalId"] == LIMITED.client_id
    assert all(isinstance(value, str) for value in answer["context"].values())
    event = {"requestContext": {"authorizer": answer["context"] | {"principalId": answer["principalId"]}}}
    assert principal_of(event) == LIMITED
    every = principal_of({"requestContext": {"authorizer": api_access.authorizer_context(access.ADMIN_PRINCIPAL)}})
    assert every == access.ADMIN_PRINCIPAL


def test_a_function_reached_without_a_principal_refuses():
    with pytest.raises(Unauthorized):
        principal_of(load_event("manage_health"))


def test_every_route_of_the_template_has_its_scope_and_unknown_routes_need_admin():
    declared = {(route.method, route.path) for route in routes(ROOT / "template.yaml")}
    assert declared == set(ROUTE_SCOPES)
    assert required_scope("GET", "/somewhere/else") == "admin"


def test_the_open_routes_are_exactly_the_webhook_health_and_the_console_s_pages_and_have_no_authorizer():
    open_routes = {route for route, scope in ROUTE_SCOPES.items() if scope is None}
    assert open_routes == {
        ("GET", "/health"),
        ("POST", "/webhooks/aircall"),
        ("GET", "/console"),  # static pages: the data they show is read with the person's token
        ("GET", "/console/{asset+}"),
        ("GET", "/docs"),  # Swagger UI's page: no data, it loads /openapi.json with the key typed in
    }
    for route in routes(ROOT / "template.yaml"):
        has_authorizer = route.authorizer is not None
        assert has_authorizer == ((route.method, route.path) not in open_routes), route
        assert not route.api_key_required  # API keys are not authentication (README, "Access")


def test_the_openapi_document_gives_every_keyed_operation_its_scope_and_its_401_and_403():
    from aircall_sms.api import manage_routes, openapi

    document = openapi.document("/v1", manage_routes.documented_routes())
    assert set(document["components"]["securitySchemes"]) == {"clientKey", "bearerKey", "signInToken"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            scope = ROUTE_SCOPES[(method.upper(), path)]
            if scope is None:
                assert "security" not in operation, (method, path)
                continue
            assert operation["security"] == [
                {"clientKey": [scope]},
                {"bearerKey": [scope]},
                {"signInToken": [scope]},
            ], (method, path)
            assert operation["x-required-scope"] == scope
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
