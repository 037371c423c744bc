"""Quota arithmetic and the send rules decided on the request alone (no I/O)."""

from datetime import UTC, datetime, timedelta

import pytest

from aircall_sms.domain import compliance, quota
from aircall_sms.domain.limits import DEFAULT_TABLE
from aircall_sms.domain.phone import parse
from aircall_sms.errors import ConversationalOnly, NotDomestic, NumberNotRegistered
from aircall_sms.settings import get_settings
from aircall_sms.use_cases import limits

NOW = datetime(2026, 11, 26, 14, 5, 9, 500_000, tzinfo=UTC)
FR_MOBILE = parse("+33612345678")
FR_FIXED = parse("+33145678901")
US_LOCAL = parse("+14244162288")
US_TOLL_FREE = parse("+18334670142")
CA_LOCAL = parse("+14388132200")
UK_MOBILE = parse("+447911123456")


def test_a_number_is_counted_in_every_window_of_its_limits_longest_first():
    limits = quota.limits_for(DEFAULT_TABLE, region="US", kind="toll_free", registration="pending", overrides=None)
    windows = quota.windows_at(limits, NOW)
    assert [(w.name, w.key, w.limit) for w in windows] == [
        ("month", "2026-11", 10_000),
        ("week", "2026-W48", 6_000),
        ("day", "2026-11-26", 2_000),
        ("hour", "2026-11-26T14", 1_000),
    ]
    assert windows[-1].end == datetime(2026, 11, 26, 15, tzinfo=UTC)


def test_overrides_replace_single_windows_of_the_rule():
    limits = quota.limits_for(DEFAULT_TABLE, region="FR", kind="mobile", registration="none", overrides={"hour": 5})
    assert limits == {"hour": 5, "day": 1_000, "month": 10_000}


def test_the_limit_table_comes_from_limits_json_when_set(monkeypatch):
    monkeypatch.setenv("LIMITS_JSON", '{"rules": [{"name": "default", "windows": {"day": 7}}]}')
    get_settings.cache_clear()
    table = limits.limit_table()
    assert quota.limits_for(table, region="FR", kind="mobile", registration=None, overrides=None) == {"day": 7}


def test_a_malformed_limits_json_is_a_configuration_error_not_a_silent_default(monkeypatch):
    monkeypatch.setenv("LIMITS_JSON", '{"rules": []}')
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="non-empty"):
        limits.limit_table()


def test_the_company_budget_counts_per_utc_minute():
    assert quota.minute_key(NOW) == "2026-11-26T14:05"
    assert quota.minute_end(NOW) == datetime(2026, 11, 26, 14, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "expected"), [(timedelta(seconds=0.2), 1), (timedelta(seconds=1), 1), (timedelta(seconds=59.1), 60)]
)
def test_retry_after_rounds_up_and_is_at_least_one_second(delta, expected):
    assert quota.seconds_until(NOW + delta, NOW) == expected
    assert quota.seconds_until(NOW - delta, NOW) == 1


def test_the_quota_object_orders_windows_short_to_long_and_never_shows_negative_room():
    windows = quota.windows_at({"hour": 10, "day": 20}, NOW)
    view = quota.view("100004", windows, {"hour": 12, "day": 3}, company_limit=60, company_used=7, now=NOW)
    assert list(view["limits"]) == ["hour", "day"]
    assert view["remaining"] == {"hour": 0, "day": 17}
    assert view["resets_at"] == {"hour": "2026-11-26T15:00:00.000Z", "day": "2026-11-27T00:00:00.000Z"}
    assert view["company"] == {
        "limit": 60,
        "used": 7,
        "resets_at": "2026-11-26T14:06:00.000Z",
        "blocked_until": None,
    }


def test_the_quota_object_shows_when_aircall_blocked_the_budget():
    until = NOW + timedelta(seconds=90)
    view = quota.view("1", [], {}, company_limit=60, company_used=0, now=NOW, blocked_until=until)
    assert view["company"]["resets_at"] == view["company"]["blocked_until"] == "2026-11-26T14:06:39.500Z"


def rule(sender, recipient, *, registration="none", purpose="conversational"):
    return compliance.static_refusal(sender=sender, registration=registration, recipient=recipient, purpose=purpose)


def test_domestic_sends_pass_and_cross_border_ones_are_not_domestic():
    assert rule(FR_FIXED, FR_MOBILE) is None
    assert isinstance(rule(FR_FIXED, UK_MOBILE), NotDomestic)


def test_the_us_and_canada_count_as_one_country_for_registered_numbers():
    assert rule(US_LOCAL, CA_LOCAL, registration="approved") is None
    assert rule(CA_LOCAL, US_LOCAL, registration="approved") is None


@pytest.mark.parametrize("registration", ["none", "pending"])
def test_unregistered_us_and_canadian_long_codes_may_not_send(registration):
    assert isinstance(rule(US_LOCAL, US_LOCAL, registration=registration), NumberNotRegistered)
    assert isinstance(rule(CA_LOCAL, CA_LOCAL, registration=registration), NumberNotRegistered)


def test_a_toll_free_number_pending_verification_may_text_the_us_but_not_canada():
    assert rule(US_TOLL_FREE, US_LOCAL, registration="pending") is None
    assert isinstance(rule(US_TOLL_FREE, CA_LOCAL, registration="pending"), NumberNotRegistered)
    assert isinstance(rule(US_TOLL_FREE, US_LOCAL, registration="none"), NumberNotRegistered)


@pytest.mark.parametrize("purpose", ["transactional", "marketing"])
def test_french_mobile_lines_send_conversational_messages_only(purpose):
    assert isinstance(rule(FR_MOBILE, FR_FIXED, purpose=purpose), ConversationalOnly)
    assert rule(FR_MOBILE, FR_FIXED) is None
    assert rule(FR_FIXED, FR_MOBILE, purpose=purpose) is None  # a fixed line may


def test_a_french_mobile_line_needs_an_open_conversation_unless_a_person_wrote_the_message():
    assert compliance.needs_open_conversation(FR_MOBILE, human_author=None)
    assert not compliance.needs_open_conversation(FR_MOBILE, human_author="Camille")
    assert not compliance.needs_open_conversation(FR_FIXED, human_author=None)


def test_only_marketing_needs_consent():
    assert compliance.needs_consent("marketing")
    assert not compliance.needs_consent("transactional")
    assert not compliance.needs_consent("conversational")
