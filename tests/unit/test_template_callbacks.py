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


def test_callbacks_dynamodb_cannot_take_go_on_an_encrypted_queue_with_a_dead_letter_queue():
    queue, dead = RESOURCES["CallbacksQueue"], RESOURCES["CallbacksDeadLetterQueue"]
    for resource in (queue, dead):
        assert resource["Type"] == "AWS::SQS::Queue"
        assert resource["Properties"]["SqsManagedSseEnabled"] is True
        assert resource["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        # the largest callback the webhook accepts (256 KiB) fits in one message
        assert resource["Properties"]["MaximumMessageSize"] >= 256 * 1024
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["CallbacksDeadLetterQueue", "Arn"]}
    assert 5 <= redrive["maxReceiveCount"] <= 20
    # Lambda advises a visibility timeout of six times the function's timeout
    timeout = INBOUND["Properties"].get("Timeout", TEMPLATE.body["Globals"]["Function"]["Timeout"])
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout
    tls = RESOURCES["CallbacksQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in tls)


def test_the_inbound_function_may_only_send_to_the_callbacks_queue_and_reads_it_with_partial_batch_responses():
    sqs = [statement for statement in statements() if any(str(a).startswith("sqs:") for a in [statement["Action"]])]
    assert sqs == [
        {
            "Sid": "CallbacksQueue",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["CallbacksQueue", "Arn"]},
        }
    ]
    assert INBOUND["Properties"]["Environment"]["Variables"]["CALLBACKS_QUEUE_URL"] == {"Ref": "CallbacksQueue"}
    event = INBOUND["Properties"]["Events"]["QueuedCallbacks"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["CallbacksQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the queue's readers never take the webhook's whole reserved concurrency
    maximum = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert 2 <= maximum < TEMPLATE.body["Parameters"]["InboundReservedConcurrency"]["Default"]


def test_a_callback_on_the_dead_letter_queue_or_waiting_too_long_on_the_queue_raises_an_alarm():
    dead = RESOURCES["CallbacksDeadLetterAlarm"]["Properties"]
    assert (dead["Namespace"], dead["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    dead_name = {"Fn::GetAtt": ["CallbacksDeadLetterQueue", "QueueName"]}
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": dead_name}]
    assert (dead["ComparisonOperator"], dead["Threshold"]) == ("GreaterThanThreshold", 0)
    age = RESOURCES["CallbacksQueueAgeAlarm"]["Properties"]
    assert (age["Namespace"], age["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["CallbacksQueue", "QueueName"]}}]
    assert age["Threshold"] <= 900
    for alarm in (dead, age):
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_function_of_the_template_is_in_the_errors_and_the_throttles_alarms():
    functions = set(TEMPLATE.resources_of_type("AWS::Serverless::Function"))
    for alarm_id in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm"):
        metrics = RESOURCES[alarm_id]["Properties"]["Metrics"]
        [total] = [metric for metric in metrics if "Expression" in metric]
        read = {
            metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]: metric["Id"]
            for metric in metrics
            if "MetricStat" in metric
        }
        assert set(read) == functions, f"{alarm_id} misses {functions - set(read)}"
        assert total["Expression"] == f"SUM([{', '.join(read.values())}])"
        assert len(read) <= 10  # CloudWatch's limit of metrics an alarm reads


def test_every_callback_enters_a_keys_only_receipt_index_by_day_that_the_sweep_alone_may_read():
    from aircall_sms.store.callbacks import CallbackRecord
    from aircall_sms.use_cases.callbacks import SWEEP_DELAY

    table = RESOURCES["CallbacksTable"]["Properties"]
    [receipts] = [index for index in table["GlobalSecondaryIndexes"] if index["IndexName"] == "by_receipt"]
    assert receipts["KeySchema"] == [
        {"AttributeName": "received_day", "KeyType": "HASH"},
        {"AttributeName": "received_at", "KeyType": "RANGE"},
    ]
    assert receipts["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # the sweep reads the records it names
    assert CallbackRecord.by_receipt.Meta.index_name == "by_receipt"
    [callbacks_statement] = [statement for statement in statements() if statement["Sid"] == "Callbacks"]
    assert {"Fn::Sub": "${CallbacksTable.Arn}/index/by_receipt"} in callbacks_statement["Resource"]
    assert "dynamodb:BatchGetItem" in callbacks_statement["Action"]
    # The sweep's mark passes a callback once it is SWEEP_DELAY old: its record must be written by then, so no
    # invocation that records one (webhook or queue) may run that long.
    timeout = INBOUND["Properties"].get("Timeout", TEMPLATE.body["Globals"]["Function"]["Timeout"])
    assert timeout < SWEEP_DELAY.total_seconds()
