from datetime import UTC, datetime

import pytest

from aircall_sms.domain.timeutil import iso, parse_time

MOMENT = datetime(2026, 11, 26, 14, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        1795701909,
        1795701909.0,
        "1795701909",
        1795701909000,
        "1795701909000",
        "2026-11-26T14:05:09Z",
        "2026-11-26T14:05:09+00:00",
        "2026-11-26T15:05:09+01:00",
        "2026-11-26T14:05:09",
    ],
)
def test_aircall_timestamps_parse_in_every_documented_form(value):
    assert parse_time(value) == MOMENT


@pytest.mark.parametrize("value", [None, "", "  ", "yesterday", True, [], {}, -5, float("nan"), "1e400"])
def test_unreadable_timestamps_are_none_not_errors(value):
    assert parse_time(value) is None


def test_iso_is_utc_with_milliseconds_and_z():
    assert iso(MOMENT) == "2026-11-26T14:05:09.000Z"
