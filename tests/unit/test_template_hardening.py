"""Production hardening in the deployed shape (template.yaml), where only the template can show it: log groups
with a retention, tables that cannot be deleted by mistake, alarms that can reach someone, throttled open routes,
and least privilege per function."""

from __future__ import annotations

from typing import Any

from local_stack.template import load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE.resources
PARAMETERS = TEMPLATE.parameters


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return TEMPLATE.resources_of_type(resource_type)


FUNCTIONS = of_type("AWS::Serverless::Function")


# ------------------------------------------------------------------------------------ retention, recoverability


def test_every_function_has_a_declared_log_group_with_the_retention_parameter():
    assert PARAMETERS["LogRetentionDays"]["Default"] == 90
    groups = {
        group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"]
        for group in of_type("AWS::Logs::LogGroup").values()
    }
    assert FUNCTIONS, "the template has functions"
    for name in FUNCTIONS:
        properties = groups.get(f"/aws/lambda/${{{name}}}")
        assert properties is not None, f"{name} has no declared log group"
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_the_api_access_logs_are_kept_as_long_as_the_function_logs():
    (rule,) = RESOURCES["AccessLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "LogRetentionDays"}


def test_every_table_has_deletion_protection_and_point_in_time_recovery():
    tables = of_type("AWS::DynamoDB::Table")
    assert "KeysTable" in tables
    for name, table in tables.items():
        properties = table["Properties"]
        assert properties.get("DeletionProtectionEnabled") is True, name
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert table["DeletionPolicy"] == "Retain", name


# ------------------------------------------------------------------------------------ alarms that reach someone

ALARMS_OF_THIS_ACCOUNT = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
ALARM_SOURCE = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {"aws:SourceArn": {"Fn::Sub": ALARMS_OF_THIS_ACCOUNT}},
}


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_never_the_aws_managed_one():
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}, "alias/aws/sns: CloudWatch cannot use its key"
    key = RESOURCES["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {statement["Sid"]: statement for statement in key["Properties"]["KeyPolicy"]["Statement"]}
    admin = statements["AccountAdministers"]
    assert admin["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    cloudwatch = statements["CloudWatchAlarmsOfThisAccountPublish"]
    assert cloudwatch["Effect"] == "Allow"
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == ALARM_SOURCE
    # No one else: only the account (through IAM) and CloudWatch's alarms of this account.
    assert set(statements) == {"AccountAdministers", "CloudWatchAlarmsOfThisAccountPublish"}
    alias = RESOURCES["AlarmTopicKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "AlarmTopicKey"}
    assert alias["AliasName"]["Fn::Sub"].startswith("alias/${AWS::StackName}")


def test_the_topic_policy_lets_cloudwatch_publish_for_this_accounts_alarms_only():
    (policy,) = of_type("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "AlarmTopic"}]
    statements = {statement["Sid"]: statement for statement in policy["Properties"]["PolicyDocument"]["Statement"]}
    publish = statements["CloudWatchAlarmsOfThisAccountPublish"]
    assert publish["Effect"] == "Allow" and publish["Action"] == "sns:Publish"
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Condition"] == ALARM_SOURCE
    allows = [statement for statement in statements.values() if statement["Effect"] == "Allow"]
    assert allows == [publish]


def test_every_alarm_notifies_the_topic():
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], name


def test_make_prove_alarms_runs_the_script_and_the_runbook_says_when():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "prove-alarms:" in makefile and "tools.prove_alarms" in makefile
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "make prove-alarms" in operations
    assert "prove alarm delivery after a deploy" in operations.lower()
