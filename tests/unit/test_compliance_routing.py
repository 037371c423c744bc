"""Routing: domestic sending only (same region as phonenumbers reports it), except between the US and Canada."""

from __future__ import annotations

import itertools

import pytest

from aircall_sms.domain import compliance
from aircall_sms.domain.compliance import is_domestic
from aircall_sms.domain.phone import InvalidPhoneNumber, parse

NUMBERS = {
    "US": "+14155550123",
    "US-toll-free": "+18002345678",
    "CA": "+16135550123",
    "CA-2": "+15062345678",
    "PR": "+17872345678",
    "VI": "+13407731234",
    "FR": "+33612345678",
    "FR-fixed": "+33123456789",
    "GB": "+447400123456",
    "GG": "+447911123456",
    "IM": "+447624123456",
    "DE": "+4915123456789",
    "AT": "+436641234567",
    "BE": "+32470123456",
    "GP": "+590690001234",
    "non-geographic": "+80012345678",
}


@pytest.mark.parametrize(
    ("sender", "recipient", "domestic"),
    [
        ("US", "US", True),
        ("US", "US-toll-free", True),
        ("US-toll-free", "US", True),
        ("CA", "CA-2", True),
        ("US", "CA", True),
        ("CA", "US", True),
        ("US-toll-free", "CA", True),
        ("CA", "US-toll-free", True),
        ("US", "PR", False),
        ("PR", "US", False),
        ("CA", "PR", False),
        ("PR", "CA", False),
        ("PR", "PR", True),
        ("US", "VI", False),
        ("VI", "PR", False),
        ("FR", "FR", True),
        ("FR", "FR-fixed", True),
        ("FR-fixed", "FR", True),
        ("FR", "GP", False),
        ("FR", "BE", False),
        ("FR", "GB", False),
        ("GB", "GB", True),
        ("GB", "GG", False),
        ("GB", "IM", False),
        ("DE", "AT", False),
        ("US", "FR", False),
        ("FR", "US", False),
        ("CA", "FR", False),
        ("GB", "US", False),
        ("non-geographic", "non-geographic", False),
        ("non-geographic", "US", False),
        ("US", "non-geographic", False),
    ],
)
def test_routing_is_domestic_only_with_the_us_canada_exception(sender, recipient, domestic):
    assert is_domestic(NUMBERS[sender], NUMBERS[recipient]) is domestic


@pytest.mark.parametrize(("sender", "recipient"), list(itertools.product(sorted(NUMBERS), repeat=2)))
def test_routing_is_symmetric_and_the_same_for_strings_and_parsed_numbers(sender, recipient):
    as_strings = is_domestic(NUMBERS[sender], NUMBERS[recipient])
    assert is_domestic(NUMBERS[recipient], NUMBERS[sender]) is as_strings
    assert is_domestic(parse(NUMBERS[sender]), parse(NUMBERS[recipient])) is as_strings
    assert is_domestic(parse(NUMBERS[sender]), NUMBERS[recipient]) is as_strings
    assert is_domestic(NUMBERS[sender], parse(NUMBERS[recipient])) is as_strings


@pytest.mark.parametrize("name", sorted(set(NUMBERS) - {"non-geographic"}))
def test_every_geographic_number_may_text_its_own_region(name):
    assert is_domestic(NUMBERS[name], NUMBERS[name])


@pytest.mark.parametrize(
    ("sender", "recipient"), [("not a number", "+14155550123"), ("+14155550123", ""), ("+1", "+1")]
)
def test_an_invalid_number_raises_invalid_phone_number(sender, recipient):
    with pytest.raises(InvalidPhoneNumber):
        is_domestic(sender, recipient)


def test_regions_are_the_ones_phonenumbers_reports():
    assert parse(NUMBERS["PR"]).region == "PR"
    assert parse(NUMBERS["US-toll-free"]).region == "US"


def test_the_compliance_module_exposes_the_send_rules():
    public = {name for name in vars(compliance) if not name.startswith("_") and name.islower()}
    assert public - {"annotations", "parse"} == {
        "is_domestic",
        "is_french_mobile",
        "static_refusal",
        "needs_open_conversation",
        "needs_consent",
    }
