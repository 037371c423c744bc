"""GET /health (the HealthFunction): one eventually consistent GetItem of the health key per table, the only key
its role may read; 200 when both answer, and never a strongly consistent read."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from aircall_sms.store import health
from tests.support import FakeContext, load_event, load_handler

# Loaded at collection, as a cold start.
HANDLER = load_handler("health")


@pytest.fixture
def dynamodb(monkeypatch):
    client = boto3.client(
        "dynamodb", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    monkeypatch.setattr(health, "raw_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_reads(stubber: Stubber) -> None:
    for table, key in (("MessagesTable", "id"), ("NumbersTable", "number_id")):
        stubber.add_response(
            "get_item",
            {},
            {
                "TableName": table,
                "Key": {key: {"S": "health-check"}},
                "ConsistentRead": False,
                "ProjectionExpression": "#key",
                "ExpressionAttributeNames": {"#key": key},
            },
        )


def test_health_answers_200_from_two_eventually_consistent_reads_of_the_health_key(dynamodb, monkeypatch):
    monkeypatch.setenv("MESSAGES_TABLE", "MessagesTable")
    monkeypatch.setenv("NUMBERS_TABLE", "NumbersTable")
    expect_reads(dynamodb)

    answer = HANDLER.lambda_handler(load_event("manage_health"), FakeContext())

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"status": "ok"}


def test_a_table_that_does_not_answer_fails_the_invocation_so_api_gateway_answers_5xx(dynamodb, monkeypatch):
    monkeypatch.setenv("MESSAGES_TABLE", "MessagesTable")
    monkeypatch.setenv("NUMBERS_TABLE", "NumbersTable")
    dynamodb.add_client_error("get_item", "ResourceNotFoundException", "Requested resource not found")

    with pytest.raises(Exception, match="Requested resource not found"):
        HANDLER.lambda_handler(load_event("manage_health"), FakeContext())


def test_a_throttled_read_answers_503_service_busy_in_the_contracts_shape(monkeypatch):
    from aircall_sms.errors import ServiceBusy
    from aircall_sms.use_cases import service

    def throttled() -> dict[str, str]:
        raise ServiceBusy("DynamoDB is throttling.", headers={"Retry-After": "1"})

    monkeypatch.setattr(service, "health", throttled)

    answer = HANDLER.lambda_handler(load_event("manage_health"), FakeContext())

    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "1"
    assert json.loads(answer["body"])["error"]["code"] == "service_busy"


def test_any_other_route_is_404_not_found_and_reads_nothing(dynamodb):
    event = load_event("manage_health") | {"httpMethod": "POST"}

    answer = HANDLER.lambda_handler(event, FakeContext())

    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error"]["code"] == "not_found"
