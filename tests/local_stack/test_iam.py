"""The functions' IAM policies held locally (local_stack/iam.py): a call the function's role does not allow is
refused as AWS refuses it, before it reaches the emulator, and recorded."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from local_stack import iam
from local_stack.front import Front
from local_stack.template import TemplateError, load_template

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Handler: app.lambda_handler
    Runtime: python3.13
    CodeUri: fn/
Resources:
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: owner, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by_owner
          KeySchema: [{AttributeName: owner, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
  OtherTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Token:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: app/token
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AWSLambdaBasicExecutionRole
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:ConditionCheckItem]
              Resource: !GetAtt ItemsTable.Arn
            - Effect: Allow
              Action: dynamodb:Query
              Resource: !Sub "${ItemsTable.Arn}/index/by_owner"
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource: !GetAtt OtherTable.Arn
              Condition:
                ForAllValues:StringEquals: {"dynamodb:LeadingKeys": ["public"]}
            - Effect: Allow
              Action: secretsmanager:GetSecretValue
              Resource: !Ref Token
            - Effect: Deny
              Action: dynamodb:PutItem
              Resource: !GetAtt ItemsTable.Arn
  Roled:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt RoledRole.Arn
  RoledRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      Policies:
        - PolicyName: roled
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: ["sqs:SendMessage"]
                Resource: !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:work"
"""

# The handler makes the call its event names, against an endpoint where nothing listens: a call the policy allows
# gets as far as the network (a connection error), a refused one never leaves the process.
HANDLER = """\
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=0.2)


def lambda_handler(event, context):
    client = boto3.client(
        event["service"], endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing", config=CONFIG,
    )
    try:
        getattr(client, event["operation"])(**event["params"])
    except ClientError as error:
        return error.response["Error"]["Code"]
    except EndpointConnectionError:
        return "allowed"
    return "allowed"
"""


@pytest.fixture
def front(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(textwrap.dedent(HANDLER))
    made = Front(tmp_path / "template.yaml", None)
    yield made
    made.close()


def call(front: Front, function: str, service: str, operation: str, **params: Any) -> str:
    answer: str = front.invoke(function, {"service": service, "operation": operation, "params": params})
    return answer


def key(table: str, value: str) -> dict[str, Any]:
    return {"TableName": table, "Key": {"pk" if table == "ItemsTable" else "id": {"S": value}}}


def test_a_granted_call_goes_through_and_another_is_refused_and_recorded(front):
    assert call(front, "Reader", "dynamodb", "get_item", **key("ItemsTable", "a")) == "allowed"

    assert call(front, "Reader", "dynamodb", "delete_item", **key("ItemsTable", "a")) == "AccessDeniedException"
    assert [str(denial) for denial in front.access_denials.found] == [
        "Reader is not allowed dynamodb:DeleteItem on arn:aws:dynamodb:us-east-1:123456789012:table/ItemsTable "
        "(DeleteItem)"
    ]


def test_an_index_is_its_own_resource(front):
    query = {"KeyConditionExpression": "#o = :o", "ExpressionAttributeNames": {"#o": "owner"}}
    query["ExpressionAttributeValues"] = {":o": {"S": "x"}}
    assert (
        call(front, "Reader", "dynamodb", "query", TableName="ItemsTable", IndexName="by_owner", **query) == "allowed"
    )
    assert call(front, "Reader", "dynamodb", "query", TableName="ItemsTable", **query) == "AccessDeniedException"


def test_a_deny_wins_over_an_allow(front):
    put = {"TableName": "ItemsTable", "Item": {"pk": {"S": "a"}}}
    assert call(front, "Reader", "dynamodb", "put_item", **put) == "AccessDeniedException"


def test_a_transaction_needs_each_items_action_on_its_table(front):
    check = {"ConditionCheck": {**key("ItemsTable", "a"), "ConditionExpression": "attribute_exists(pk)"}}
    update = {"Update": {**key("ItemsTable", "a"), "UpdateExpression": "SET n = :n"}}
    update["Update"]["ExpressionAttributeValues"] = {":n": {"N": "1"}}
    assert call(front, "Reader", "dynamodb", "transact_write_items", TransactItems=[check]) == "allowed"
    assert call(front, "Reader", "dynamodb", "transact_write_items", TransactItems=[check, update]) == (
        "AccessDeniedException"
    )
    assert front.access_denials.found[-1].action == "dynamodb:UpdateItem"


def test_a_batch_read_needs_batch_get_item(front):
    batch = {"RequestItems": {"ItemsTable": {"Keys": [{"pk": {"S": "a"}}]}}}
    assert call(front, "Reader", "dynamodb", "batch_get_item", **batch) == "AccessDeniedException"


def test_leading_keys_limit_the_items_of_a_table(front):
    assert call(front, "Reader", "dynamodb", "get_item", **key("OtherTable", "public")) == "allowed"
    assert call(front, "Reader", "dynamodb", "get_item", **key("OtherTable", "private")) == "AccessDeniedException"


def test_a_secret_is_named_by_its_arn_with_any_suffix(front):
    assert call(front, "Reader", "secretsmanager", "get_secret_value", SecretId="app/token") == "allowed"
    assert call(front, "Reader", "secretsmanager", "get_secret_value", SecretId="app/other") == (
        "AccessDeniedException"
    )


def test_a_functions_role_gives_its_policies(front):
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/"
    assert call(front, "Roled", "sqs", "send_message", QueueUrl=url + "work", MessageBody="x") == "allowed"
    assert call(front, "Roled", "sqs", "send_message", QueueUrl=url + "other", MessageBody="x") == "AccessDenied"
    assert call(front, "Roled", "dynamodb", "get_item", **key("ItemsTable", "a")) == "AccessDeniedException"


def test_calls_outside_a_function_are_not_held(front):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    iam.install()
    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=0.2),
    )
    with pytest.raises(EndpointConnectionError):
        client.delete_item(**key("ItemsTable", "a"))
    assert front.access_denials.found == []


def test_a_policy_the_local_stack_cannot_read_is_refused_at_load(tmp_path):
    (tmp_path / "template.yaml").write_text(
        TEMPLATE.replace("        - AWSLambdaBasicExecutionRole\n", "        - DynamoDBCrudPolicy: {TableName: x}\n")
    )
    with pytest.raises(TemplateError, match="only inline policy statements"):
        iam.policies(load_template(tmp_path / "template.yaml"), None, "us-east-1")
