"""Quota windows: UTC-aligned hour, day, ISO week and month; their keys, bounds and time to reset."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aircall_sms.domain.windows import WINDOWS, bounds, key, seconds_until_reset, start_of

PARIS_WINTER = timezone(timedelta(hours=1))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))
KOLKATA = timezone(timedelta(hours=5, minutes=30))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_the_windows_are_hour_day_week_and_month_in_that_order():
    assert WINDOWS == ("hour", "day", "week", "month")


# --- keys ---


@pytest.mark.parametrize(
    ("at", "hour", "day", "week", "month"),
    [
        (utc(2026, 11, 26, 14, 5, 9), "2026-11-26T14", "2026-11-26", "2026-W48", "2026-11"),
        (utc(2026, 11, 26, 0, 0, 0), "2026-11-26T00", "2026-11-26", "2026-W48", "2026-11"),
        (utc(2026, 11, 26, 23, 59, 59, 999_999), "2026-11-26T23", "2026-11-26", "2026-W48", "2026-11"),
        (utc(2026, 1, 1, 0, 0), "2026-01-01T00", "2026-01-01", "2026-W01", "2026-01"),
        (utc(2026, 12, 31, 23, 59, 59), "2026-12-31T23", "2026-12-31", "2026-W53", "2026-12"),
        (utc(2027, 1, 1, 0, 0), "2027-01-01T00", "2027-01-01", "2026-W53", "2027-01"),
        (utc(2027, 1, 3, 23, 59), "2027-01-03T23", "2027-01-03", "2026-W53", "2027-01"),
        (utc(2027, 1, 4, 0, 0), "2027-01-04T00", "2027-01-04", "2027-W01", "2027-01"),
        (utc(2024, 12, 29, 23, 59), "2024-12-29T23", "2024-12-29", "2024-W52", "2024-12"),
        (utc(2024, 12, 30, 0, 0), "2024-12-30T00", "2024-12-30", "2025-W01", "2024-12"),
        (utc(2024, 12, 31, 12, 0), "2024-12-31T12", "2024-12-31", "2025-W01", "2024-12"),
        (utc(2025, 12, 29, 0, 0), "2025-12-29T00", "2025-12-29", "2026-W01", "2025-12"),
        (utc(2020, 12, 31, 0, 0), "2020-12-31T00", "2020-12-31", "2020-W53", "2020-12"),
        (utc(2021, 1, 3, 0, 0), "2021-01-03T00", "2021-01-03", "2020-W53", "2021-01"),
        (utc(2021, 1, 4, 0, 0), "2021-01-04T00", "2021-01-04", "2021-W01", "2021-01"),
        (utc(2022, 1, 2, 0, 0), "2022-01-02T00", "2022-01-02", "2021-W52", "2022-01"),
        (utc(2024, 2, 29, 10, 0), "2024-02-29T10", "2024-02-29", "2024-W09", "2024-02"),
        (utc(2024, 3, 1, 0, 0), "2024-03-01T00", "2024-03-01", "2024-W09", "2024-03"),
        (utc(2023, 2, 28, 23, 0), "2023-02-28T23", "2023-02-28", "2023-W09", "2023-02"),
        (utc(2000, 2, 29, 0, 0), "2000-02-29T00", "2000-02-29", "2000-W09", "2000-02"),
        (utc(9, 3, 4, 5, 6), "0009-03-04T05", "0009-03-04", "0009-W10", "0009-03"),
    ],
)
def test_window_keys_at_a_moment(at, hour, day, week, month):
    assert [key(window, at) for window in WINDOWS] == [hour, day, week, month]


@pytest.mark.parametrize(
    ("at", "hour", "day", "week", "month"),
    [
        # 2026-12-01 00:30 in Paris is still November 30th 23:30 UTC
        (datetime(2026, 12, 1, 0, 30, tzinfo=PARIS_WINTER), "2026-11-30T23", "2026-11-30", "2026-W49", "2026-11"),
        # 2026-12-31 20:00 in New York is already 2027 in UTC
        (datetime(2026, 12, 31, 20, 0, tzinfo=NEW_YORK_WINTER), "2027-01-01T01", "2027-01-01", "2026-W53", "2027-01"),
        (datetime(2026, 11, 26, 5, 29, tzinfo=KOLKATA), "2026-11-25T23", "2026-11-25", "2026-W48", "2026-11"),
        (datetime(2026, 11, 26, 5, 30, tzinfo=KOLKATA), "2026-11-26T00", "2026-11-26", "2026-W48", "2026-11"),
    ],
)
def test_keys_are_taken_in_utc_whatever_the_time_zone_of_the_moment(at, hour, day, week, month):
    assert [key(window, at) for window in WINDOWS] == [hour, day, week, month]


# --- bounds ---


@pytest.mark.parametrize(
    ("window", "at", "start", "end"),
    [
        ("hour", utc(2026, 11, 26, 14, 5, 9), utc(2026, 11, 26, 14), utc(2026, 11, 26, 15)),
        ("hour", utc(2026, 11, 26, 14), utc(2026, 11, 26, 14), utc(2026, 11, 26, 15)),
        ("hour", utc(2026, 11, 26, 23, 59, 59, 999_999), utc(2026, 11, 26, 23), utc(2026, 11, 27)),
        ("hour", utc(2026, 12, 31, 23, 30), utc(2026, 12, 31, 23), utc(2027, 1, 1)),
        ("hour", utc(2024, 2, 29, 23, 1), utc(2024, 2, 29, 23), utc(2024, 3, 1)),
        ("day", utc(2026, 11, 26, 14, 5), utc(2026, 11, 26), utc(2026, 11, 27)),
        ("day", utc(2026, 11, 30, 12), utc(2026, 11, 30), utc(2026, 12, 1)),
        ("day", utc(2026, 12, 31, 12), utc(2026, 12, 31), utc(2027, 1, 1)),
        ("day", utc(2024, 2, 28, 12), utc(2024, 2, 28), utc(2024, 2, 29)),
        ("day", utc(2024, 2, 29, 12), utc(2024, 2, 29), utc(2024, 3, 1)),
        ("day", utc(2023, 2, 28, 12), utc(2023, 2, 28), utc(2023, 3, 1)),
        ("week", utc(2026, 11, 26, 14), utc(2026, 11, 23), utc(2026, 11, 30)),
        ("week", utc(2026, 11, 23), utc(2026, 11, 23), utc(2026, 11, 30)),
        ("week", utc(2026, 11, 29, 23, 59, 59), utc(2026, 11, 23), utc(2026, 11, 30)),
        ("week", utc(2026, 11, 30), utc(2026, 11, 30), utc(2026, 12, 7)),
        ("week", utc(2027, 1, 1, 12), utc(2026, 12, 28), utc(2027, 1, 4)),
        ("week", utc(2024, 12, 31), utc(2024, 12, 30), utc(2025, 1, 6)),
        ("week", utc(2024, 2, 29), utc(2024, 2, 26), utc(2024, 3, 4)),
        ("month", utc(2026, 11, 26, 14), utc(2026, 11, 1), utc(2026, 12, 1)),
        ("month", utc(2026, 11, 1), utc(2026, 11, 1), utc(2026, 12, 1)),
        ("month", utc(2026, 12, 31, 23, 59, 59, 999_999), utc(2026, 12, 1), utc(2027, 1, 1)),
        ("month", utc(2027, 1, 1), utc(2027, 1, 1), utc(2027, 2, 1)),
        ("month", utc(2024, 2, 29, 23, 59), utc(2024, 2, 1), utc(2024, 3, 1)),
        ("month", utc(2023, 2, 28, 23, 59), utc(2023, 2, 1), utc(2023, 3, 1)),
        ("month", utc(2026, 1, 31, 12), utc(2026, 1, 1), utc(2026, 2, 1)),
        ("month", utc(2026, 4, 30, 12), utc(2026, 4, 1), utc(2026, 5, 1)),
    ],
)
def test_bounds_are_start_inclusive_and_end_exclusive(window, at, start, end):
    assert bounds(window, at) == (start, end)


@pytest.mark.parametrize("window", WINDOWS)
def test_bounds_are_aware_utc_datetimes_even_for_another_time_zone(window):
    start, end = bounds(window, datetime(2026, 11, 26, 3, 0, tzinfo=KOLKATA))
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


@pytest.mark.parametrize(
    ("month", "days"),
    [(1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30), (10, 31), (11, 30), (12, 31)],
)
def test_each_month_of_2026_lasts_its_number_of_days(month, days):
    start, end = bounds("month", utc(2026, month, 15))
    assert end - start == timedelta(days=days)


@pytest.mark.parametrize(("year", "days"), [(2024, 29), (2000, 29), (1900, 28), (2100, 28), (2023, 28)])
def test_february_lasts_29_days_in_leap_years_only(year, days):
    start, end = bounds("month", utc(year, 2, 10))
    assert end - start == timedelta(days=days)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(WINDOWS),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
)
def test_a_moment_lies_in_its_window_and_the_end_opens_the_next_window(window, at):
    start, end = bounds(window, at)
    assert start <= at < end
    assert key(window, start) == key(window, at) == key(window, end - timedelta(microseconds=1))
    assert key(window, end) != key(window, at)
    assert bounds(window, end)[0] == end
    assert bounds(window, start - timedelta(microseconds=1))[1] == start


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(WINDOWS),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_the_same_instant_gives_the_same_window_in_any_time_zone(window, at, offset_minutes):
    elsewhere = at.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert key(window, elsewhere) == key(window, at)
    assert bounds(window, elsewhere) == bounds(window, at)


# --- seconds until reset ---


@pytest.mark.parametrize(
    ("window", "at", "seconds"),
    [
        ("hour", utc(2026, 11, 26, 14), 3600),
        ("hour", utc(2026, 11, 26, 14, 0, 0, 1), 3600),
        ("hour", utc(2026, 11, 26, 14, 0, 1), 3599),
        ("hour", utc(2026, 11, 26, 14, 59, 58, 500_000), 2),
        ("hour", utc(2026, 11, 26, 14, 59, 59), 1),
        ("hour", utc(2026, 11, 26, 14, 59, 59, 999_999), 1),
        ("day", utc(2026, 11, 26), 86_400),
        ("day", utc(2026, 11, 26, 23, 59, 59, 1), 1),
        ("day", utc(2026, 11, 26, 12), 43_200),
        ("week", utc(2026, 11, 23), 7 * 86_400),
        ("week", utc(2026, 11, 29, 23, 59, 59, 999_999), 1),
        ("week", utc(2026, 12, 31, 0), 4 * 86_400),
        ("month", utc(2024, 2, 1), 29 * 86_400),
        ("month", utc(2023, 2, 1), 28 * 86_400),
        ("month", utc(2026, 12, 1), 31 * 86_400),
        ("month", utc(2026, 12, 31, 23, 59, 59, 999_999), 1),
        ("month", utc(2026, 11, 30, 23, 0), 3600),
    ],
)
def test_seconds_until_reset_are_rounded_up(window, at, seconds):
    assert seconds_until_reset(window, at) == seconds


def test_seconds_until_reset_use_the_utc_window_for_any_time_zone():
    # 00:30 in Paris on December 1st is 23:30 UTC on November 30th: the month ends in half an hour
    assert seconds_until_reset("month", datetime(2026, 12, 1, 0, 30, tzinfo=PARIS_WINTER)) == 1800


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(WINDOWS),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
)
def test_seconds_until_reset_are_at_least_one_and_reach_the_end_of_the_window(window, at):
    seconds = seconds_until_reset(window, at)
    start, end = bounds(window, at)
    assert 1 <= seconds <= (end - start).total_seconds()
    assert at + timedelta(seconds=seconds) >= end
    assert at + timedelta(seconds=seconds - 1) < end


# --- refused input ---


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("function", [key, bounds, seconds_until_reset])
def test_a_naive_datetime_is_refused(function, window):
    with pytest.raises(ValueError, match="naive"):
        function(window, datetime(2026, 11, 26, 14, 5))


@pytest.mark.parametrize("window", ["minute", "Hour", "HOUR", "days", "year", "", "quarter"])
@pytest.mark.parametrize("function", [key, bounds, seconds_until_reset])
def test_an_unknown_window_is_refused(function, window):
    with pytest.raises(ValueError, match="unknown window"):
        function(window, utc(2026, 11, 26, 14))


@pytest.mark.parametrize("at", [date(2026, 11, 26), "2026-11-26T14:00:00Z", 1_790_000_000, None])
@pytest.mark.parametrize("function", [key, bounds, seconds_until_reset])
def test_something_else_than_a_datetime_is_a_type_error(function, at):
    with pytest.raises(TypeError):
        function("day", at)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(WINDOWS),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
)
def test_start_of_reads_a_key_back_into_its_window_start(window, at):
    assert start_of(window, key(window, at)) == bounds(window, at)[0]


@pytest.mark.parametrize(
    ("window", "window_key"),
    [
        ("hour", "2026-11-26T1"),
        ("hour", "2026-11-26"),
        ("day", "2026-11-26T14"),
        ("week", "2026-W54"),
        ("month", "2026-13"),
        ("month", "26-11"),
        ("day", ""),
    ],
)
def test_start_of_refuses_a_key_that_is_not_one_of_the_window(window, window_key):
    with pytest.raises(ValueError, match=f"not a {window} key"):
        start_of(window, window_key)
