"""A tiny throwaway SAM template and handler, so the local stack's tests never depend on the real handlers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local_stack.front import Front

TINY_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  StageName:
    Type: String
    Default: test
  Greeting:
    Type: String
    Default: hello
  Budget:
    Type: Number
    Default: 60
  Mode:
    Type: String
    Default: quiet
  ItemsTableName:
    Type: String
    Default: ""
Conditions:
  IsLoud: !Equals [!Ref Mode, loud]
  HasItemsTableName: !Not [!Equals [!Ref ItemsTableName, ""]]
Globals:
  Function:
    Handler: app.lambda_handler
    Timeout: 7
    MemorySize: 256
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        GREETING: !Ref Greeting
        BUDGET: !Ref Budget
        ITEMS_TABLE: !Ref ItemsTable
        LOG_TABLE: !Ref LogTable
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !If [HasItemsTableName, !Ref ItemsTableName, !Sub "${AWS::StackName}-items"]
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: owner, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: by_owner
          KeySchema:
            - {AttributeName: owner, KeyType: HASH}
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [status]}
      LocalSecondaryIndexes:
        - IndexName: by_owner_local
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: owner, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
      SSESpecification: {SSEEnabled: true}
  LogTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
      ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: tiny-bus
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref StageName
      Auth:
        ApiKeyRequired: true
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Environment:
        Variables:
          BUS_NAME: !Ref Bus
          BUS_ARN: !GetAtt Bus.Arn
          ITEMS_ARN: !GetAtt ItemsTable.Arn
          REGION_LINE: !Sub "${AWS::Region}/${AWS::AccountId}/${AWS::Partition}/${AWS::URLSuffix}/${!Literal}"
          JOINED: !Join ["-", [a, !Ref Greeting, !Select [1, !Split [",", "x,y,z"]]]]
          VOLUME: !If [IsLoud, LOUD, !Ref "AWS::NoValue"]
          MAPPED: !FindInMap [Sizes, small, value]
      Events:
        Echo:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /echo/{name}
            Method: any
        EchoSpecial:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /echo/special
            Method: get
        Open:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /open
            Method: post
            Auth:
              ApiKeyRequired: false
        Files:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /files/{path+}
            Method: get
        Boom:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /boom
            Method: get
        Malformed:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /malformed
            Method: get
        Binary:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /binary
            Method: get
  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tick/
      Events:
        EveryMinute:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
        LogChanges:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt LogTable.StreamArn
            StartingPosition: LATEST
            BatchSize: 5
Mappings:
  Sizes:
    small:
      value: "10"
"""

ECHO_HANDLER = """
import base64
import json
import os

from tiny_shared import shout


def lambda_handler(event, context):
    resource = event["resource"]
    if resource == "/boom":
        raise RuntimeError("boom from the tiny handler")
    if resource == "/malformed":
        return "not a proxy response"
    if resource == "/binary":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png", "X-Single": "one", "X-Both": "from-headers"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Both": ["from-multi"]},
            "body": base64.b64encode(b"\\x89PNG\\x00\\xff").decode(),
            "isBase64Encoded": True,
        }
    answer = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "greeting": shout(os.environ["GREETING"]),
        "module": __name__,
    }
    return {"statusCode": 201, "headers": {"X-Echo": "yes"}, "body": json.dumps(answer)}
"""

TICK_HANDLER = """
def lambda_handler(event, context):
    return {"ticked": event["detail-type"], "function": context.function_name}
"""

SHARED_MODULE = """
def shout(text):
    return text.upper() + "!"
"""


def write_tiny_project(root: Path, template: str = TINY_TEMPLATE) -> Path:
    """template.yaml, echo/app.py, tick/app.py and a shared layer module under `root`; returns the template."""
    (root / "echo").mkdir(parents=True, exist_ok=True)
    (root / "tick").mkdir(exist_ok=True)
    (root / "shared").mkdir(exist_ok=True)
    (root / "echo" / "app.py").write_text(textwrap.dedent(ECHO_HANDLER))
    (root / "tick" / "app.py").write_text(textwrap.dedent(TICK_HANDLER))
    (root / "shared" / "tiny_shared.py").write_text(textwrap.dedent(SHARED_MODULE))
    path = root / "template.yaml"
    path.write_text(template)
    return path


@pytest.fixture
def make_tiny_project(tmp_path: Path) -> Callable[[Callable[[str], str]], Path]:
    """Writes the tiny project with its template edited by `edit` (e.g. to add a conflict)."""

    def make(edit: Callable[[str], str]) -> Path:
        return write_tiny_project(tmp_path / "edited", edit(TINY_TEMPLATE))

    return make


@pytest.fixture
def tiny_template(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path)


@pytest.fixture
def front(tiny_template: Path) -> Iterator[Front]:
    with Front(tiny_template, api_key="secret-key") as tiny_front:
        yield tiny_front
