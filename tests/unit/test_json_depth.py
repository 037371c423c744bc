"""The nesting depth of a JSON text, measured before parsing (bodies nested deeper than `MAX_DEPTH` are refused:
Python's json parser would recurse once per level)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from aircall_sms.domain.json_depth import MAX_DEPTH, nesting_depth, too_deep

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children),
    max_leaves=20,
)


def depth_of(value):
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


@given(JSON)
def test_the_depth_is_the_documents_whatever_its_strings_hold(value):
    assert nesting_depth(json.dumps(value)) == depth_of(value)


def test_brackets_inside_strings_and_escaped_quotes_are_text():
    assert nesting_depth(r'{"a": "[[[{{", "b": "\"[[[", "c": [{}]}') == 3
    assert nesting_depth('"[[[["') == 0


def test_scalars_are_depth_zero_and_thousands_of_levels_are_measured():
    assert nesting_depth("12") == 0
    assert nesting_depth("[" * 30_000 + "]" * 30_000) == 30_000


def test_the_limit_refuses_only_deeper_documents():
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert not too_deep(at_limit)
    assert too_deep("[" + at_limit + "]")
    assert too_deep("[" * 40_000)  # unclosed: measured all the same (the parser then says it is not JSON)


def test_counting_stops_once_past_the_limit():
    assert nesting_depth("[" * 1000, stop_above=5) == 6
