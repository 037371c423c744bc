"""Identifiers: the gateway's own (time-ordered: ULID layout, Crockford base32, so ids sort by creation), and the
shape of Aircall's numeric number ids."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """`<prefix>_` + 26 characters: 48 bits of milliseconds then 80 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"


MAX_NUMBER_ID_DIGITS = 18


def is_number_id(text: str) -> bool:
    """Whether `text` has the shape of Aircall's number_id: 1 to 18 ASCII digits. (`str.isdigit` alone also
    takes digits such as "¹" that `int` refuses.)"""
    return 0 < len(text) <= MAX_NUMBER_ID_DIGITS and text.isascii() and text.isdigit()
