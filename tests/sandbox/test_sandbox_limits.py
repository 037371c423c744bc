"""Per-number segment limits: fixed UTC hour / day / month windows on the sandbox clock, counted in segments."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from aircall_sandbox import SegmentLimits, WindowLimits

FR_MOBILE = 100004
US_LOCAL = 100001
FR_RECIPIENT = "+33698765432"
US_RECIPIENT = "+14155550100"
MONTH_MESSAGE = "Forbidden Exception: the line exceeded number of messages limit for the current month (UTC)"


@pytest.fixture
def limited(start_sandbox):
    running = start_sandbox(
        segment_limits=SegmentLimits(
            us_ca=WindowLimits(hour=3, day=10, month=20),
            fr_mobile=WindowLimits(hour=2, day=3, month=4),
            other=WindowLimits(hour=1, day=1, month=1),
        )
    )
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})
    return running


def send(running, number_id, to, body="hello"):
    return running.api.post(f"/v1/numbers/{number_id}/messages/native/send", json={"to": to, "body": body})


def used(running, number_id):
    numbers = running.control.get("/_sandbox/usage").json()["numbers"]
    return next(number for number in numbers if number["number_id"] == number_id)


def test_a_french_mobile_line_hits_the_hour_then_the_day_then_the_month(limited):
    # Given two messages this hour
    assert [send(limited, FR_MOBILE, FR_RECIPIENT).status_code for _ in range(2)] == [200, 200]
    # Then the hour is full
    hour_full = send(limited, FR_MOBILE, FR_RECIPIENT)
    assert hour_full.status_code == 403
    assert hour_full.json() == {
        "key": "ForbiddenException",
        "message": "Forbidden Exception: the line exceeded number of messages limit for the current hour (UTC)",
    }
    # When the next hour starts, one more fits the day (3), then the day is full
    limited.control.post("/_sandbox/clock", json={"advance_seconds": 3600})
    assert send(limited, FR_MOBILE, FR_RECIPIENT).status_code == 200
    day_full = send(limited, FR_MOBILE, FR_RECIPIENT)
    assert day_full.status_code == 403
    assert "current day (UTC)" in day_full.json()["message"]
    # When the next day starts, one more fits the month (4), then Aircall's monthly refusal
    limited.control.post("/_sandbox/clock", json={"advance_seconds": 86_400})
    assert send(limited, FR_MOBILE, FR_RECIPIENT).status_code == 200
    month_full = send(limited, FR_MOBILE, FR_RECIPIENT)
    assert month_full.status_code == 403
    assert month_full.json() == {"key": "ForbiddenException", "message": MONTH_MESSAGE}


def test_the_month_window_is_a_utc_calendar_month(limited):
    for _ in range(2):
        send(limited, FR_MOBILE, FR_RECIPIENT)
    limited.control.post("/_sandbox/clock", json={"set": "2026-03-31T23:00:00Z"})
    for _ in range(2):
        send(limited, FR_MOBILE, FR_RECIPIENT)
    assert send(limited, FR_MOBILE, FR_RECIPIENT).json()["message"] == MONTH_MESSAGE

    limited.control.post("/_sandbox/clock", json={"set": "2026-04-01T00:00:00Z"})

    assert send(limited, FR_MOBILE, FR_RECIPIENT).status_code == 200
    assert used(limited, FR_MOBILE)["used"] == {"month": 1, "day": 1, "hour": 1}


def test_limits_count_segments_not_messages(limited):
    two_segments = "x" * 161

    assert send(limited, US_LOCAL, US_RECIPIENT, two_segments).status_code == 200
    assert send(limited, US_LOCAL, US_RECIPIENT, two_segments).status_code == 403
    assert send(limited, US_LOCAL, US_RECIPIENT, "one segment").status_code == 200
    assert used(limited, US_LOCAL)["used"]["hour"] == 3


def test_a_ucs2_body_costs_its_ucs2_segments(limited):
    seventy_one_with_emoji = "é" * 69 + "😀"  # the emoji forces UCS-2 and counts two units: 71 > 70

    assert send(limited, US_LOCAL, US_RECIPIENT, seventy_one_with_emoji).status_code == 200

    assert used(limited, US_LOCAL)["used"]["hour"] == 2


def test_a_refused_send_counts_nothing(limited):
    assert send(limited, US_LOCAL, US_RECIPIENT, "x" * 161).status_code == 200
    assert send(limited, US_LOCAL, US_RECIPIENT, "x" * 161).status_code == 403
    assert send(limited, US_LOCAL, "12", "not E.164").status_code == 400

    assert used(limited, US_LOCAL)["used"]["hour"] == 2


def test_each_number_has_its_own_windows_and_the_kind_sets_its_limits(limited):
    assert send(limited, 100006, "+447911123456").status_code == 200
    assert send(limited, 100006, "+447911123456").status_code == 403

    assert send(limited, 100005, "+33698765432").status_code == 200
    usage = used(limited, 100006)
    assert usage["kind"] == "other"
    assert usage["limits"] == {"hour": 1, "day": 1, "month": 1}
    assert usage["remaining"] == {"month": 0, "day": 0, "hour": 0}
    assert usage["windows"] == {"month": "2026-03", "day": "2026-03-10", "hour": "2026-03-10T10"}
    assert usage["resets_at"]["hour"] == "2026-03-10T11:00:00Z"


def test_the_defaults_are_aircalls_limits(control):
    limits = {number["number_id"]: number["limits"] for number in control.get("/_sandbox/usage").json()["numbers"]}

    assert limits[100001] == limits[100002] == limits[100003] == {"hour": 1_000, "day": 10_000, "month": 100_000}
    assert limits[100004] == {"hour": 100, "day": 1_000, "month": 10_000}
    assert limits[100005] == limits[100006] == {"hour": 500, "day": 2_000, "month": 20_000}


def test_an_mms_without_text_costs_one_segment(limited):
    response = limited.api.post(
        f"/v1/numbers/{US_LOCAL}/messages/native/send", json={"to": US_RECIPIENT, "mediaUrl": ["https://e.com/a.png"]}
    )

    assert response.status_code == 200
    assert used(limited, US_LOCAL)["used"]["hour"] == 1


def test_concurrent_sends_never_exceed_a_window(limited):
    def send_one(_):
        return send(limited, FR_MOBILE, FR_RECIPIENT).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send_one, range(12)))

    assert sorted(statuses) == [200] * 2 + [403] * 10
    assert used(limited, FR_MOBILE)["used"]["hour"] == 2
