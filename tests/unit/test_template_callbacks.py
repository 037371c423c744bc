"""The callback path in the deployed shape (template.yaml), where only the template shows it: the InboundFunction's
reserved concurrency, its least privilege (it faces the internet without a key), and the alarms on the callbacks
it refuses, abandons or cannot understand."""

from __future__ import annotations

from typing import Any

from local_stack.template import load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE.resources
INBOUND = RESOURCES["InboundFunction"]


def statements() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in INBOUND["Properties"]["Policies"]:
        assert set(policy) == {"Statement"}, f"a SAM policy template grants more than the code needs: {policy}"
        found.extend(policy["Statement"])
    return found


def grants_on(table: str) -> set[str]:
    """Every action the InboundFunction's statements allow on `table` (or its indexes)."""
    actions: set[str] = set()
    for statement in statements():
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any(table in str(resource) for resource in resources):
            actions.update(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    return actions


def test_the_inbound_function_has_its_own_reserved_concurrency_from_a_parameter():
    assert INBOUND["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "InboundReservedConcurrency"}
    parameter = TEMPLATE.body["Parameters"]["InboundReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] >= 1 and parameter["Default"] >= 1
    skips = {skip["id"] for skip in INBOUND["Metadata"]["checkov"]["skip"]}
    assert "CKV_AWS_115" not in skips, "the reserved concurrency check is skipped although it is set"


def test_the_internet_facing_inbound_function_can_neither_scan_nor_delete_the_archive_or_the_callbacks():
    for table in ("MessagesTable", "CallbacksTable", "ContactsTable", "LedgerTable", "NumbersTable"):
        granted = grants_on(table)
        assert granted, table
        assert not any("*" in action for action in granted), (table, granted)
        assert not granted & {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:PartiQLDelete"}, (table, granted)
    for table in ("MessagesTable", "CallbacksTable", "NumbersTable"):
        assert "dynamodb:DeleteItem" not in grants_on(table), table
    assert not grants_on("NumbersTable") & {"dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_the_inbound_function_reads_the_aircall_secret_by_its_exact_name_only():
    secrets = [statement for statement in statements() if "secretsmanager" in str(statement["Action"])]
    assert len(secrets) == 1
    assert secrets[0]["Action"] == "secretsmanager:GetSecretValue"
    assert secrets[0]["Resource"]["Fn::Sub"].endswith(":secret:${AircallCredentialsSecretName}-??????")


def alarmed_metrics(alarm: dict[str, Any]) -> set[str]:
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return {properties["MetricName"]}
    return {query["MetricStat"]["Metric"]["MetricName"] for query in properties["Metrics"] if "MetricStat" in query}


def test_refused_abandoned_pending_too_long_and_misunderstood_callbacks_each_raise_an_alarm():
    alarms = {name: body for name, body in RESOURCES.items() if body["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {metric: name for name, body in alarms.items() for metric in alarmed_metrics(body)}
    metrics = ("CallbacksRefused", "CallbacksAbandoned", "CallbacksUnknownStatus", "CallbacksUnusable")
    for metric in (*metrics, "CallbacksPendingOldestAge"):
        assert metric in watched, f"no alarm on {metric}"
        assert alarms[watched[metric]]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
