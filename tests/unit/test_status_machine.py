import pytest

from aircall_sms.domain.status import FINAL, RANK, can_move, from_aircall, predecessors


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("deferred", "queued"),
        ("deferred", "expired"),
        ("deferred", "rejected"),
        ("unknown", "queued"),
        ("unknown", "sent"),
        ("unknown", "delivered"),
        ("unknown", "failed"),
        ("queued", "sent"),
        ("queued", "delivered"),
        ("sent", "delivered"),
        ("sent", "failed"),
    ],
)
def test_forward_moves_are_allowed(current, target):
    assert can_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("sent", "queued"),
        ("delivered", "sent"),
        ("delivered", "failed"),
        ("failed", "delivered"),
        ("queued", "queued"),
        ("queued", "unknown"),
        ("received", "delivered"),
        ("expired", "queued"),
        ("rejected", "queued"),
    ],
)
def test_backward_sideways_and_repeated_moves_are_refused(current, target):
    assert not can_move(current, target)


def test_final_statuses_have_no_successor():
    for final in FINAL:
        assert not any(can_move(final, target) for target in RANK)


def test_predecessors_never_include_a_final_status():
    for target in RANK:
        assert not set(predecessors(target)) & FINAL


@pytest.mark.parametrize(
    ("aircall", "ours"),
    [
        ("pending", "queued"),
        ("SENT", "sent"),
        (" delivered ", "delivered"),
        ("failed", "failed"),
        ("undelivered", "failed"),
        ("received", "received"),
        ("bogus", None),
        (None, None),
        (3, None),
    ],
)
def test_aircall_statuses_map_to_the_gateway_vocabulary(aircall, ours):
    assert from_aircall(aircall) == ours
