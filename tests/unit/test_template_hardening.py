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
