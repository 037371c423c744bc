"""Access control in the deployed shape (template.yaml): what only the template can show — API Gateway's own
answers in the contract's shape, an access log that names the principal and never a path, a key or a header, no
API Gateway API key in authentication's place, the authorizer's least privilege, the admin key generated, not
given."""

from __future__ import annotations

import json
import re

import pytest

from local_stack.template import load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE.resources
API = RESOURCES["Api"]["Properties"]


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        ("UNAUTHORIZED", 401, "unauthorized"),
        ("ACCESS_DENIED", 403, "insufficient_scope"),
        ("MISSING_AUTHENTICATION_TOKEN", 404, "not_found"),
        ("THROTTLED", 429, "throttled"),
        ("AUTHORIZER_FAILURE", 503, "service_busy"),
        ("REQUEST_TOO_LARGE", 413, "payload_too_large"),
    ],
)
def test_api_gateways_own_answers_come_in_the_contracts_error_shape(response_type, status, code):
    response = API["GatewayResponses"][response_type]
    assert response["StatusCode"] == status
    body = json.loads(response["ResponseTemplates"]["application/json"].replace("$context.requestId", "r"))
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def test_the_default_4xx_and_5xx_answers_are_in_the_contracts_shape_too():
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = API["GatewayResponses"][response_type]["ResponseTemplates"]["application/json"]
        body = json.loads(re.sub(r"\$context\.[a-zA-Z.]+", "x", template))
        assert set(body["error"]) == {"code", "message", "details"}


def test_the_access_log_names_the_principal_and_the_route_never_a_path_a_key_or_a_header():
    line_format = API["AccessLogSetting"]["Format"]
    fields = json.loads(re.sub(r"\$context\.[a-zA-Z.]+", "x", line_format))
    assert {"client_id", "resource", "status", "request_id"} <= set(fields)
    assert "$context.authorizer.client_id" in line_format
    assert "$context.resourcePath" in line_format
    for leaky in ("$context.path", "$input", "$context.identity.apiKey", "$method.request", "header"):
        assert leaky not in line_format.replace("$context.resourcePath", ""), leaky


def test_no_api_gateway_api_key_or_usage_plan_authenticates():
    auth = API["Auth"]
    assert "ApiKeyRequired" not in auth and "UsagePlan" not in auth
    assert auth["DefaultAuthorizer"] == "ClientKeyAuthorizer"
    authorizer = auth["Authorizers"]["ClientKeyAuthorizer"]
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["FunctionArn"] == {"Ref": "AuthorizerFunction.Alias"}  # its published version (SnapStart)
    # Either header may name the key: no header may be a required identity source (API Gateway would 401 the other)
    assert "Headers" not in authorizer["Identity"]


def test_the_authorizer_may_only_read_a_key_by_id_and_the_admin_keys_secret():
    (policy,) = RESOURCES["AuthorizerFunction"]["Properties"]["Policies"]
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["ClientKeys"]["Action"] == ["dynamodb:GetItem"]
    assert statements["ClientKeys"]["Resource"] == {"Fn::GetAtt": ["KeysTable", "Arn"]}
    assert statements["AdminKey"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert statements["AdminKey"]["Resource"] == {"Ref": "AdminKeySecret"}


def test_the_admin_key_is_generated_into_secrets_manager_never_a_parameter():
    secret = RESOURCES["AdminKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]
    assert not [name for name in TEMPLATE.parameters if "key" in name.lower() and "cache" not in name.lower()]


def test_the_access_log_bucket_is_private_encrypted_and_expires_its_lines():
    bucket = RESOURCES["AccessLogBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    days = rule["ExpirationInDays"]
    days = TEMPLATE.parameters[days["Ref"]]["Default"] if isinstance(days, dict) else days
    assert rule["Status"] == "Enabled" and days > 0
    stream = RESOURCES["AccessLogDeliveryStream"]["Properties"]
    assert stream["DeliveryStreamName"]["Fn::Sub"].startswith("amazon-apigateway-")
