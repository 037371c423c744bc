"""Lambda's event filtering as the local stack's stream pollers apply it (`FilterCriteria`): which records reach
the function, the template's MediaFunction filter included, and that a pattern the stack cannot reproduce is
refused instead of matching everything (the template reader names the event then)."""

from __future__ import annotations

import pytest

from local_stack.event_filter import matches, matches_any, parse_patterns
from local_stack.template import stream_sources
from tests.support import ROOT


def record(event_name: str, **new_image: dict[str, str]) -> dict[str, object]:
    return {"eventName": event_name, "dynamodb": {"NewImage": new_image, "Keys": {"id": {"S": "m"}}}}


def test_the_media_functions_filter_lets_only_new_messages_with_pending_media_through():
    [source] = [source for source in stream_sources(ROOT / "template.yaml") if source.function_id == "MediaFunction"]
    patterns = source.filter_patterns
    assert matches_any(record("INSERT", media_status={"S": "pending"}), patterns)
    assert not matches_any(record("INSERT"), patterns)  # no media
    assert not matches_any(record("MODIFY", media_status={"S": "pending"}), patterns)  # an attempt counted
    assert not matches_any(record("INSERT", media_status={"S": "stored"}), patterns)
    assert not matches_any({"eventName": "REMOVE", "dynamodb": {"Keys": {}}}, patterns)
    # The other stream functions have no filter: every record reaches them.
    assert all(
        not s.filter_patterns for s in stream_sources(ROOT / "template.yaml") if s.function_id != "MediaFunction"
    )


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": ["x", "y"]}, {"a": "y"}, True),
        ({"a": ["x"]}, {"a": "z"}, False),
        ({"a": ["x"]}, {}, False),
        ({"a": [1]}, {"a": 1}, True),
        ({"a": ["x"]}, {"a": ["z", "x"]}, True),  # a list value: any of its items
        ({"a": {"b": ["x"]}}, {"a": {"b": "x"}}, True),
        ({"a": {"b": ["x"]}}, {"a": "x"}, False),
        ({"a": [{"exists": True}]}, {"a": "anything"}, True),
        ({"a": [{"exists": False}]}, {"a": "anything"}, False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"prefix": "pen"}]}, {"a": "pending"}, True),
        ({"a": [{"prefix": "pen"}]}, {"a": "stored"}, False),
        ({"a": [{"anything-but": ["stored"]}]}, {"a": "pending"}, True),
        ({"a": [{"anything-but": "stored"}]}, {"a": "stored"}, False),
    ],
)
def test_patterns_match_as_lambdas_do(pattern, event, expected):
    assert matches(event, pattern) is expected


def test_several_filters_are_alternatives_and_none_lets_everything_through():
    patterns = parse_patterns({"Filters": [{"Pattern": '{"a": ["x"]}'}, {"Pattern": '{"b": ["y"]}'}]})
    assert matches_any({"b": "y"}, patterns) and not matches_any({"c": "z"}, patterns)
    assert matches_any({"c": "z"}, parse_patterns(None))


@pytest.mark.parametrize(
    "criteria",
    [
        {"Filters": [{"Pattern": '{"a": [{"numeric": [">", 1]}]}'}]},
        {"Filters": [{"Pattern": '{"a": "x"}'}]},
        {"Filters": [{"Pattern": '["x"]'}]},
    ],
)
def test_a_pattern_the_stack_cannot_reproduce_is_refused(criteria):
    with pytest.raises(ValueError, match=r"."):
        parse_patterns(criteria)
