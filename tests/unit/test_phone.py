"""Phone numbers: parsing into E.164 with region and kind, refusing what is not a valid number, masking for logs."""

from __future__ import annotations

import dataclasses
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from aircall_sms.domain.phone import KINDS, MAX_INPUT_LENGTH, InvalidPhoneNumber, PhoneNumber, mask, parse

# --- valid numbers ---


@pytest.mark.parametrize(
    ("raw", "e164", "region", "kind"),
    [
        ("+33612345678", "+33612345678", "FR", "mobile"),
        ("+33123456789", "+33123456789", "FR", "fixed_line"),
        ("+33801234567", "+33801234567", "FR", "toll_free"),
        ("+14155550123", "+14155550123", "US", "fixed_line_or_mobile"),
        ("+12015550123", "+12015550123", "US", "fixed_line_or_mobile"),
        ("+18002345678", "+18002345678", "US", "toll_free"),
        ("+18772345678", "+18772345678", "US", "toll_free"),
        ("+16135550123", "+16135550123", "CA", "fixed_line_or_mobile"),
        ("+15062345678", "+15062345678", "CA", "fixed_line_or_mobile"),
        ("+17872345678", "+17872345678", "PR", "fixed_line_or_mobile"),
        ("+447400123456", "+447400123456", "GB", "mobile"),
        ("+441212345678", "+441212345678", "GB", "fixed_line"),
        ("+447911123456", "+447911123456", "GG", "mobile"),
        ("+447624123456", "+447624123456", "IM", "mobile"),
        ("+4915123456789", "+4915123456789", "DE", "mobile"),
        ("+4930123456", "+4930123456", "DE", "fixed_line"),
        ("+80012345678", "+80012345678", "001", "toll_free"),
    ],
)
def test_an_e164_number_parses_with_its_region_and_kind(raw, e164, region, kind):
    number = parse(raw)
    assert (number.e164, number.region, number.kind) == (e164, region, kind)


@pytest.mark.parametrize(
    ("raw", "country_code"),
    [("+33612345678", 33), ("+14155550123", 1), ("+17872345678", 1), ("+447400123456", 44), ("+80012345678", 800)],
)
def test_the_country_code_is_kept(raw, country_code):
    assert parse(raw).country_code == country_code


@pytest.mark.parametrize(
    ("raw", "default_region"),
    [
        ("+33 6 12 34 56 78", None),
        ("+33.6.12.34.56.78", None),
        ("+33-6-12-34-56-78", None),
        ("+33 (0)6 12 34 56 78", None),
        ("(+33) 6 12 34 56 78", None),
        ("+33 6 12 34 56 78", "US"),
        ("  +33612345678  ", None),
        ("+33\u00a06\u00a012\u00a034\u00a056\u00a078", None),
        ("+33 6–12–34–56–78", None),
        ("06 12 34 56 78", "FR"),
        ("06.12.34.56.78", "FR"),
        ("0612345678", "FR"),
        ("0612345678", "fr"),
        ("0033 6 12 34 56 78", "FR"),
        ("0033612345678", "FR"),
        ("011 33 6 12 34 56 78", "US"),
        ("33612345678", None),
        ("33612345678", "FR"),
        ("+33/6/12/34/56/78", None),
    ],
)
def test_written_forms_of_a_french_mobile_all_normalise_to_e164(raw, default_region):
    assert parse(raw, default_region) == PhoneNumber("+33612345678", "FR", "mobile", 33)


@pytest.mark.parametrize(
    ("raw", "default_region"),
    [
        ("+1 (415) 555-0123", None),
        ("+1 415.555.0123", None),
        ("(415) 555-0123", "US"),
        ("415-555-0123", "US"),
        ("415.555.0123", "US"),
        ("4155550123", "US"),
        ("1 415 555 0123", "US"),
        ("14155550123", "US"),
        ("14155550123", None),
        ("+1-415-555-0123", "CA"),
    ],
)
def test_written_forms_of_a_us_number_all_normalise_to_e164(raw, default_region):
    assert parse(raw, default_region).e164 == "+14155550123"


def test_a_national_number_takes_the_region_of_its_metadata_not_the_default():
    # A Puerto Rico number written nationally with the US as default region is still Puerto Rico
    assert parse("(787) 234-5678", "US").region == "PR"


PHONE_NUMBER_TYPES = {name.lower(): value for name, value in vars(PhoneNumberType).items() if name.isupper()}


def test_kinds_are_the_lower_case_names_of_phonenumbers_types():
    assert set(KINDS) == set(PHONE_NUMBER_TYPES)
    assert len(KINDS) == 12


def example_numbers() -> list[tuple[str, str, str]]:
    """(E.164, kind, region) of every example number phonenumbers has for a few regions and each kind."""
    examples = []
    for region in ("FR", "US", "CA", "GB", "DE", "ES", "IT", "AU", "CH", "AE", "AG", "AC", "JP", "BR"):
        for kind, number_type in sorted(PHONE_NUMBER_TYPES.items()):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None and phonenumbers.number_type(example) == number_type:
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                examples.append((e164, kind, str(phonenumbers.region_code_for_number(example))))
    return examples


@pytest.mark.parametrize(("e164", "kind", "region"), example_numbers())
def test_every_example_number_of_phonenumbers_parses_to_its_kind_and_region(e164, kind, region):
    number = parse(e164)
    assert (number.e164, number.kind, number.region) == (e164, kind, region)


def test_the_example_numbers_cover_every_kind_but_unknown():
    assert {kind for _, kind, _ in example_numbers()} == set(KINDS) - {"unknown"}


@pytest.mark.parametrize(
    ("e164", "kind"),
    [
        ("+24762889", "fixed_line"),
        ("+24740123", "mobile"),
        ("+15062345678", "fixed_line_or_mobile"),
        ("+37618001234", "toll_free"),
        ("+376912345", "premium_rate"),
        ("+971700012345", "shared_cost"),
        ("+12684801234", "voip"),
        ("+15002345678", "personal_number"),
        ("+12684061234", "pager"),
        ("+247542011", "uan"),
        ("+41860123456789", "voicemail"),
    ],
)
def test_each_line_kind_is_reported(e164, kind):
    assert parse(e164).kind == kind


def test_a_phone_number_reads_as_its_e164_form():
    assert str(parse("+33 6 12 34 56 78")) == "+33612345678"


def test_a_phone_number_is_frozen_and_hashable():
    number = parse("+33612345678")
    with pytest.raises(dataclasses.FrozenInstanceError):
        number.e164 = "+33700000000"  # type: ignore[misc]
    assert {number, parse("+33 6 12 34 56 78")} == {number}


# --- invalid input ---


def test_invalid_phone_number_is_a_value_error():
    assert issubclass(InvalidPhoneNumber, ValueError)


@pytest.mark.parametrize("raw", [None, 33612345678, 3.3, b"+33612345678", ["+33612345678"], {"e164": "+33"}, True])
def test_input_that_is_not_a_string_is_refused(raw):
    with pytest.raises(InvalidPhoneNumber, match="must be a string"):
        parse(raw)


@pytest.mark.parametrize("raw", ["", " ", "   \t\n "])
def test_empty_input_is_refused(raw):
    with pytest.raises(InvalidPhoneNumber, match="empty"):
        parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "+33612345678" + " " * 60,  # stripped, then fine: 12 characters
    ],
)
def test_surrounding_whitespace_does_not_count_towards_the_length(raw):
    assert parse(raw).e164 == "+33612345678"


@pytest.mark.parametrize(
    "raw",
    ["+33 6 12 34 56 78" + "." * 48, "+" + "1" * 64, "+33 6 12 34 56 78" + "-" * 60, "9" * 10_000],
)
def test_absurdly_long_input_is_refused_before_parsing(raw):
    with pytest.raises(InvalidPhoneNumber, match="longer than 64"):
        parse(raw)


def test_64_characters_of_punctuation_around_a_valid_number_are_still_accepted():
    raw = "+33 6 12 34 56 78".ljust(MAX_INPUT_LENGTH, ".")
    assert len(raw) == MAX_INPUT_LENGTH
    assert parse(raw).e164 == "+33612345678"


def test_65_characters_are_refused():
    raw = "+33 6 12 34 56 78".ljust(MAX_INPUT_LENGTH + 1, ".")
    with pytest.raises(InvalidPhoneNumber, match="longer than 64"):
        parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "1-800-FLOWERS",
        "+1 800 FLOWERS",
        "+33 6 12 34 56 7a",
        "tel:+33612345678",
        "+33612345678 ext. 12",
        "+1 415 555 0123 x12",
        "+14155550123;ext=12",
        "+14155550123#12",
        "*31#+33612345678",
        "+33,612345678",
        "+33 6 12 34 56 78\x00",
        "+３３６１２３４５６７８",
        "+٣٣٦١٢٣٤٥٦٧٨",
        "phone",
        "NaN",
    ],
)
def test_letters_extensions_and_other_symbols_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber, match="only digits"):
        parse(raw)


@pytest.mark.parametrize(
    ("raw", "default_region"),
    [
        ("+33 6 12", None),
        ("+336123456789", None),
        ("+1 415 555 01234", None),
        ("+1 123 456 7890", None),
        ("+999 1234 5678", None),
        ("+", None),
        ("0612345678", None),
        ("612345678", None),
        ("0612345678", "XX"),
        ("0612345678", "ZZ"),
        ("0612345678", "US"),
        ("12", "FR"),
        ("()", None),
        ("---", None),
        ("+0 612345678", None),
        ("+447700900123", None),
    ],
)
def test_input_that_is_not_a_valid_number_is_refused(raw, default_region):
    with pytest.raises(InvalidPhoneNumber):
        parse(raw, default_region)


@pytest.mark.parametrize("default_region", [33, b"FR", ["FR"]])
def test_a_default_region_that_is_not_a_string_is_refused(default_region):
    with pytest.raises(InvalidPhoneNumber, match="region"):
        parse("0612345678", default_region)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from([None, "FR", "US", "GB"]))
def test_parse_either_returns_a_valid_e164_number_or_raises_invalid_phone_number(raw, default_region):
    try:
        number = parse(raw, default_region)
    except InvalidPhoneNumber:
        return
    assert re.fullmatch(r"\+[1-9][0-9]{4,14}", number.e164)
    assert number.kind in KINDS
    assert parse(number.e164) == number


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["+33612345678", "+14155550123", "+447400123456", "+4915123456789"]), st.data())
def test_any_punctuation_between_the_digits_gives_the_same_number(e164, data):
    separators = st.sampled_from(["", " ", ".", "-", " - "])
    raw = "+" + "".join(digit + data.draw(separators) for digit in e164[1:])
    assert parse(raw).e164 == e164


# --- masking ---


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+33612345678", "+33******78"),
        ("+14155550123", "+1******23"),
        ("+17872345678", "+1******78"),
        ("+447400123456", "+44******56"),
        ("+4915123456789", "+49******89"),
        ("+8801712345678", "+880******78"),
        ("+35312345678", "+353******78"),
        ("+80012345678", "+800******78"),
        ("+247401234", "+247******34"),
        ("+24740123", "+247******"),
        ("+33 6 12 34 56 78", "+33******78"),
        ("  +1 (415) 555-0123", "+1******23"),
        ("0612345678", "******78"),
        ("33612345678", "******78"),
        ("(415) 555-0123", "******23"),
        ("+33612345", "+33******45"),
        ("+3361234", "+33******"),
        ("+336123", "+33******"),
        ("+3312", "+33******"),
        ("+33", "+33******"),
        ("+", "+******"),
        ("+999123456789", "+******89"),
        ("12345", "******"),
        ("", "******"),
        ("   ", "******"),
        ("hello", "******"),
        ("+33 six", "+33******"),
    ],
)
def test_a_number_is_masked_keeping_the_country_code_and_the_last_two_digits(value, masked):
    assert mask(value) == masked


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("value", "masked"),
    [(None, "******"), (33612345678, "******78"), (b"+33612345678", "******78"), (Unprintable(), "******")],
)
def test_masking_never_raises_even_on_values_that_are_not_strings(value, masked):
    assert mask(value) == masked


def test_the_mask_does_not_reveal_the_length_of_the_number():
    assert len(mask("+33612345678")) == len(mask("+3361234567890"))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"\+[0-9 ().-]{0,20}", fullmatch=True)))
def test_a_mask_reveals_at_most_a_country_code_and_two_digits(value):
    masked = mask(value)
    assert re.fullmatch(r"(\+[0-9]{0,3})?\*{6}[0-9]{0,2}", masked)
