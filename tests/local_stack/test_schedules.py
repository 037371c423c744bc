"""The local stack's schedules: the template's `Type: Schedule` events read, their expressions understood as
EventBridge does, and fired in-process."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from local_stack.schedules import Schedule, Schedules
from local_stack.template import ScheduleSource, TemplateError, schedule_sources
from tests.support import ROOT

AT = datetime(2026, 11, 26, 14, 5, 30, tzinfo=UTC)  # a Thursday


def test_the_project_schedules_are_read_with_their_inputs():
    found = {(source.function_id, source.event_id): source for source in schedule_sources(ROOT / "template.yaml")}
    assert found[("QuotaResetFunction", "Dispatch")].event == {"task": "dispatch"}
    assert found[("QuotaResetFunction", "Rollover")].event == {"task": "rollover"}
    assert found[("QuotaResetFunction", "Rollover")].expression == "cron(1 * * * ? *)"
    assert found[("InboundFunction", "Reconcile")].event["source"] == "aws.events"  # no Input: the envelope
    for source in found.values():
        Schedule(source.expression)  # every expression of the template is understood


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", AT + timedelta(minutes=1)),
        ("rate(5 minutes)", AT + timedelta(minutes=5)),
        ("rate(2 hours)", AT + timedelta(hours=2)),
        ("cron(1 * * * ? *)", datetime(2026, 11, 26, 15, 1, tzinfo=UTC)),
        ("cron(*/10 * * * ? *)", datetime(2026, 11, 26, 14, 10, tzinfo=UTC)),
        ("cron(0 0 1 * ? *)", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("cron(30 9 ? * 2-6 *)", datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),  # weekdays: Friday is next
        ("cron(0 12 ? * 1 *)", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),  # 1 = Sunday
        ("cron(6,7 14 * * ? *)", datetime(2026, 11, 26, 14, 6, tzinfo=UTC)),
    ],
)
def test_expressions_fire_when_eventbridge_would(expression, expected):
    assert Schedule(expression).next_after(AT) == expected


@pytest.mark.parametrize(
    "expression",
    ["rate(0 minutes)", "rate(1 week)", "cron(* * * *)", "cron(61 * * * ? *)", "cron(0 0 ? * MON *)", "at(2026)"],
)
def test_an_expression_the_local_stack_cannot_honour_is_an_error(expression):
    with pytest.raises(TemplateError):
        Schedule(expression)


def test_due_schedules_are_invoked_with_their_event_and_a_failing_run_does_not_stop_the_others():
    now = [AT]
    calls: list[tuple[str, object]] = []
    ran = threading.Event()

    def invoke(function_id: str, event: object) -> None:
        calls.append((function_id, event))
        if function_id == "Failing":
            raise RuntimeError("boom")
        ran.set()

    sources = [
        ScheduleSource("Failing", "Tick", "rate(1 minute)", {"n": 1}, True),
        ScheduleSource("Working", "Tick", "rate(1 minute)", {"n": 2}, True),
        ScheduleSource("Disabled", "Tick", "rate(1 minute)", {"n": 3}, False),
    ]
    schedules = Schedules(sources, invoke, now=lambda: now[0], tick=0.01).start()
    try:
        now[0] = AT + timedelta(seconds=61)
        assert ran.wait(5)
    finally:
        schedules.stop(5)
    assert sorted(calls, key=str) == [("Failing", {"n": 1}), ("Working", {"n": 2})]
    assert [name.split()[0] for name in schedules.names] == ["Failing.Tick", "Working.Tick"]
