"""deploy/deployer-policy.json covers what `make deploy` does: every resource type the template becomes once SAM
has transformed it (samtranslator, as CloudFormation runs it), SAM's own deploy steps and the credentials secret,
each on a resource named the way CloudFormation names it (the stack's name first)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]
from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
POLICY = json.loads((ROOT / "deploy" / "deployer-policy.json").read_text(encoding="utf-8"))
STACK = "aircall-sms-gateway-dev"
ARN = "arn:aws:{service}:eu-west-1:123456789012:{resource}"


def arn(service: str, resource: str) -> str:
    return ARN.format(service=service, resource=resource)


FUNCTION = arn("lambda", f"function:{STACK}-SendFunction-Ab12Cd34")
ROLE = f"arn:aws:iam::123456789012:role/{STACK}-SendFunctionRole-Ab12Cd34"
RESTAPIS = "arn:aws:apigateway:eu-west-1::/restapis"
USER_POOL = arn("cognito-idp", "userpool/eu-west-1_Ab12Cd34")
# For each resource type of the transformed template: the actions CloudFormation needs to create, update and
# delete it, on a resource as CloudFormation names it.
NEEDED: dict[str, list[tuple[str, str]]] = {
    "AWS::Lambda::Function": [
        (action, FUNCTION)
        for action in (
            "lambda:CreateFunction",
            "lambda:GetFunction",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "lambda:DeleteFunction",
            "lambda:TagResource",
            "lambda:PutFunctionConcurrency",
        )
    ]
    + [("iam:PassRole", ROLE)],
    "AWS::Lambda::Permission": [("lambda:AddPermission", FUNCTION), ("lambda:RemovePermission", FUNCTION)],
    "AWS::Lambda::EventSourceMapping": [
        (action, arn("lambda", "event-source-mapping:0f2c8e4a-1111-2222-3333-444455556666"))
        for action in (
            "lambda:CreateEventSourceMapping",
            "lambda:GetEventSourceMapping",
            "lambda:DeleteEventSourceMapping",
        )
    ],
    # AutoPublishAlias: a version per change, the alias `live` on it (SnapStart's published versions).
    "AWS::Lambda::Version": [
        ("lambda:PublishVersion", FUNCTION),
        ("lambda:GetFunction", f"{FUNCTION}:3"),
        ("lambda:DeleteFunction", f"{FUNCTION}:3"),
        ("lambda:ListVersionsByFunction", FUNCTION),
    ],
    "AWS::Lambda::Alias": [
        (action, f"{FUNCTION}:live")
        for action in ("lambda:CreateAlias", "lambda:GetAlias", "lambda:UpdateAlias", "lambda:DeleteAlias")
    ],
    "AWS::Lambda::EventInvokeConfig": [
        ("lambda:PutFunctionEventInvokeConfig", FUNCTION),
        ("lambda:DeleteFunctionEventInvokeConfig", FUNCTION),
    ],
    "AWS::Lambda::LayerVersion": [
        ("lambda:PublishLayerVersion", arn("lambda", f"layer:{STACK}-shared")),
        ("lambda:DeleteLayerVersion", arn("lambda", f"layer:{STACK}-shared:7")),
        ("lambda:GetLayerVersion", arn("lambda", f"layer:{STACK}-shared:7")),
    ],
    "AWS::IAM::Role": [
        (action, ROLE)
        for action in ("iam:CreateRole", "iam:GetRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRole")
    ],
    "AWS::DynamoDB::Table": [
        (action, arn("dynamodb", f"table/{STACK}-MessagesTable-1A2B3C4D"))
        for action in (
            "dynamodb:CreateTable",
            "dynamodb:DescribeTable",
            "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:DeleteTable",
        )
    ],
    "AWS::SQS::Queue": [
        (action, arn("sqs", f"{STACK}-{queue}-1A2B3C4D"))
        for queue in ("EventsDeadLetterQueue", "CallbacksQueue", "CallbacksDeadLetterQueue")
        for action in ("sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:DeleteQueue")
    ],
    # CloudFormation writes and removes a queue policy as the queue's Policy attribute.
    "AWS::SQS::QueuePolicy": [
        (action, arn("sqs", f"{STACK}-CallbacksQueue-1A2B3C4D"))
        for action in ("sqs:GetQueueAttributes", "sqs:SetQueueAttributes")
    ],
    "AWS::SNS::Topic": [
        (action, arn("sns", f"{STACK}-AlarmTopic-1A2B3C4D"))
        for action in ("sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic")
    ],
    "AWS::SNS::Subscription": [
        ("sns:Subscribe", arn("sns", f"{STACK}-AlarmTopic-1A2B3C4D")),
        ("sns:Unsubscribe", arn("sns", f"{STACK}-AlarmTopic-1A2B3C4D:6f1e2d3c-aaaa-bbbb-cccc-ddddeeeeffff")),
    ],
    "AWS::Logs::LogGroup": [
        *(
            (action, arn("logs", f"log-group:/aws/lambda/{STACK}-SendFunction-Ab12Cd34:*"))
            for action in ("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup")
        ),
        ("logs:DescribeLogGroups", arn("logs", "log-group:*")),
    ],
    "AWS::SNS::TopicPolicy": [("sns:SetTopicAttributes", arn("sns", f"{STACK}-AlarmTopic-1A2B3C4D"))],
    "AWS::KMS::Key": [
        ("kms:CreateKey", "*"),
        *(
            (action, arn("kms", "key/0a1b2c3d-1111-2222-3333-444455556666"))
            for action in (
                "kms:DescribeKey",
                "kms:PutKeyPolicy",
                "kms:EnableKeyRotation",
                "kms:GetKeyRotationStatus",
                "kms:ScheduleKeyDeletion",
                "kms:TagResource",
            )
        ),
    ],
    "AWS::KMS::Alias": [
        *(
            (action, resource)
            for action in ("kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias")
            for resource in (
                arn("kms", f"alias/{STACK}-alarms"),
                arn("kms", "key/0a1b2c3d-1111-2222-3333-444455556666"),
            )
        ),
        ("kms:ListAliases", "*"),
    ],
    "AWS::CloudWatch::Alarm": [
        ("cloudwatch:PutMetricAlarm", arn("cloudwatch", f"alarm:{STACK}-UsageAlarm-1A2B3C4D")),
        ("cloudwatch:DeleteAlarms", arn("cloudwatch", f"alarm:{STACK}-UsageAlarm-1A2B3C4D")),
        ("cloudwatch:DescribeAlarms", "*"),
    ],
    "AWS::Events::EventBus": [
        (action, arn("events", f"event-bus/{STACK}-aircall-sms"))
        for action in ("events:CreateEventBus", "events:DescribeEventBus", "events:DeleteEventBus")
    ],
    "AWS::Events::Rule": [
        (action, arn("events", f"rule/{STACK}-QuotaResetFunctionDispatch-1A2B3C4D"))
        for action in (
            "events:PutRule",
            "events:DescribeRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:DeleteRule",
        )
    ],
    "AWS::ApiGateway::RestApi": [
        ("apigateway:POST", RESTAPIS),
        ("apigateway:PUT", f"{RESTAPIS}/a1b2c3"),
        ("apigateway:GET", f"{RESTAPIS}/a1b2c3"),
        ("apigateway:DELETE", f"{RESTAPIS}/a1b2c3"),
    ],
    # Only with EnableWaf (the transform keeps conditional resources).
    "AWS::WAFv2::WebACL": [
        (action, arn("wafv2", f"regional/webacl/{STACK}-api/0a1b2c3d-1111-2222-3333-444455556666"))
        for action in ("wafv2:CreateWebACL", "wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL")
    ]
    + [("wafv2:CreateWebACL", arn("wafv2", "regional/managedruleset/AWS/AWSManagedRulesKnownBadInputsRuleSet"))],
    "AWS::WAFv2::WebACLAssociation": [
        ("wafv2:AssociateWebACL", arn("wafv2", f"regional/webacl/{STACK}-api/0a1b2c3d-1111-2222-3333-444455556666")),
        ("wafv2:AssociateWebACL", "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/dev"),
        ("apigateway:SetWebACL", "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/dev"),
        ("wafv2:DisassociateWebACL", "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/dev"),
    ],
    "AWS::ApiGateway::Deployment": [("apigateway:POST", f"{RESTAPIS}/a1b2c3/deployments")],
    "AWS::ApiGateway::Stage": [
        ("apigateway:POST", f"{RESTAPIS}/a1b2c3/stages"),
        ("apigateway:PATCH", f"{RESTAPIS}/a1b2c3/stages/dev"),
    ],
    "AWS::ApiGateway::Authorizer": [("apigateway:POST", f"{RESTAPIS}/a1b2c3/authorizers")],
    "AWS::ApiGateway::GatewayResponse": [("apigateway:PUT", f"{RESTAPIS}/a1b2c3/gatewayresponses/UNAUTHORIZED")],
    "AWS::SecretsManager::Secret": [
        *(
            (action, arn("secretsmanager", f"secret:{STACK}/admin-key-AbCdEf"))
            for action in (
                "secretsmanager:CreateSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:DeleteSecret",
            )
        ),
        ("secretsmanager:GetRandomPassword", "*"),
    ],
    # The access-log bucket and the media bucket (inbound MMS files), named the same way.
    "AWS::S3::Bucket": [
        (action, f"arn:aws:s3:::{STACK}-{bucket}-1a2b3c4d")
        for bucket in ("accesslogbucket", "mediabucket")
        for action in (
            "s3:CreateBucket",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutLifecycleConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketTagging",
            "s3:DeleteBucket",
        )
    ],
    "AWS::S3::BucketPolicy": [
        (action, f"arn:aws:s3:::{STACK}-{bucket}-1a2b3c4d")
        for bucket in ("accesslogbucket", "mediabucket")
        for action in ("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy")
    ],
    "AWS::KinesisFirehose::DeliveryStream": [
        *(
            (action, arn("firehose", f"deliverystream/amazon-apigateway-{STACK}-access"))
            for action in (
                "firehose:CreateDeliveryStream",
                "firehose:DescribeDeliveryStream",
                "firehose:UpdateDestination",
                "firehose:DeleteDeliveryStream",
            )
        ),
        ("iam:PassRole", f"arn:aws:iam::123456789012:role/{STACK}-AccessLogDeliveryRole-Ab12Cd34"),
    ],
    # The console's people: a pool's id is Cognito's choice (eu-west-1_Ab12Cd34), not the stack's name.
    "AWS::Cognito::UserPool": [
        ("cognito-idp:CreateUserPool", "*"),
        *(
            (action, USER_POOL)
            for action in (
                "cognito-idp:DescribeUserPool",
                "cognito-idp:UpdateUserPool",
                "cognito-idp:DeleteUserPool",
                "cognito-idp:SetUserPoolMfaConfig",
                "cognito-idp:GetUserPoolMfaConfig",
                "cognito-idp:TagResource",
            )
        ),
    ],
    "AWS::Cognito::UserPoolDomain": [
        ("cognito-idp:DescribeUserPoolDomain", "*"),
        ("cognito-idp:CreateUserPoolDomain", USER_POOL),
        ("cognito-idp:DeleteUserPoolDomain", USER_POOL),
    ],
    "AWS::Cognito::UserPoolClient": [
        (action, USER_POOL)
        for action in (
            "cognito-idp:CreateUserPoolClient",
            "cognito-idp:DescribeUserPoolClient",
            "cognito-idp:UpdateUserPoolClient",
            "cognito-idp:DeleteUserPoolClient",
        )
    ],
    "AWS::Cognito::UserPoolGroup": [
        (action, USER_POOL)
        for action in (
            "cognito-idp:CreateGroup",
            "cognito-idp:GetGroup",
            "cognito-idp:UpdateGroup",
            "cognito-idp:DeleteGroup",
        )
    ],
}
STACK_ARN = arn("cloudformation", f"stack/{STACK}/0a1b2c3d-1111-2222-3333-444455556666")
SECRET_ARN = arn("secretsmanager", "secret:aircall-sms-gateway/dev/aircall-credentials-AbCdEf")
# What `sam deploy` and tools/deploy.py call themselves.
DEPLOYING: list[tuple[str, str]] = [
    *(
        (action, STACK_ARN)
        for action in (
            "cloudformation:CreateChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:DescribeStacks",
            "cloudformation:DescribeStackEvents",
            "cloudformation:GetTemplate",
            "cloudformation:DeleteStack",
        )
    ),
    ("cloudformation:CreateChangeSet", "arn:aws:cloudformation:eu-west-1:aws:transform/Serverless-2016-10-31"),
    ("cloudformation:CreateChangeSet", arn("cloudformation", "stack/aws-sam-cli-managed-default/0a1b2c3d")),
    (
        "s3:PutObject",
        "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-1a2b3c4d5e6f/aircall-sms-gateway-dev/a1b2",
    ),
    (
        "s3:GetObject",
        "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-1a2b3c4d5e6f/aircall-sms-gateway-dev/a1b2",
    ),
    (
        "s3:DeleteObject",
        "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-1a2b3c4d5e6f/aircall-sms-gateway-dev/a1b2",
    ),
    ("s3:CreateBucket", "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-1a2b3c4d5e6f"),
    # The artefact bucket is encrypted with the AWS managed key aws/s3 (SAM's bootstrap stack).
    ("kms:GenerateDataKey", "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666"),
    *(
        (action, SECRET_ARN)
        for action in (
            "secretsmanager:DescribeSecret",
            "secretsmanager:CreateSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
        )
    ),
]


def transformed_resource_types() -> set[str]:
    """The template as CloudFormation sees it after the Serverless transform (code locations stubbed)."""
    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        translated = transform(template, {}, NoManagedPolicies())
    return {resource["Type"] for resource in translated["Resources"].values()}


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allowed(action: str, resource: str) -> bool:
    for statement in POLICY["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if any(fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement["Action"])) and any(
            fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"])
        ):
            return True
    return False


def test_the_policy_is_an_iam_policy_document_with_named_allow_statements():
    assert POLICY["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in POLICY["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in POLICY["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert statement["Effect"] == "Allow"
        assert all(
            ":" in action and not action.endswith(":*") and action != "*" for action in as_list(statement["Action"])
        )


def test_every_resource_type_of_the_transformed_template_is_known_here():
    unknown = transformed_resource_types() - set(NEEDED)
    assert not unknown, f"new resource types: add their actions to deploy/deployer-policy.json and NEEDED: {unknown}"


@pytest.mark.parametrize("resource_type", sorted(NEEDED))
def test_the_policy_allows_what_cloudformation_does_to_each_resource_type(resource_type):
    missing = [f"{action} on {resource}" for action, resource in NEEDED[resource_type] if not allowed(action, resource)]
    assert not missing, "\n".join(missing)


def test_the_policy_allows_sams_deploy_steps_and_the_credentials_secret():
    missing = [f"{action} on {resource}" for action, resource in DEPLOYING if not allowed(action, resource)]
    assert not missing, "\n".join(missing)


def test_the_deployer_makes_and_manages_keys_only_through_cloudformation():
    for statement in POLICY["Statement"]:
        actions = as_list(statement["Action"])
        managing = [action for action in actions if action.startswith("kms:") and action not in READ_ONLY_KMS]
        if not managing or statement["Sid"] == "AlarmTopicKeyAlias":
            continue
        condition = statement.get("Condition", {})
        called_via = condition.get("ForAnyValue:StringEquals", {}).get("aws:CalledVia")
        via_service = condition.get("StringLike", {}).get("kms:ViaService")
        assert called_via == "cloudformation.amazonaws.com" or via_service, statement["Sid"]


READ_ONLY_KMS = {"kms:ListAliases"}


def test_the_policy_reaches_nothing_of_another_stack_or_another_secret():
    assert not allowed("lambda:DeleteFunction", arn("lambda", "function:payments-api-Handler-1A2B"))
    assert not allowed("dynamodb:DeleteTable", arn("dynamodb", "table/orders"))
    assert not allowed("kms:DeleteAlias", arn("kms", "alias/payments-key"))
    assert not allowed("logs:DeleteLogGroup", arn("logs", "log-group:/aws/lambda/payments-api-Handler-1A2B:*"))
    assert not allowed("iam:CreateRole", "arn:aws:iam::123456789012:role/admin")
    assert not allowed("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:prod/database-AbCdEf"))
    assert not allowed("cloudformation:DeleteStack", arn("cloudformation", "stack/payments/0a1b"))
