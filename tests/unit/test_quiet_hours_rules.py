"""Quiet hours as data (domain.quiet_hours): French public holidays from Easter, recipients' time zones (NANP area
codes, regions), the windows and the next allowed time, and a deployment's JSON rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from aircall_sms.domain import quiet_hours
from aircall_sms.domain.area_code_zones import AREA_CODE_ZONES
from aircall_sms.domain.quiet_hours import DEFAULT_RULES, check, easter, french_public_holidays, parse_rules
from tools import area_code_zones as generator

PARIS_MOBILE = "+33612345679"
LOS_ANGELES = "+14244162290"  # area code 424
NEW_YORK = "+12125550100"  # area code 212


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),
    ],
)
def test_easter_sunday_is_computed_for_any_year(year, sunday):
    assert easter(year) == sunday


def test_france_has_eleven_public_holidays_three_of_them_from_easter():
    holidays = french_public_holidays(2026)
    assert len(holidays) == 11
    assert {date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 25)} <= holidays  # Easter Monday, Ascension, Whit Monday
    assert {
        date(2026, 1, 1),
        date(2026, 5, 1),
        date(2026, 5, 8),
        date(2026, 7, 14),
        date(2026, 8, 15),
        date(2026, 11, 1),
        date(2026, 11, 11),
        date(2026, 12, 25),
    } <= holidays
    assert date(2026, 4, 5) not in holidays  # Easter Sunday is a Sunday, not a listed holiday


def test_nanp_numbers_take_their_area_codes_zone_and_others_their_regions():
    assert quiet_hours.time_zones(LOS_ANGELES, "US") == ("America/Los_Angeles",)
    assert quiet_hours.time_zones(NEW_YORK, "US") == ("America/New_York",)
    assert quiet_hours.time_zones("+14388132299", "CA") == ("America/Toronto",)  # Montreal
    assert set(quiet_hours.time_zones("+19075550100", "US")) == {"America/Anchorage", "America/Adak"}
    assert quiet_hours.time_zones(PARIS_MOBILE, "FR") == ("Europe/Paris",)


def test_the_area_code_table_is_libphonenumbers_data():
    assert generator.table() == AREA_CODE_ZONES
    assert len(AREA_CODE_ZONES) > 400


def test_us_marketing_is_allowed_from_8_to_21_in_the_recipients_own_zone():
    # 17:30 UTC = 09:30 in Los Angeles (PST), 12:30 in New York: both open
    assert check(
        DEFAULT_RULES, e164=LOS_ANGELES, region="US", purpose="marketing", at=datetime(2026, 12, 3, 17, 30, tzinfo=UTC)
    ).allowed
    # 15:00 UTC = 07:00 in Los Angeles: closed until 08:00 PST (16:00 UTC); New York is open
    verdict = check(
        DEFAULT_RULES, e164=LOS_ANGELES, region="US", purpose="marketing", at=datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    )
    assert (verdict.allowed, verdict.next_allowed) == (False, datetime(2026, 12, 3, 16, 0, tzinfo=UTC))
    assert (
        verdict.time_zones == ("America/Los_Angeles",)
        and verdict.window == "mon,tue,wed,thu,fri,sat,sun 08:00-21:00 local time"
    )
    assert check(
        DEFAULT_RULES, e164=NEW_YORK, region="US", purpose="marketing", at=datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    ).allowed
    # 02:30 UTC = 21:30 in New York: the end is excluded, next opening the morning after (13:00 UTC)
    late = check(
        DEFAULT_RULES, e164=NEW_YORK, region="US", purpose="marketing", at=datetime(2026, 12, 4, 2, 30, tzinfo=UTC)
    )
    assert late.next_allowed == datetime(2026, 12, 4, 13, 0, tzinfo=UTC)


def test_purposes_and_countries_without_a_rule_have_no_quiet_hours():
    night = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert check(DEFAULT_RULES, e164=LOS_ANGELES, region="US", purpose="conversational", at=night).allowed
    assert check(DEFAULT_RULES, e164="+447400123456", region="GB", purpose="marketing", at=night).allowed


def test_french_marketing_is_closed_on_sundays_and_public_holidays_and_follows_summer_time():
    # Saturday 2026-05-23 19:59 Paris (CEST, UTC+2) open; 20:00 closed; Sunday closed, Whit Monday closed
    assert check(
        DEFAULT_RULES, e164=PARIS_MOBILE, region="FR", purpose="marketing", at=datetime(2026, 5, 23, 17, 59, tzinfo=UTC)
    ).allowed
    verdict = check(
        DEFAULT_RULES, e164=PARIS_MOBILE, region="FR", purpose="marketing", at=datetime(2026, 5, 23, 18, 0, tzinfo=UTC)
    )
    assert verdict.next_allowed == datetime(2026, 5, 26, 6, 0, tzinfo=UTC)  # Tuesday 08:00 CEST
    # In winter (CET, UTC+1): Monday 2026-12-07 07:30 UTC = 08:30 Paris, open; Christmas (a Friday) closed
    assert check(
        DEFAULT_RULES, e164=PARIS_MOBILE, region="FR", purpose="marketing", at=datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
    ).allowed
    christmas = check(
        DEFAULT_RULES, e164=PARIS_MOBILE, region="FR", purpose="marketing", at=datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    )
    assert christmas.next_allowed == datetime(2026, 12, 26, 7, 0, tzinfo=UTC)  # Saturday 08:00 CET


def test_an_area_code_spanning_zones_is_allowed_only_when_every_zone_is_open():
    # 907 (Alaska): Anchorage (UTC-9) and Adak (UTC-10) in December. 17:30 UTC = 08:30 Anchorage, 07:30 Adak
    verdict = check(
        DEFAULT_RULES,
        e164="+19075550100",
        region="US",
        purpose="marketing",
        at=datetime(2026, 12, 3, 17, 30, tzinfo=UTC),
    )
    assert verdict.next_allowed == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # 08:00 in Adak


def test_a_deployment_replaces_the_rules_with_its_json():
    rules = parse_rules(
        '{"GB": {"marketing": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30"}}}'
    )
    assert rules == {"GB": {"marketing": quiet_hours.Rule(frozenset(range(5)), time(9), time(17, 30))}}
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    verdict = check(rules, e164="+447400123456", region="GB", purpose="marketing", at=saturday)
    assert verdict.next_allowed == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert check(rules, e164=LOS_ANGELES, region="US", purpose="marketing", at=saturday.replace(hour=3)).allowed
    assert parse_rules("") is DEFAULT_RULES and parse_rules("  ") is DEFAULT_RULES
    assert parse_rules("{}") == {}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[]", "object of countries"),
        ('{"fr": {}}', "country code"),
        ('{"FR": {"marketing": {"days": ["monday"], "from": "08:00", "to": "20:00"}}}', "FR.marketing.days"),
        ('{"FR": {"marketing": {"days": ["mon"], "from": "8h", "to": "20:00"}}}', "FR.marketing.from"),
        ('{"FR": {"marketing": {"days": ["mon"], "from": "20:00", "to": "08:00"}}}', "after 'from'"),
        ('{"FR": {"marketing": {"days": ["mon"], "from": "08:00", "to": "20:00", "extra": 1}}}', "expected"),
        ('{"US": {"marketing": {"days": ["mon"], "from": "08:00", "to": "20:00", "holidays": true}}}', "holidays"),
    ],
)
def test_bad_rules_are_refused_naming_what_is_wrong(text, names):
    with pytest.raises(ValueError, match=names):
        parse_rules(text)
