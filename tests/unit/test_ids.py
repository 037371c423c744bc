"""Identifiers: the gateway's ids sort by creation; Aircall's number ids are ASCII digits only."""

import pytest

from aircall_sms.domain.ids import is_number_id, new_id
from aircall_sms.errors import InvalidRequest
from aircall_sms.use_cases.numbers import parse_number_id


def test_new_ids_carry_their_prefix_and_sort_by_creation(monkeypatch):
    # Ids of the same millisecond order by their random part: two milliseconds apart, creation order shows
    ticks = iter([1_795_745_000_000_000_000, 1_795_745_000_002_000_000])
    monkeypatch.setattr("aircall_sms.domain.ids.time.time_ns", lambda: next(ticks))
    first, second = new_id("msg"), new_id("msg")
    assert first.startswith("msg_") and len(first) == 30
    assert first < second


@pytest.mark.parametrize("text", ["1", "100005", "0" * 18])
def test_ascii_digits_up_to_eighteen_are_number_ids(text):
    assert is_number_id(text)


@pytest.mark.parametrize("text", ["", "1" * 19, "¹", "١٢٣", "12a", " 12", "-1", "1.0"])
def test_other_digits_and_other_text_are_not_number_ids(text):
    assert not is_number_id(text)


def test_a_superscript_digit_is_a_clear_400_not_a_crash():
    # Given "¹", which str.isdigit() accepts and int() refuses (found by the erasure property test)
    with pytest.raises(InvalidRequest) as refused:
        parse_number_id("¹")
    assert refused.value.details == {"field": "number_id"}
