"""A campaign's messages are charged against the campaigns' share of their number's windows
(`CAMPAIGN_SHARE_PERCENT`, default 80): the send path's and the dispatcher's reservations of a campaign's message
charge the capped limits (live messages the whole ones), a campaign's message refused there waits (the dispatcher
sets the number's campaign messages aside, not the number), and a campaign makes each minute only what fits under
its share, the hour's spread over the rest of the hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from aircall_sms.domain import campaigns
from aircall_sms.domain.campaigns import CappedRoom
from aircall_sms.settings import get_settings
from aircall_sms.store.messages import MessageRecord
from aircall_sms.store.numbers import NumberRecord
from aircall_sms.store.transactions import Guard, Plan, Refusal

TABLES = ("MESSAGES_TABLE", "NUMBERS_TABLE", "LEDGER_TABLE", "CONTACTS_TABLE", "CALLBACKS_TABLE", "KEYS_TABLE")
NOW = datetime(2026, 12, 4, 14, 0, 30, tzinfo=UTC)
LIMITS = {"hour": 100, "day": 1000, "month": 10000}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in TABLES:
        monkeypatch.setenv(name, name.lower())
    monkeypatch.delenv("CAMPAIGN_SHARE_PERCENT", raising=False)
    monkeypatch.delenv("LIMITS_JSON", raising=False)
    get_settings.cache_clear()
    yield None
    get_settings.cache_clear()


def number() -> NumberRecord:
    return NumberRecord(
        number_id="100001", e164="+14155550100", region="US", kind="local", mode="proxy", registration="approved",
        limits=dict(LIMITS), configured_at="2026-12-01T00:00:00Z", updated_at="2026-12-01T00:00:00Z",
    )  # fmt: skip


def test_the_cap_is_the_share_of_the_limit_rounded_down() -> None:
    assert [campaigns.window_cap(limit, 0.8) for limit in (100, 1000, 10000, 7, 1)] == [80, 800, 8000, 5, 0]
    assert campaigns.window_cap(100, 1.0) == 100


def test_a_campaigns_message_sees_its_numbers_windows_capped_at_the_setting(settings, monkeypatch) -> None:
    from aircall_sms.use_cases.limits import number_windows

    live = {window.name: window.limit for window in number_windows(number(), NOW)}
    assert live == LIMITS
    capped = {window.name: window.limit for window in number_windows(number(), NOW, campaign=True)}
    assert capped == {"hour": 80, "day": 800, "month": 8000}  # the default, 80 %
    monkeypatch.setenv("CAMPAIGN_SHARE_PERCENT", "50")
    get_settings.cache_clear()
    assert [window.limit for window in number_windows(number(), NOW, campaign=True)] == [5000, 500, 50]


@pytest.mark.parametrize("value", ["0", "101", "half"])
def test_a_share_outside_1_to_100_is_a_deployment_mistake(settings, monkeypatch, value) -> None:
    from aircall_sms.settings import ConfigurationError, Settings

    monkeypatch.setenv("CAMPAIGN_SHARE_PERCENT", value)
    with pytest.raises(ConfigurationError, match="CAMPAIGN_SHARE_PERCENT"):
        Settings.from_environ()


def charged_limits(plan: Plan) -> dict[str, int]:
    quota = [guard.data["window"] for guard in plan.guards if guard and guard.kind == "quota"]
    return {window.name: window.limit for window in quota}


def queued(campaign_id: str | None) -> MessageRecord:
    return MessageRecord(
        id="msg_1", number_id="100001", sender="+14155550100", recipient="+14155550123", contact="+14155550123",
        direction="outbound", text="Hello", purpose="transactional", segments=1, status="scheduled",
        created_at="2026-12-04T13:59:00Z", updated_at="2026-12-04T13:59:00Z", not_after="2026-12-05T13:59:00Z",
        campaign_id=campaign_id,
    )  # fmt: skip


def dispatch_with(monkeypatch: pytest.MonkeyPatch, record: MessageRecord, answer: list[Any]) -> tuple[str, Plan]:
    """The dispatcher's reservation of `record`, the transaction answering `answer` (refusals, by guard kind)."""
    from aircall_sms.domain import quiet_hours
    from aircall_sms.store import numbers
    from aircall_sms.use_cases import dispatch
    from aircall_sms.use_cases.send import quiet, rules

    seen: list[Plan] = []

    def transact(plan: Plan) -> list[Refusal]:
        seen.append(plan)
        guards = [guard for guard in plan.guards if guard is not None]
        return [Refusal(guard=guard, item=None) for guard in guards if guard.kind in answer]

    monkeypatch.setattr(numbers, "cached", lambda *_: number())
    monkeypatch.setattr(quiet, "verdict", lambda *_: quiet_hours.Verdict(allowed=True))
    monkeypatch.setattr(rules, "add_checks", lambda *_: None)
    monkeypatch.setattr(dispatch, "transact", transact)
    outcome = dispatch.dispatch_deferred(record, NOW)
    return outcome.outcome, seen[0]


def test_the_dispatcher_charges_a_campaigns_message_against_the_capped_windows(settings, monkeypatch) -> None:
    outcome, plan = dispatch_with(monkeypatch, queued("cmp_1"), ["claim"])
    assert outcome == "taken"  # (the claim refused here: nothing is sent by a unit test)
    assert charged_limits(plan) == {"hour": 80, "day": 800, "month": 8000}
    _, live = dispatch_with(monkeypatch, queued(None), ["claim"])
    assert charged_limits(live) == LIMITS  # a live message has the whole windows


def test_a_campaigns_message_at_the_share_sets_aside_the_campaign_not_the_number(settings, monkeypatch) -> None:
    outcome, _ = dispatch_with(monkeypatch, queued("cmp_1"), ["quota"])
    assert outcome == "campaign_share"
    live, _ = dispatch_with(monkeypatch, queued(None), ["quota"])
    assert live == "window_full"


def test_the_send_path_charges_a_campaigns_message_against_the_capped_windows(settings, monkeypatch) -> None:
    from aircall_sms.domain import phone, segments
    from aircall_sms.domain.requests import SendRequest
    from aircall_sms.errors import ServiceBusy
    from aircall_sms.use_cases.send import reserve, rules
    from aircall_sms.use_cases.send.prepare import PreparedSend

    plans: list[Plan] = []

    def transact(plan: Plan) -> list[Refusal]:
        plans.append(plan)
        return [Refusal(guard=Guard("message_exists"), item=None)]  # refused for no limit: nothing goes on

    monkeypatch.setattr(reserve, "transact", transact)
    monkeypatch.setattr(rules, "add_checks", lambda *_: None)
    request = SendRequest.model_validate({"from": "100001", "to": "+14155550123", "text": "Hi"})
    for campaign_id in ("cmp_1", None):
        prepared = PreparedSend(
            request=request, number=number(), sender=phone.parse("+14155550100"),
            recipient=phone.parse("+14155550123"), text="Hi", segmentation=segments.count("Hi"),
            not_after=datetime(2026, 12, 5, tzinfo=UTC), client_id="admin", campaign_id=campaign_id,
        )  # fmt: skip
        with pytest.raises(ServiceBusy):
            reserve.send(prepared, NOW)
    campaign, live = (charged_limits(plan) for plan in plans)
    assert campaign == {"hour": 80, "day": 800, "month": 8000}
    assert live == LIMITS


def test_a_campaign_makes_a_minute_only_what_fits_under_its_share() -> None:
    day, month = CappedRoom("day", 800, 100, 600), CappedRoom("month", 8000, 100, 40_000)
    # the start of an hour: the hour's 80 spread over its 60 minutes (rounded up)
    assert campaigns.minute_take([CappedRoom("hour", 80, 0, 60), day, month]) == 2
    # late in the hour, what is left comes faster; at the share, nothing
    assert campaigns.minute_take([CappedRoom("hour", 80, 50, 5), day, month]) == 6
    assert campaigns.minute_take([CappedRoom("hour", 80, 80, 30), day, month]) == 0
    assert campaigns.minute_take([CappedRoom("hour", 80, 95, 30), day, month]) == 0  # live sends passed the share
    # the day's cap binds when it is the smaller
    assert campaigns.minute_take([CappedRoom("hour", 80, 0, 1), CappedRoom("day", 800, 797, 600)]) == 3
    # two-segment messages count twice
    assert campaigns.minute_take([CappedRoom("hour", 80, 60, 1)], segments_each=2) == 10
    # a number without windows: no limit of its own
    assert campaigns.minute_take([]) == campaigns.MAX_RECIPIENTS
