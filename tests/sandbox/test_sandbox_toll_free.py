"""US/CA toll-free numbers are not ordinary US/CA lines: their verification state decides what carriers do.

Awaiting verification ("pending"): to the US at most 2,000 a day, 6,000 a week and 10,000 a month, the excess
accepted by Aircall then filtered (it ends `failed`); to Canada blocked. Unverified: every send blocked.
Verified: an ordinary US/CA line.
"""

import json

import pytest

from aircall_sandbox import TollFreeLimits

TOLL_FREE = 100002
SEND = f"/v1/numbers/{TOLL_FREE}/messages/native/send"
US_CONTACT = "+14155550100"
CA_CONTACT = "+15145550199"
VERIFICATION = f"/_sandbox/numbers/{TOLL_FREE}"


@pytest.fixture
def small(start_sandbox):
    """A toll-free number awaiting verification whose carrier windows hold 2 a day, 3 a week and 4 a month."""
    running = start_sandbox(toll_free_pending_limits=TollFreeLimits(day=2, week=3, month=4))
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})  # a Tuesday
    return running


def send(running, to=US_CONTACT, body="hello"):
    response = running.api.post(SEND, json={"to": to, "body": body})
    assert response.status_code == 200, response.text
    return response.json()


def outcome(running, message_id):
    """The message's final status and carrier outcome, once its status steps are done."""
    running.control.post("/_sandbox/callbacks/drain", json={"timeout_s": 5})
    messages = running.control.get("/_sandbox/messages").json()["messages"]
    message = next(item for item in messages if item["id"] == message_id)
    return message["status"], message["sandbox"]["carrier_outcome"]


def toll_free_usage(running):
    numbers = running.control.get("/_sandbox/usage").json()["numbers"]
    return next(number for number in numbers if number["number_id"] == TOLL_FREE)["toll_free"]


def test_the_seed_toll_free_number_awaits_verification(control):
    numbers = {number["id"]: number for number in control.get("/_sandbox/numbers").json()["numbers"]}

    assert (numbers[TOLL_FREE]["toll_free"], numbers[TOLL_FREE]["toll_free_verification"]) == (True, "pending")


def test_a_pending_toll_free_number_delivers_to_the_us_within_its_limits(small):
    message = send(small)

    assert outcome(small, message["id"]) == ("delivered", None)
    assert toll_free_usage(small)["used"] == {"month": 1, "week": 1, "day": 1}


def test_past_the_day_limit_a_pending_toll_free_send_is_accepted_then_filtered(small):
    # Given the day's two messages
    for _ in range(2):
        send(small)
    # When a third goes out the same day
    third = send(small)
    # Then Aircall accepts it, and carriers filter it: it ends failed
    assert third["status"] == "pending"
    assert outcome(small, third["id"]) == ("failed", "filtered")
    assert toll_free_usage(small)["filtered"] == 1


def test_past_the_week_limit_a_pending_toll_free_send_is_filtered(small):
    for _ in range(2):
        send(small)
    small.control.post("/_sandbox/clock", json={"set": "2026-03-11T10:00:00Z"})  # Wednesday, same ISO week
    send(small)

    fourth = send(small)

    assert outcome(small, fourth["id"]) == ("failed", "filtered")
    assert toll_free_usage(small)["used"] == {"month": 3, "week": 3, "day": 1}


def test_the_week_limit_starts_again_on_monday_in_utc(small):
    send(small)
    small.control.post("/_sandbox/clock", json={"set": "2026-03-11T10:00:00Z"})
    send(small)
    send(small)  # the week's third: the week is full
    small.control.post("/_sandbox/clock", json={"set": "2026-03-16T00:00:00Z"})  # the next Monday

    message = send(small)

    assert outcome(small, message["id"]) == ("delivered", None)
    assert toll_free_usage(small)["windows"]["week"] == "2026-W12"


def test_past_the_month_limit_a_pending_toll_free_send_is_filtered(small):
    for day in ("2026-03-02", "2026-03-09"):  # two Mondays: two weeks, two messages each
        small.control.post("/_sandbox/clock", json={"set": f"{day}T10:00:00Z"})
        send(small)
        send(small)
    small.control.post("/_sandbox/clock", json={"set": "2026-03-16T10:00:00Z"})

    fifth = send(small)

    assert outcome(small, fifth["id"]) == ("failed", "filtered")


def test_the_carrier_windows_count_segments(small):
    two_segments = "x" * 161
    send(small, body=two_segments)

    second = send(small, body=two_segments)

    assert outcome(small, second["id"]) == ("failed", "filtered")


def test_filtered_messages_take_no_room_in_the_carrier_windows(small):
    send(small, body="one")
    send(small, body="x" * 161)  # filtered: its two segments would overflow the day (2)

    last = send(small, body="one")

    assert outcome(small, last["id"]) == ("delivered", None)
    assert toll_free_usage(small)["used"]["day"] == 2


def test_filtered_messages_still_count_against_aircalls_own_windows(small):
    for _ in range(3):
        send(small)

    numbers = small.control.get("/_sandbox/usage").json()["numbers"]
    assert next(number for number in numbers if number["number_id"] == TOLL_FREE)["used"]["day"] == 3


def test_a_pending_toll_free_number_is_blocked_towards_canada(small):
    message = send(small, to=CA_CONTACT)

    assert outcome(small, message["id"]) == ("failed", "blocked")
    assert toll_free_usage(small)["used"]["day"] == 0


def test_a_blocked_send_is_announced_as_failed_in_its_status_callback(start_sandbox, receiver):
    running = start_sandbox()
    running.api.post(f"/v1/numbers/{TOLL_FREE}/messages/configuration", json={"callbackUrl": receiver.url})

    running.api.post(f"/v1/numbers/{TOLL_FREE}/messages/send", json={"to": CA_CONTACT, "body": "Bonjour"})

    sent, final = receiver.wait_for(2)
    assert [sent["data"]["status"], final["data"]["status"]] == ["sent", "failed"]


def test_an_unverified_toll_free_number_is_blocked_towards_everyone(small):
    small.control.patch(VERIFICATION, json={"toll_free_verification": "unverified"})

    to_us = send(small)

    assert outcome(small, to_us["id"]) == ("failed", "blocked")


def test_a_verified_toll_free_number_is_an_ordinary_us_ca_line(small):
    small.control.patch(VERIFICATION, json={"toll_free_verification": "verified"})

    sent = [send(small, to=to) for to in (CA_CONTACT, US_CONTACT, US_CONTACT, US_CONTACT)]

    assert {outcome(small, message["id"]) for message in sent} == {("delivered", None)}


def test_the_control_sets_the_verification_state(control):
    answer = control.patch(VERIFICATION, json={"toll_free_verification": "verified"})

    assert answer.status_code == 200
    assert answer.json()["toll_free_verification"] == "verified"
    numbers = {number["id"]: number for number in control.get("/_sandbox/numbers").json()["numbers"]}
    assert numbers[TOLL_FREE]["toll_free_verification"] == "verified"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/_sandbox/numbers/100001", {"toll_free_verification": "verified"}, 400),
        (VERIFICATION, {"toll_free_verification": "approved"}, 400),
        (VERIFICATION, {"sms_enabled": False}, 400),
        ("/_sandbox/numbers/999", {"toll_free_verification": "verified"}, 404),
    ],
    ids=["not-toll-free", "unknown-state", "other-field", "unknown-number"],
)
def test_the_control_refuses_a_bad_verification_change(control, path, body, status):
    response = control.patch(path, json=body)

    assert response.status_code == status
    assert response.json()["error"]


def test_reset_restores_the_seed_verification(control):
    control.patch(VERIFICATION, json={"toll_free_verification": "verified"})

    control.post("/_sandbox/reset")

    numbers = {number["id"]: number for number in control.get("/_sandbox/numbers").json()["numbers"]}
    assert numbers[TOLL_FREE]["toll_free_verification"] == "pending"


def test_the_usage_view_shows_the_carrier_windows_of_toll_free_numbers_only(small):
    usage = {number["number_id"]: number for number in small.control.get("/_sandbox/usage").json()["numbers"]}

    assert usage[100001]["toll_free"] is None
    assert usage[TOLL_FREE]["toll_free"] == {
        "verification": "pending",
        "pending_limits": {"day": 2, "week": 3, "month": 4},
        "used": {"month": 0, "week": 0, "day": 0},
        "remaining": {"month": 4, "week": 3, "day": 2},
        "filtered": 0,
        "windows": {"month": "2026-03", "week": "2026-W11", "day": "2026-03-10"},
        "resets_at": {
            "month": "2026-04-01T00:00:00Z",
            "week": "2026-03-16T00:00:00Z",
            "day": "2026-03-11T00:00:00Z",
        },
    }


def test_a_toll_free_number_from_a_numbers_file_is_verified_unless_it_says_so(start_sandbox, tmp_path):
    numbers_file = tmp_path / "numbers.json"
    numbers_file.write_text(
        json.dumps(
            [
                {"id": 200010, "name": "TF one", "digits": "+1 888-555-0101"},
                {"id": 200011, "name": "TF two", "digits": "+1 877-555-0102", "toll_free_verification": "unverified"},
            ]
        )
    )

    running = start_sandbox(numbers_file=numbers_file)

    numbers = {number["id"]: number for number in running.control.get("/_sandbox/numbers").json()["numbers"]}
    assert (numbers[200010]["toll_free_verification"], numbers[200011]["toll_free_verification"]) == (
        "verified",
        "unverified",
    )


def test_a_verification_state_on_a_number_that_is_not_toll_free_is_refused(control):
    response = control.post(
        "/_sandbox/numbers",
        json={"id": 200012, "name": "Local", "digits": "+1 424-416-2299", "toll_free_verification": "pending"},
    )

    assert response.status_code == 400
    assert "only for US/CA toll-free numbers" in response.json()["error"]
