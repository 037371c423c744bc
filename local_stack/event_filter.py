"""Lambda's event filtering (an event source mapping's `FilterCriteria`), for the local stack's stream pollers: a
record is handed to the function only when it matches one of the filters' patterns, as on AWS, where the others
are dropped before any invocation (and cost nothing).

A pattern is JSON, the rules of EventBridge's patterns that Lambda applies: each key of the pattern must be in the
record; a nested object matches the record's nested object; a list matches when the record's value (or one of
the items, when the value is a list) equals one of its scalars or satisfies one of its operators: `{"exists":
true|false}`, `{"prefix": "..."}`, `{"anything-but": value | [values]}`. Any other operator is refused
(`ValueError`) rather than silently matched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()


def parse_patterns(filter_criteria: object) -> tuple[dict[str, Any], ...]:
    """The patterns of a template's `FilterCriteria` (`{"Filters": [{"Pattern": "<json>"}]}`); () for none."""
    if not filter_criteria:
        return ()
    if not isinstance(filter_criteria, Mapping):
        raise ValueError("FilterCriteria must be an object with Filters")
    patterns: list[dict[str, Any]] = []
    for item in filter_criteria.get("Filters") or []:
        raw = item.get("Pattern") if isinstance(item, Mapping) else None
        pattern = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(pattern, dict):
            raise ValueError(f"a filter's Pattern must be a JSON object, not {raw!r}")
        _check(pattern)
        patterns.append(pattern)
    return tuple(patterns)


def matches_any(record: Mapping[str, Any], patterns: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the record passes the filters (no filter: every record does)."""
    return not patterns or any(matches(record, pattern) for pattern in patterns)


def matches(event: Any, pattern: Mapping[str, Any]) -> bool:
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(expected, Mapping):
            if value is _MISSING or not matches(value, expected):
                return False
        elif not _value_matches(value, expected):
            return False
    return True


def _value_matches(value: Any, rules: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, Mapping):
            ((operator, argument),) = rule.items()
            if operator == "exists":
                if (value is not _MISSING) == bool(argument):
                    return True
                continue
            if value is _MISSING:
                continue
            if operator == "prefix" and any(isinstance(item, str) and item.startswith(argument) for item in values):
                return True
            if operator == "anything-but":
                excluded = argument if isinstance(argument, list) else [argument]
                if any(item not in excluded for item in values):
                    return True
            continue
        if value is not _MISSING and any(item == rule for item in values):
            return True
    return False


def _check(pattern: Mapping[str, Any]) -> None:
    for key, expected in pattern.items():
        if isinstance(expected, Mapping):
            _check(expected)
        elif not isinstance(expected, list):
            raise ValueError(f"pattern key {key!r}: a list of values or an object, not {expected!r}")
        else:
            for rule in expected:
                if isinstance(rule, Mapping) and (len(rule) != 1 or next(iter(rule)) not in _OPERATORS):
                    raise ValueError(f"pattern key {key!r}: operator {rule!r} is not reproduced locally")


_OPERATORS = frozenset({"exists", "prefix", "anything-but"})
