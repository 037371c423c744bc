"""tools/prove_alarms.py against botocore's Stubber (no AWS): the stack's alarm is set to ALARM and back to OK in
every case, and the verdict is what CloudWatch's alarm history says about the topic, with the subscribers
checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tools import prove_alarms

STACK = "aircall-sms-gateway"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:aircall-sms-gateway-AlarmTopic-1A2B3C4D"
ALARM = "aircall-sms-gateway-UsageAlarm-1A2B3C4D"
STARTED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


class Stubs:
    def __init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
        )
        self.clients = prove_alarms.Clients(
            cloudformation=session.client("cloudformation"),
            cloudwatch=session.client("cloudwatch"),
            sns=session.client("sns"),
        )
        self.cloudformation = Stubber(self.clients.cloudformation)
        self.cloudwatch = Stubber(self.clients.cloudwatch)
        self.sns = Stubber(self.clients.sns)

    def all(self) -> list[Stubber]:
        return [self.cloudformation, self.cloudwatch, self.sns]

    def stack(self, *, outputs: list[dict[str, str]] | None = None, alarm_type: str = "AWS::CloudWatch::Alarm") -> None:
        self.cloudformation.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": STACK,
                        "CreationTime": STARTED,
                        "StackStatus": "UPDATE_COMPLETE",
                        "Outputs": outputs
                        if outputs is not None
                        else [{"OutputKey": "AlarmTopicArn", "OutputValue": TOPIC}],
                    }
                ]
            },
            {"StackName": STACK},
        )
        if outputs is not None and not outputs:
            return
        self.cloudformation.add_response(
            "describe_stack_resource",
            {
                "StackResourceDetail": {
                    "LogicalResourceId": "UsageAlarm",
                    "PhysicalResourceId": ALARM,
                    "ResourceType": alarm_type,
                    "LastUpdatedTimestamp": STARTED,
                    "ResourceStatus": "UPDATE_COMPLETE",
                }
            },
            {"StackName": STACK, "LogicalResourceId": "UsageAlarm"},
        )

    def alarm(self, actions: list[str]) -> None:
        self.cloudwatch.add_response(
            "describe_alarms",
            {"MetricAlarms": [{"AlarmName": ALARM, "AlarmActions": actions, "OKActions": actions}]},
            {"AlarmNames": [ALARM], "AlarmTypes": ["MetricAlarm"]},
        )

    def subscriptions(self, *pages: list[str]) -> None:
        for number, page in enumerate(pages):
            answer: dict[str, Any] = {
                "Subscriptions": [
                    {"SubscriptionArn": arn, "Protocol": "email", "TopicArn": TOPIC, "Owner": "123456789012"}
                    for arn in page
                ]
            }
            if number < len(pages) - 1:
                answer["NextToken"] = f"page-{number + 1}"
            expected: dict[str, Any] = {"TopicArn": TOPIC}
            if number:
                expected["NextToken"] = f"page-{number}"
            self.sns.add_response("list_subscriptions_by_topic", answer, expected)

    def set_state(self, state: str) -> None:
        self.cloudwatch.add_response(
            "set_alarm_state", {}, {"AlarmName": ALARM, "StateValue": state, "StateReason": ANY}
        )

    def history(self, *summaries: str) -> None:
        self.cloudwatch.add_response(
            "describe_alarm_history",
            {
                "AlarmHistoryItems": [
                    {"AlarmName": ALARM, "HistoryItemType": "Action", "HistorySummary": summary, "Timestamp": STARTED}
                    for summary in summaries
                ]
            },
            {"AlarmName": ALARM, "HistoryItemType": "Action", "StartDate": STARTED, "ScanBy": "TimestampAscending"},
        )


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    stubs = Stubs()
    for stubber in stubs.all():
        stubber.activate()
    yield stubs
    for stubber in stubs.all():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def run(stubs: Stubs, **options: Any) -> prove_alarms.Report:
    sleeps: list[float] = []
    report = prove_alarms.prove(stubs.clients, STACK, sleep=sleeps.append, now=lambda: STARTED, **options)
    report.lines.append(f"(slept {sum(sleeps):g} s)")
    return report


def test_a_delivered_notification_passes_and_the_alarm_goes_back_to_ok(stubs):
    stubs.stack()
    stubs.alarm([TOPIC])
    stubs.subscriptions(["arn:aws:sns:eu-west-1:123456789012:x:1", prove_alarms.PENDING])
    stubs.set_state("ALARM")
    stubs.history()  # nothing yet
    stubs.history(f"Successfully executed action {TOPIC}")
    stubs.set_state("OK")

    report = run(stubs, poll_seconds=5)

    assert not report.failed
    assert report.lines == [
        f"PASS UsageAlarm ({ALARM}) notifies {TOPIC}",
        "PASS the topic has 1 confirmed subscription(s): email",
        "INFO 1 subscription(s) wait for their confirmation and receive nothing until then",
        "INFO UsageAlarm set to ALARM",
        "INFO UsageAlarm set back to OK",
        f"PASS CloudWatch published the notification to the topic: Successfully executed action {TOPIC}",
        "(slept 5 s)",
    ]


def test_a_notification_cloudwatch_could_not_publish_fails_and_names_the_key_policy(stubs):
    # What the AWS managed key alias/aws/sns did to every alarm: CloudWatch may not use it.
    stubs.stack()
    stubs.alarm([TOPIC])
    stubs.subscriptions(["arn:aws:sns:eu-west-1:123456789012:x:1"])
    stubs.set_state("ALARM")
    stubs.history(
        f"Failed to execute action {TOPIC}. Received error: "
        '"CloudWatch Alarms does not have authorization to access the SNS topic encryption key."'
    )
    stubs.set_state("OK")

    report = run(stubs)

    assert report.failed
    assert report.lines[-2].startswith("FAIL CloudWatch could not publish to the topic: Failed to execute action")
    assert "KMS key policy" in report.lines[-2]
    assert "INFO UsageAlarm set back to OK" in report.lines


def test_no_action_within_the_wait_fails_and_still_restores_ok(stubs):
    stubs.stack()
    stubs.alarm([TOPIC])
    stubs.subscriptions(["arn:aws:sns:eu-west-1:123456789012:x:1"])
    stubs.set_state("ALARM")
    for _ in range(4):  # the first look, then one per poll until the wait is spent
        stubs.history(f"Successfully executed action {TOPIC.replace('AlarmTopic', 'OtherTopic')}")
    stubs.set_state("OK")

    report = run(stubs, wait_seconds=15, poll_seconds=5)

    assert report.failed
    assert "FAIL CloudWatch recorded no action on the topic within 15 s (the alarm's history)" in report.lines
    assert report.lines[-1] == "(slept 15 s)"


def test_an_error_while_waiting_still_sets_the_alarm_back_to_ok(stubs):
    stubs.stack()
    stubs.alarm([TOPIC])
    stubs.subscriptions(["arn:aws:sns:eu-west-1:123456789012:x:1"])
    stubs.set_state("ALARM")
    stubs.cloudwatch.add_client_error("describe_alarm_history", "Throttling", "Rate exceeded")
    stubs.set_state("OK")

    with pytest.raises(Exception, match="Rate exceeded"):
        run(stubs)


def test_no_confirmed_subscriber_fails_even_when_cloudwatch_publishes(stubs):
    stubs.stack()
    stubs.alarm([TOPIC])
    stubs.subscriptions([prove_alarms.PENDING], [])  # two pages, nothing confirmed
    stubs.set_state("ALARM")
    stubs.history(f"Successfully executed action {TOPIC}")
    stubs.set_state("OK")

    report = run(stubs)

    assert report.failed
    assert any(line.startswith("FAIL the topic has no confirmed subscription") for line in report.lines)


def test_an_alarm_that_does_not_notify_the_topic_is_refused_before_any_state_change(stubs):
    stubs.stack()
    stubs.alarm(["arn:aws:sns:eu-west-1:123456789012:someone-else"])

    with pytest.raises(prove_alarms.ProveError, match="does not notify"):
        run(stubs)


def test_a_stack_without_the_topic_output_or_a_resource_that_is_no_alarm_is_refused(stubs):
    stubs.stack(outputs=[])
    with pytest.raises(prove_alarms.ProveError, match="no AlarmTopicArn output"):
        run(stubs)

    stubs.stack(alarm_type="AWS::SNS::Topic")
    with pytest.raises(prove_alarms.ProveError, match="not an alarm"):
        run(stubs)


def test_main_prints_the_report_and_exits_1_on_failure(monkeypatch, capsys):
    failing = prove_alarms.Report()
    failing.fail("the topic has no confirmed subscription")
    monkeypatch.setattr(prove_alarms, "prove", lambda clients, stack, **_: failing)

    class Session:
        region_name = None

        def client(self, name: str, region_name: str) -> str:
            assert region_name == "eu-west-1"
            return name

    assert prove_alarms.main(["--region", "eu-west-1"], session_factory=Session) == 1
    out = capsys.readouterr().out
    assert "FAIL the topic has no confirmed subscription" in out
    assert "prove-alarms: alarm notifications are NOT delivered" in out
