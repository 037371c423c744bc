"""SMS segments: how many parts a text costs (GSM-7 or UCS-2, as carriers and Aircall count them), and which
typographic characters to replace to fall back from UCS-2 to GSM-7.

GSM-7 (3GPP TS 23.038 default alphabet): 160 septets in a single message, 153 per part once concatenated
(the user data header takes 7). A character of the extension table costs two septets (escape + character).
UCS-2 (any character outside both tables): 70 UTF-16 code units single, 67 per part; a character outside the
Basic Multilingual Plane (most emoji) is a surrogate pair and costs two. A character is never split across two
parts: an escape pair or a surrogate pair that does not fit moves whole to the next part.

    python -m aircall_sms.domain.segments "some text"     # prints count(text).to_dict() as JSON
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

type Encoding = Literal["GSM-7", "UCS-2"]

GSM_SINGLE_SEPTETS = 160
GSM_PART_SEPTETS = 153
UCS2_SINGLE_UNITS = 70
UCS2_PART_UNITS = 67

_ESCAPE = "\x1b"

# The default alphabet, position by position (0x00-0x7F). 0x1B is the escape to the extension table and
# stands for no character of its own. 0x09 is the capital Ç, as in the standard's Unicode mapping.
GSM_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table (reached through the escape): form feed, ^ { } \ [ ~ ] | and the euro sign.
GSM_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

GSM_BASIC: frozenset[str] = frozenset(GSM_DEFAULT_ALPHABET) - {_ESCAPE}
GSM_EXTENSION: frozenset[str] = frozenset(GSM_EXTENSION_TABLE.values())
GSM_CHARACTERS: frozenset[str] = GSM_BASIC | GSM_EXTENSION

# Deletes the default alphabet. str.translate is fast on ASCII text only (most messages), set() elsewhere.
_DELETE_BASIC = str.maketrans(dict.fromkeys(GSM_BASIC))


@dataclass(frozen=True, slots=True)
class Segmentation:
    """What one text costs. `units` are septets for GSM-7 and UTF-16 code units for UCS-2;
    `non_gsm_characters` are the characters that forced UCS-2 (unique, in order of appearance)."""

    encoding: Encoding
    segments: int
    units: int
    characters: int
    non_gsm_characters: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "units": self.units,
            "characters": self.characters,
            "non_gsm_characters": list(self.non_gsm_characters),
        }


_EMPTY = Segmentation(encoding="GSM-7", segments=0, units=0, characters=0)


def count(text: str) -> Segmentation:
    """Count the segments of `text`. Empty text is 0 segments (GSM-7)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    characters = len(text)
    if not characters:
        return _EMPTY
    outside_basic = set(text.translate(_DELETE_BASIC)) if text.isascii() else set(text).difference(GSM_BASIC)
    if not outside_basic:
        return Segmentation(
            "GSM-7", _plain_parts(characters, GSM_SINGLE_SEPTETS, GSM_PART_SEPTETS), characters, characters
        )
    if outside_basic <= GSM_EXTENSION:
        return _count_gsm_with_extension(text, characters, outside_basic)
    return _count_ucs2(text, characters, outside_basic)


def _in_order_of_appearance(text: str, characters: set[str]) -> tuple[str, ...]:
    # str.index per character is fastest for the usual handful; one pass over the text bounds the worst case.
    if len(characters) <= 16:
        return tuple(sorted(characters, key=text.index))
    return tuple(character for character in dict.fromkeys(text) if character in characters)


def _plain_parts(units: int, single: int, part: int) -> int:
    """Parts when every character costs one unit (nothing can straddle a boundary)."""
    return 1 if units <= single else -(-units // part)


def _count_gsm_with_extension(text: str, characters: int, extension: set[str]) -> Segmentation:
    # Each extension character written as its two septets: a position in `septets` is a septet, and a part
    # that would end on an escape would split the pair.
    septets = text
    for character in extension:
        septets = septets.replace(character, _ESCAPE + character)
    units = len(septets)
    if units <= GSM_SINGLE_SEPTETS:
        return Segmentation("GSM-7", 1, units, characters)
    start, parts = 0, 1
    while units - start > GSM_PART_SEPTETS:
        end = start + GSM_PART_SEPTETS
        if septets[end - 1] == _ESCAPE:  # the pair would straddle the boundary: it opens the next part
            end -= 1
        start, parts = end, parts + 1
    return Segmentation("GSM-7", parts, units, characters)


def _count_ucs2(text: str, characters: int, outside_basic: set[str]) -> Segmentation:
    non_gsm = _in_order_of_appearance(text, outside_basic - GSM_EXTENSION)
    # surrogatepass: a lone surrogate (possible in a str decoded from JSON) still counts as one unit.
    encoded = text.encode("utf-16-le", "surrogatepass")
    units = len(encoded) // 2
    if units == characters:
        return Segmentation(
            "UCS-2", _plain_parts(units, UCS2_SINGLE_UNITS, UCS2_PART_UNITS), units, characters, non_gsm
        )
    if units <= UCS2_SINGLE_UNITS:
        return Segmentation("UCS-2", 1, units, characters, non_gsm)
    start, parts = 0, 1
    while units - start > UCS2_PART_UNITS:
        end = start + UCS2_PART_UNITS
        # The last unit of the part is a high surrogate whose low half would open the next part: move the pair.
        if 0xD8 <= encoded[2 * end - 1] <= 0xDB and 0xDC <= encoded[2 * end + 1] <= 0xDF:
            end -= 1
        start, parts = end, parts + 1
    return Segmentation("UCS-2", parts, units, characters, non_gsm)


# Typographic characters (none of them GSM) and their GSM equivalents; "" removes the character.
_GSM_EQUIVALENTS: dict[str, str] = {
    # apostrophes, single quotes, primes, stray accents
    "\u2018": "'",  # ‘ left single quotation mark
    "\u2019": "'",  # ’ right single quotation mark
    "\u201a": "'",  # ‚ single low-9 quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u2039": "'",  # ‹ single left-pointing angle quotation mark
    "\u203a": "'",  # › single right-pointing angle quotation mark
    "\u2032": "'",  # ′ prime
    "\u2035": "'",  # ‵ reversed prime
    "\u02bc": "'",  # ʼ modifier letter apostrophe
    "\u02b9": "'",  # ʹ modifier letter prime
    "\u00b4": "'",  # ´ acute accent
    "`": "'",  # grave accent (ASCII, but not in the GSM alphabet)
    # double quotes
    "\u201c": '"',  # “ left double quotation mark
    "\u201d": '"',  # ” right double quotation mark
    "\u201e": '"',  # „ double low-9 quotation mark
    "\u201f": '"',  # ‟ double high-reversed-9 quotation mark
    "\u00ab": '"',  # « left-pointing double angle quotation mark
    "\u00bb": '"',  # » right-pointing double angle quotation mark
    "\u2033": '"',  # ″ double prime
    "\u2036": '"',  # ‶ reversed double prime
    "\u02ba": '"',  # ʺ modifier letter double prime
    # dashes and minus signs
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2012": "-",  # ‒ figure dash
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2015": "-",  # ― horizontal bar
    "\u2212": "-",  # − minus sign
    "\ufe63": "-",  # ﹣ small hyphen-minus
    "\uff0d": "-",  # － fullwidth hyphen-minus
    # bullets
    "\u2022": "-",  # • bullet
    "\u2023": "-",  # ‣ triangular bullet
    "\u2043": "-",  # ⁃ hyphen bullet
    "\u25e6": "-",  # ◦ white bullet
    # ellipsis, slashes, modifier accents that stand for ASCII symbols
    "\u2026": "...",  # … horizontal ellipsis
    "\u2044": "/",  # ⁄ fraction slash
    "\u2215": "/",  # ∕ division slash
    "\u02c6": "^",  # ˆ modifier letter circumflex accent
    "\u02dc": "~",  # ˜ small tilde
    # spaces
    "\t": " ",
    "\u00a0": " ",  # no-break space
    "\u1680": " ",  # ogham space mark
    "\u2000": " ",  # en quad
    "\u2001": " ",  # em quad
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2004": " ",  # three-per-em space
    "\u2005": " ",  # four-per-em space
    "\u2006": " ",  # six-per-em space
    "\u2007": " ",  # figure space
    "\u2008": " ",  # punctuation space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space
    "\u205f": " ",  # medium mathematical space
    "\u3000": " ",  # ideographic space
    # line and paragraph separators
    "\u2028": "\n",
    "\u2029": "\n",
    # invisible characters
    "\u200b": "",  # zero width space
    "\u200c": "",  # zero width non-joiner
    "\u200d": "",  # zero width joiner
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero width no-break space (byte order mark)
    "\u00ad": "",  # soft hyphen
}
GSM_EQUIVALENTS: Mapping[str, str] = MappingProxyType(_GSM_EQUIVALENTS)


@dataclass(frozen=True, slots=True)
class GsmSuggestion:
    """The text with typographic characters replaced by GSM equivalents, and what that saves.
    `segments_saved` is `segments_before - segments_after`; it can be negative when other characters keep the
    text in UCS-2 (three dots cost more than one ellipsis). `remaining_non_gsm` still force UCS-2."""

    text: str
    segments_before: int
    segments_after: int
    segments_saved: int
    replacements: tuple[tuple[str, str], ...]
    remaining_non_gsm: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "segments_before": self.segments_before,
            "segments_after": self.segments_after,
            "segments_saved": self.segments_saved,
            "replacements": [list(pair) for pair in self.replacements],
            "remaining_non_gsm": list(self.remaining_non_gsm),
        }


def suggest_gsm(text: str) -> GsmSuggestion:
    """Replace typographic characters (curly quotes, dashes, ellipsis, special spaces, zero-width characters,
    bullets...) by their GSM equivalents. Characters already in the GSM alphabet are never touched."""
    before = count(text)
    replaceable = _in_order_of_appearance(text, set(text).intersection(_GSM_EQUIVALENTS))
    replaced = text
    for character in replaceable:  # str.replace per character: far faster than str.translate on non-ASCII text
        replaced = replaced.replace(character, _GSM_EQUIVALENTS[character])
    after = count(replaced) if replaceable else before
    return GsmSuggestion(
        text=replaced,
        segments_before=before.segments,
        segments_after=after.segments,
        segments_saved=before.segments - after.segments,
        replacements=tuple((character, _GSM_EQUIVALENTS[character]) for character in replaceable),
        remaining_non_gsm=after.non_gsm_characters,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m aircall_sms.domain.segments TEXT...`: the arguments joined by spaces, or without any, standard input
    (less the one newline that ends it)."""
    arguments = sys.argv[1:] if argv is None else argv
    text = " ".join(arguments) if arguments else sys.stdin.read().removesuffix("\n")
    print(json.dumps(count(text).to_dict(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
