"""Quiet hours as data: when a message of a purpose may reach a contact, by the contact's local time.

A rule is per country (the recipient's region) and purpose: the days of the week it allows sending, the local
times (from, to) of those days, and whether the country's public holidays are closed. The defaults
(`DEFAULT_RULES`) are the United States' and Canada's marketing hours (08:00-21:00 every day) and France's
(Monday to Saturday 08:00-20:00, never on Sundays or French public holidays); a deployment replaces them with its
own JSON (`parse_rules`, the template's QuietHoursJson), e.g.

    {"US": {"marketing": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "08:00",
                          "to": "21:00"}},
     "FR": {"marketing": {"days": ["mon", "tue", "wed", "thu", "fri", "sat"], "from": "08:00", "to": "20:00",
                          "holidays": true}}}

A purpose without a rule in the recipient's country has no quiet hours. The recipient's time zones come from its
number: for NANP numbers (+1) the area code (`area_code_zones`, several zones when it spans them), otherwise the
region's zones (libphonenumber's data). A send is allowed only when it is inside the window in every one of them,
and the next allowed time is the first moment it is in all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from aircall_sms.domain.area_code_zones import AREA_CODE_ZONES

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY_COUNTRIES = frozenset({"FR"})
MAX_RULES_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class Rule:
    """The window of one country and purpose: `days` (0 = Monday), local `start` to `end`, holidays closed."""

    days: frozenset[int]
    start: time
    end: time
    holidays: bool = False

    def allows(self, local: datetime, region: str) -> bool:
        if local.weekday() not in self.days or (self.holidays and is_public_holiday(region, local.date())):
            return False
        return self.start <= local.time() < self.end

    def next_start(self, local: datetime, region: str) -> datetime:
        """The first local time at or after `local` that this rule allows (within two weeks: a rule allows some day
        of the week, and holidays never last a week)."""
        day = local.date()
        for offset in range(15):
            candidate = day + timedelta(days=offset)
            if candidate.weekday() not in self.days or (self.holidays and is_public_holiday(region, candidate)):
                continue
            opening = datetime.combine(candidate, self.start, tzinfo=local.tzinfo)
            closing = datetime.combine(candidate, self.end, tzinfo=local.tzinfo)
            if offset == 0 and opening <= local < closing:
                return local
            if opening >= local:
                return opening
        raise ValueError("the rule allows no day")


Rules = Mapping[str, Mapping[str, Rule]]  # region -> purpose -> rule

_EVERY_DAY = frozenset(range(7))
DEFAULT_RULES: Rules = {
    "US": {"marketing": Rule(_EVERY_DAY, time(8), time(21))},
    "CA": {"marketing": Rule(_EVERY_DAY, time(8), time(21))},
    "FR": {"marketing": Rule(frozenset(range(6)), time(8), time(20), holidays=True)},
}


def parse_rules(text: str) -> Rules:
    """The rules of a deployment's JSON (empty: `DEFAULT_RULES`); raises ValueError naming what is wrong."""
    if not text.strip():
        return DEFAULT_RULES
    if len(text.encode()) > MAX_RULES_BYTES:
        raise ValueError(f"the quiet hours JSON is over {MAX_RULES_BYTES} bytes")
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("the quiet hours JSON must be an object of countries")
    rules: dict[str, dict[str, Rule]] = {}
    for region, purposes in document.items():
        if not (isinstance(region, str) and len(region) == 2 and region.isalpha() and region.isupper()):
            raise ValueError(f"{region!r} is not a country code (ISO 3166 alpha-2, upper case)")
        if not isinstance(purposes, dict):
            raise ValueError(f"{region}: an object of purposes is expected")
        rules[region] = {purpose: _rule(f"{region}.{purpose}", value) for purpose, value in purposes.items()}
    return rules


def _rule(where: str, value: Any) -> Rule:
    if not isinstance(value, dict) or set(value) - {"days", "from", "to", "holidays"}:
        raise ValueError(f"{where}: expected {{days, from, to, holidays?}}")
    days = value.get("days")
    if not isinstance(days, list) or not days or any(day not in DAYS for day in days):
        raise ValueError(f"{where}.days: a non-empty list of {', '.join(DAYS)}")
    start, end = _clock(where, "from", value.get("from")), _clock(where, "to", value.get("to"))
    if end <= start:
        raise ValueError(f"{where}: 'to' must come after 'from' (a window within one day)")
    holidays = value.get("holidays", False)
    if not isinstance(holidays, bool):
        raise ValueError(f"{where}.holidays: true or false")
    region = where.split(".")[0]
    if holidays and region not in HOLIDAY_COUNTRIES:
        raise ValueError(f"{where}.holidays: the gateway knows the public holidays of {sorted(HOLIDAY_COUNTRIES)}")
    return Rule(frozenset(DAYS.index(day) for day in days), start, end, holidays)


def _clock(where: str, name: str, value: Any) -> time:
    try:
        if not isinstance(value, str) or len(value) != 5:
            raise ValueError
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}.{name}: a local time HH:MM") from None


@dataclass(frozen=True, slots=True)
class Verdict:
    """`allowed`, else `next_allowed` (UTC) and the rule's description for the answer's details."""

    allowed: bool
    next_allowed: datetime | None = None
    region: str | None = None
    time_zones: tuple[str, ...] = ()
    window: str | None = None


def check(
    rules: Rules, *, e164: str, region: str, purpose: str, at: datetime, zones: Iterable[str] | None = None
) -> Verdict:
    """Whether a message of `purpose` may reach `e164` (of `region`) at `at` (aware), and when it may if not."""
    rule = rules.get(region.upper(), {}).get(purpose)
    if rule is None:
        return Verdict(True)
    found = tuple(zones) if zones is not None else time_zones(e164, region)
    if not found:
        return Verdict(True)
    window = describe(rule)
    moment = at.astimezone(UTC)
    for _ in range(32):  # each pass moves to the next opening of a zone that is closed; zones agree within days
        closed = [zone for zone in found if not rule.allows(moment.astimezone(ZoneInfo(zone)), region.upper())]
        if not closed:
            if moment == at.astimezone(UTC):
                return Verdict(True)
            return Verdict(False, moment, region.upper(), found, window)
        zone = ZoneInfo(closed[0])
        moment = rule.next_start(moment.astimezone(zone), region.upper()).astimezone(UTC)
    raise ValueError("the time zones' windows never overlap")


def describe(rule: Rule) -> str:
    days = ",".join(DAYS[day] for day in sorted(rule.days))
    holidays = ", closed on public holidays" if rule.holidays else ""
    return f"{days} {rule.start:%H:%M}-{rule.end:%H:%M} local time{holidays}"


def time_zones(e164: str, region: str) -> tuple[str, ...]:
    """The IANA zones of a recipient: its area code's for a NANP number, else its region's."""
    if e164.startswith("+1") and len(e164) >= 5:
        return AREA_CODE_ZONES.get(e164[2:5], ())
    return _region_zones(region.upper())


@cache
def _region_zones(region: str) -> tuple[str, ...]:
    # libphonenumber's data loads on first use, as in `domain.phone`.
    from phonenumbers.phonenumberutil import example_number
    from phonenumbers.timezone import time_zones_for_geographical_number

    sample = example_number(region)
    if sample is None:
        return ()
    return tuple(zone for zone in time_zones_for_geographical_number(sample) if zone != "Etc/Unknown")


# ------------------------------------------------------------------------------------------------ holidays
def easter(year: int) -> date:
    """Western (Gregorian) Easter Sunday (the anonymous Gregorian algorithm: Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def french_public_holidays(year: int) -> frozenset[date]:
    """France's eleven public holidays (Code du travail, L3133-1): the fixed ones, and Easter Monday, Ascension
    Day and Whit Monday from Easter."""
    sunday = easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    moving = [sunday + timedelta(days=1), sunday + timedelta(days=39), sunday + timedelta(days=50)]
    return frozenset([date(year, month, day) for month, day in fixed] + moving)


def is_public_holiday(region: str, day: date) -> bool:
    return region == "FR" and day in french_public_holidays(day.year)
