"""`make prove-alarms [PROFILE=default|dev|prod] [REGION=...] [ALARM=<logical id>]`: prove, after a deploy, that
the gateway's alarms reach someone.

An alarm whose notification cannot be delivered fails silently: CloudWatch records "Failed to execute action" in
the alarm's history and nothing else says so (the topic's encryption key, its policy, an unconfirmed
subscription). This script, in order, stopping at the first step that cannot succeed:

1. reads the stack (the profile's `stack_name` in samconfig.toml) for its `AlarmTopicArn` output and the alarm
   (`UsageAlarm` unless `--alarm` names another of the stack's alarms by its logical id);
2. checks that the alarm notifies that topic, and lists the topic's subscriptions: at least one must be confirmed
   (an email subscription waits for its confirmation link until then, and receives nothing);
3. sets the alarm to `ALARM` (`cloudwatch set-alarm-state`), then waits for the alarm's history to say whether
   CloudWatch could publish to the topic ("Successfully executed action" or "Failed to execute action");
4. sets the alarm back to `OK` in every case (CloudWatch evaluates it again at its next period anyway).

It prints one line per step, `PASS`, `FAIL` or `INFO`, and exits 1 when a step failed. Each confirmed subscriber
receives an "ALARM" notification (and an "OK" one for alarms with OK actions, as `UsageAlarm`) whose reason says
it was this test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.deploy import DeployError, resolve_region, stack_name

DEFAULT_ALARM = "UsageAlarm"
TOPIC_OUTPUT = "AlarmTopicArn"
REASON = "prove_alarms: a test of the alarm notifications after a deploy (no incident)"
RESTORED = "prove_alarms: the test is over; CloudWatch evaluates the alarm again at its next period"
SUCCEEDED = "Successfully executed action"
FAILED = "Failed to execute action"
PENDING = "PendingConfirmation"


class ProveError(Exception):
    """A step that cannot succeed, with what to do about it."""


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def passed(self, text: str) -> None:
        self.lines.append(f"PASS {text}")

    def fail(self, text: str) -> None:
        self.lines.append(f"FAIL {text}")
        self.failed = True

    def info(self, text: str) -> None:
        self.lines.append(f"INFO {text}")


@dataclass(frozen=True, slots=True)
class Clients:
    cloudformation: Any
    cloudwatch: Any
    sns: Any


def topic_arn(cloudformation: Any, stack: str) -> str:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise ProveError(f"cannot read the stack {stack}: {error}") from None
    outputs = {item["OutputKey"]: item.get("OutputValue", "") for item in (stacks[0].get("Outputs") or [])}
    if not outputs.get(TOPIC_OUTPUT):
        raise ProveError(f"the stack {stack} has no {TOPIC_OUTPUT} output: deploy the current template first")
    return str(outputs[TOPIC_OUTPUT])


def alarm_name(cloudformation: Any, stack: str, logical_id: str) -> str:
    try:
        resource = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
    except ClientError as error:
        raise ProveError(f"the stack {stack} has no resource {logical_id}: {error}") from None
    detail = resource["StackResourceDetail"]
    if detail["ResourceType"] != "AWS::CloudWatch::Alarm":
        raise ProveError(f"{logical_id} is a {detail['ResourceType']}, not an alarm")
    return str(detail["PhysicalResourceId"])


def confirmed_subscriptions(sns: Any, topic: str) -> tuple[list[str], int]:
    """The protocols of the topic's confirmed subscriptions, and how many wait for their confirmation."""
    confirmed: list[str] = []
    pending = 0
    token: str | None = None
    while True:
        page = sns.list_subscriptions_by_topic(TopicArn=topic, **({"NextToken": token} if token else {}))
        for subscription in page.get("Subscriptions", []):
            if subscription.get("SubscriptionArn") == PENDING:
                pending += 1
            else:
                confirmed.append(str(subscription.get("Protocol")))
        token = page.get("NextToken")
        if not token:
            return confirmed, pending


def action_outcome(cloudwatch: Any, alarm: str, topic: str, since: datetime) -> str | None:
    """The summary of the alarm's first action on `topic` since `since` (None while there is none)."""
    history = cloudwatch.describe_alarm_history(
        AlarmName=alarm, HistoryItemType="Action", StartDate=since, ScanBy="TimestampAscending"
    )
    for item in history.get("AlarmHistoryItems", []):
        summary = str(item.get("HistorySummary", ""))
        if topic in summary and (SUCCEEDED in summary or FAILED in summary):
            return summary
    return None


def prove(
    clients: Clients,
    stack: str,
    *,
    logical_id: str = DEFAULT_ALARM,
    wait_seconds: float = 120.0,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    report = Report()
    topic = topic_arn(clients.cloudformation, stack)
    alarm = alarm_name(clients.cloudformation, stack, logical_id)
    (described,) = clients.cloudwatch.describe_alarms(AlarmNames=[alarm], AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    if topic not in described.get("AlarmActions", []):
        raise ProveError(f"{logical_id} ({alarm}) does not notify {topic}: choose another alarm (ALARM=...)")
    report.passed(f"{logical_id} ({alarm}) notifies {topic}")

    confirmed, pending = confirmed_subscriptions(clients.sns, topic)
    if confirmed:
        report.passed(f"the topic has {len(confirmed)} confirmed subscription(s): {', '.join(sorted(confirmed))}")
    else:
        report.fail(
            "the topic has no confirmed subscription: nobody would be notified (set AlarmEmail and click the "
            "confirmation link, or subscribe your on-call tool to the topic)"
        )
    if pending:
        report.info(f"{pending} subscription(s) wait for their confirmation and receive nothing until then")

    started = now()
    clients.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason=REASON)
    report.info(f"{logical_id} set to ALARM")
    try:
        waited = 0.0
        outcome = action_outcome(clients.cloudwatch, alarm, topic, started)
        while outcome is None and waited < wait_seconds:
            sleep(poll_seconds)
            waited += poll_seconds
            outcome = action_outcome(clients.cloudwatch, alarm, topic, started)
    finally:
        clients.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason=RESTORED)
        report.info(f"{logical_id} set back to OK")
    if outcome is None:
        report.fail(f"CloudWatch recorded no action on the topic within {wait_seconds:g} s (the alarm's history)")
    elif SUCCEEDED in outcome:
        report.passed(f"CloudWatch published the notification to the topic: {outcome}")
    else:
        report.fail(
            f"CloudWatch could not publish to the topic: {outcome} (the topic's KMS key policy must let "
            "cloudwatch.amazonaws.com use it, and its topic policy let it publish)"
        )
    return report


def main(argv: Sequence[str] | None = None, *, session_factory: Callable[..., Any] = boto3.session.Session) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--profile", default="default", help="the deploy profile (samconfig.toml section)")
    parser.add_argument("--region")
    parser.add_argument("--alarm", default=DEFAULT_ALARM, help="an alarm of the stack, by its logical id")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the alarm's action")
    args = parser.parse_args(argv)
    try:
        stack = stack_name(args.profile)
        session = session_factory()
        region = resolve_region(args.region, os.environ, session.region_name)
        clients = Clients(
            cloudformation=session.client("cloudformation", region_name=region),
            cloudwatch=session.client("cloudwatch", region_name=region),
            sns=session.client("sns", region_name=region),
        )
        report = prove(clients, stack, logical_id=args.alarm, wait_seconds=args.wait)
    except (ProveError, DeployError) as error:
        print(f"make prove-alarms: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"make prove-alarms: AWS refused or failed: {error}", file=sys.stderr)
        return 1
    for line in report.lines:
        print(line)
    verdict = "alarm notifications are delivered" if not report.failed else "alarm notifications are NOT delivered"
    print(f"prove-alarms: {verdict}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
