"""How deeply a JSON text nests, found before parsing it.

Python's `json` parses nested arrays and objects by recursion: a body of a few thousand `[` (well inside the
64 KiB body limit) raises `RecursionError`, and pydantic's validation of a deep document recurses again. No
document of the API or of Aircall's callbacks nests deeper than a handful of levels, so every body is measured
first (one linear pass, no parsing) and one nested deeper than `MAX_DEPTH` is refused as a 400.
"""

from __future__ import annotations

import re

MAX_DEPTH = 32

# A JSON string (with its escapes): brackets inside strings are text, not nesting.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in `text` (0: a scalar). Malformed JSON is measured as well as it
    can be (the parser says what is wrong with it); `stop_above`: stop counting once the depth passes it."""
    brackets = _BRACKETS.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for character in brackets:
        if character in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif depth:
            depth -= 1
    return deepest


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when `text` nests arrays and objects deeper than `limit` levels."""
    return nesting_depth(text, stop_above=limit) > limit
