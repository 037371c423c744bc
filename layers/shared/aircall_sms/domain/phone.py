"""Phone numbers: parse what a client sends into a valid E.164 number with its region and line type
(libphonenumber's metadata through `phonenumbers`), and mask numbers for logs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# `phonenumbers` (and its metadata) is imported on first use, not with this module: a status callback never
# parses a number, and its cold start is shorter without it.

MAX_INPUT_LENGTH = 64

# Line types: the lower-case name of each of phonenumbers' PhoneNumberType members.
_TYPE_NAMES = (
    "FIXED_LINE",
    "MOBILE",
    "FIXED_LINE_OR_MOBILE",
    "TOLL_FREE",
    "PREMIUM_RATE",
    "SHARED_COST",
    "VOIP",
    "PERSONAL_NUMBER",
    "PAGER",
    "UAN",
    "VOICEMAIL",
    "UNKNOWN",
)
KINDS: tuple[str, ...] = tuple(name.lower() for name in _TYPE_NAMES)


@cache
def _kind_by_type() -> dict[int, str]:
    """Line types by phonenumbers' PhoneNumberType value."""
    from phonenumbers import PhoneNumberType

    return {getattr(PhoneNumberType, name): name.lower() for name in _TYPE_NAMES}


# Digits and the punctuation people write numbers with. Letters (vanity numbers, "ext."), '#', '*', ';' and
# ',' are refused: they would be dialled as something else or silently dropped.
_ACCEPTED = re.compile(r"[0-9+()./\-\s\u2010-\u2015\u2212]+")
_DIGITS_ONLY = re.compile(r"[0-9]+")


class InvalidPhoneNumber(ValueError):
    """The input is not a valid phone number (unparseable, impossible, or of a form we refuse)."""


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid number: `e164` ("+33612345678"), `region` as phonenumbers reports it ("FR", "US", "PR",
    "001" for non-geographic numbers), `kind` (one of KINDS) and `country_code` (33)."""

    e164: str
    region: str
    kind: str
    country_code: int

    def __str__(self) -> str:
        return self.e164


def parse(raw: str, default_region: str | None = None) -> PhoneNumber:
    """Parse and validate `raw`. International form ("+33 6 12 34 56 78", "+1 (415) 555-0123"), national form
    given `default_region` ("06 12 34 56 78" with "FR"; the "00" international prefix works as phonenumbers
    handles it), or digits only with the country code and no default region ("33612345678")."""
    if not isinstance(raw, str):
        raise InvalidPhoneNumber(f"a phone number must be a string, not {type(raw).__name__}")
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("the phone number is empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber(f"the phone number is longer than {MAX_INPUT_LENGTH} characters")
    if not _ACCEPTED.fullmatch(text):
        raise InvalidPhoneNumber("a phone number may contain only digits, spaces, '+', '.', '-', '/' and parentheses")
    if default_region is not None and not isinstance(default_region, str):
        raise InvalidPhoneNumber("the default region must be a string such as 'FR'")
    if default_region is None and _DIGITS_ONLY.fullmatch(text):
        text = "+" + text  # an int-like value: the digits start with the country code
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_region.upper() if default_region else None)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(f"not a phone number: {error}") from None
    region = phonenumbers.region_code_for_number(number)
    if number.extension or number.country_code is None or region is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid phone number")
    return PhoneNumber(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        kind=_kind_by_type().get(phonenumbers.number_type(number), "unknown"),
        country_code=number.country_code,
    )


def preload() -> None:
    """Import phonenumbers and the metadata of its main regions now (SnapStart's snapshot holds them) instead of
    with the first number parsed."""
    parse("+33145678901")
    parse("+14155550123")


_MASK = "******"


def mask(e164: str) -> str:
    """Mask a number for logs: keep the country code and the last two digits ("+33612345678" ->
    "+33******78"). The masked part is always six asterisks, so the length is not revealed either. Never
    raises: any input with digits is masked (without a leading '+' only the last two digits stay, and a number
    too short to hide anything keeps no digit at all)."""
    try:
        text = e164 if isinstance(e164, str) else str(e164)
    except Exception:  # a __str__ that fails: nothing is revealed
        return _MASK
    digits = "".join(character for character in text if "0" <= character <= "9")
    if not text.lstrip().startswith("+"):
        return _MASK + digits[-2:] if len(digits) >= 6 else _MASK
    country_code = _country_code_prefix(digits)
    national = digits[len(country_code) :]
    return "+" + country_code + (_MASK + national[-2:] if len(national) >= 6 else _MASK)


def _country_code_prefix(digits: str) -> str:
    """The 1-3 digit country calling code that `digits` starts with, or "" when none is assigned."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

    for size in (1, 2, 3):
        prefix = digits[:size]
        if len(prefix) == size and int(prefix) in COUNTRY_CODE_TO_REGION_CODE:
            return prefix
    return ""
