"""Per-number segment limits as data: an ordered table of rules, each matching sender numbers by region, line
kind and registration status and giving a cap per quota window (see `aircall_sms.domain.windows`). The first rule that
matches wins; the last rule matches every number. Aircall may change its limits without notice, so a
deployment can replace the default table with a JSON document and override single windows per number.

The default table (Aircall's published limits, counted in outgoing segments):

    rule                          matches                                    hour   day     week   month
    us-ca-toll-free-unverified    US/CA toll-free, status other than         1,000  2,000   6,000  10,000
                                  "approved" (verification pending)
    us-ca                         US and CA numbers                          1,000  10,000  -      50,000
    fr-mobile                     French mobile lines                        100    1,000   -      10,000
    default                       every other line                           500    2,000   -      20,000

The configuration document (`LimitTable.from_json` / `to_json`):

    {
      "rules": [
        {
          "name": "us-ca-toll-free-unverified",
          "regions": ["US", "CA"],
          "kinds": ["toll_free"],
          "status": "!approved",
          "windows": {"hour": 1000, "day": 2000, "week": 6000, "month": 10000}
        },
        {"name": "us-ca", "regions": ["US", "CA"], "windows": {"hour": 1000, "day": 10000, "month": 50000}},
        {"name": "fr-mobile", "regions": ["FR"], "kinds": ["mobile"],
         "windows": {"hour": 100, "day": 1000, "month": 10000}},
        {"name": "default", "windows": {"hour": 500, "day": 2000, "month": 20000}}
      ]
    }

- `name` (required): unique, lower-case letters, digits, '-' and '_'.
- `regions` (optional, empty or absent = any): regions as phonenumbers reports them ("US", "FR", "001").
- `kinds` (optional, empty or absent = any): line kinds from `aircall_sms.domain.phone.KINDS` ("mobile", "toll_free").
- `status` (optional, absent or null = any): the number's registration/verification status must equal it;
  with a leading "!" it must be known and differ from it. A number whose status is not given matches no rule
  that has a status.
- `windows` (required, not empty): window name ("hour", "day", "week", "month") -> a positive integer of segments.
  A window a rule leaves out is not capped for the numbers it matches.
- The last rule must have no `regions`, `kinds` or `status` (the catch-all), and only the last one.
Anything else (unknown keys, windows or kinds, limits that are not positive integers, duplicate keys or
names) is rejected with a ValueError that says where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aircall_sms.domain.phone import KINDS, PhoneNumber
from aircall_sms.domain.windows import WINDOWS

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_REGION = re.compile(r"[A-Z]{2}|[0-9]{3}")
_STATUS = re.compile(r"!?[a-z0-9][a-z0-9_-]*")
_RULE_KEYS = frozenset({"name", "regions", "kinds", "status", "windows"})


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _checked_windows(windows: object, where: str) -> dict[str, int]:
    """`windows` as a dict in WINDOWS order, or ValueError naming `where`."""
    if not isinstance(windows, Mapping):
        raise ValueError(f"{where}: must be an object of window name -> limit")
    for window, limit in windows.items():
        if window not in WINDOWS:
            raise ValueError(f"{where}: unknown window {window!r} (expected {', '.join(WINDOWS)})")
        if not _is_positive_int(limit):
            raise ValueError(f"{where}.{window}: the limit must be a positive integer, not {limit!r}")
    return {window: windows[window] for window in WINDOWS if window in windows}


def _check_matcher(where: str, label: str, values: object, known: Callable[[str], bool], expected: str) -> None:
    if not isinstance(values, tuple):
        raise ValueError(f"{where}: {label} must be a tuple of strings, not {values!r}")
    unknown = [value for value in values if not isinstance(value, str) or not known(value)]
    if unknown:
        raise ValueError(f"{where}: unknown {label} {unknown!r} (expected {expected})")
    if len(set(values)) != len(values):
        raise ValueError(f"{where}: {label} lists a value twice")


@dataclass(frozen=True, slots=True)
class LimitRule:
    """Caps per window for the numbers it matches: `regions` and `kinds` (empty = any), `status` (None = any;
    "x" = status x; "!x" = a known status other than x)."""

    name: str
    windows: Mapping[str, int] = field(hash=False)
    regions: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    status: str | None = None

    def __post_init__(self) -> None:
        where = f"rule {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"{where}: the name must be lower-case letters, digits, '-' or '_'")
        windows = _checked_windows(self.windows, f"{where}: windows")
        if not windows:
            raise ValueError(f"{where}: windows must name at least one window")
        object.__setattr__(self, "windows", MappingProxyType(windows))
        _check_matcher(
            where, "regions", self.regions, lambda value: bool(_REGION.fullmatch(value)), "codes such as 'US' or '001'"
        )
        _check_matcher(where, "kinds", self.kinds, lambda value: value in KINDS, ", ".join(KINDS))
        if self.status is not None and (not isinstance(self.status, str) or not _STATUS.fullmatch(self.status)):
            raise ValueError(f"{where}: status must be a lower-case word, optionally negated with '!'")

    @property
    def is_catch_all(self) -> bool:
        return not self.regions and not self.kinds and self.status is None

    def matches(self, number: PhoneNumber, *, status: str | None = None) -> bool:
        if self.regions and number.region not in self.regions:
            return False
        if self.kinds and number.kind not in self.kinds:
            return False
        if self.status is None:
            return True
        if status is None:
            return False
        given = status.strip().lower()
        return given != self.status[1:] if self.status.startswith("!") else given == self.status

    def to_dict(self) -> dict[str, object]:
        document: dict[str, object] = {"name": self.name}
        if self.regions:
            document["regions"] = list(self.regions)
        if self.kinds:
            document["kinds"] = list(self.kinds)
        if self.status is not None:
            document["status"] = self.status
        document["windows"] = dict(self.windows)
        return document


@dataclass(frozen=True, slots=True)
class LimitTable:
    """Ordered rules; the first that matches a number wins and the last one (the catch-all) matches all."""

    rules: tuple[LimitRule, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.rules, tuple) or not self.rules:
            raise ValueError("a limit table needs at least one rule (the catch-all)")
        if not all(isinstance(rule, LimitRule) for rule in self.rules):
            raise ValueError("a limit table holds LimitRule values only")
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique: {names}")
        if not self.rules[-1].is_catch_all:
            raise ValueError(
                f"missing catch-all: the last rule ({self.rules[-1].name!r}) must have no regions, kinds or status"
            )
        for rule in self.rules[:-1]:
            if rule.is_catch_all:
                raise ValueError(f"rule {rule.name!r} matches every number: only the last rule may be the catch-all")

    def rule_for(self, number: PhoneNumber, *, status: str | None = None) -> LimitRule:
        """The first rule that matches `number` (with its registration `status`, when known)."""
        return next(rule for rule in self.rules if rule.matches(number, status=status))

    def for_number(
        self,
        number: PhoneNumber,
        *,
        status: str | None = None,
        overrides: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        """Window name -> segments for `number`: its rule's windows, replaced or completed by the number's own
        `overrides` (known windows, positive integers)."""
        limits = dict(self.rule_for(number, status=status).windows)
        if overrides:
            limits.update(_checked_windows(overrides, "overrides"))
        return {window: limits[window] for window in WINDOWS if window in limits}

    def to_dict(self) -> dict[str, object]:
        return {"rules": [rule.to_dict() for rule in self.rules]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LimitTable:
        """Read and validate a configuration document (format in the module docstring)."""
        if not isinstance(text, str | bytes | bytearray):
            raise ValueError("the limits document must be JSON text")
        try:
            document = json.loads(text, object_pairs_hook=reject_duplicate_keys("the limits document"))
        except json.JSONDecodeError as error:
            raise ValueError(f"the limits document is not valid JSON: {error}") from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: object) -> LimitTable:
        if not isinstance(document, dict):
            raise ValueError('the limits document must be a JSON object with a "rules" list')
        unknown = set(document) - {"rules"}
        if unknown:
            raise ValueError(f"unknown keys in the limits document: {sorted(unknown)}")
        rules = document.get("rules")
        if not isinstance(rules, list) or not rules:
            raise ValueError('"rules" must be a non-empty list, ending with the catch-all rule')
        return cls(tuple(_rule_from_dict(entry, f"rules[{index}]") for index, entry in enumerate(rules)))


def reject_duplicate_keys(what: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A `json.loads` object hook that refuses a key given twice in one object (JSON keeps the last silently),
    naming `what` (e.g. "the limits document") in its error."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name, value in pairs:
            if name in document:
                raise ValueError(f"{what} repeats the key {name!r}")
            document[name] = value
        return document

    return hook


def _rule_from_dict(entry: object, where: str) -> LimitRule:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: a rule must be an object")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (expected {sorted(_RULE_KEYS)})")
    name = entry.get("name")
    if not isinstance(name, str):
        raise ValueError(f"{where}: a rule needs a string name")
    if "windows" not in entry:
        raise ValueError(f"{where} ({name!r}): a rule needs windows")
    matchers: dict[str, tuple[str, ...]] = {}
    for label in ("regions", "kinds"):
        values = entry.get(label, [])
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise ValueError(f"{where} ({name!r}): {label} must be a list of strings")
        matchers[label] = tuple(values)
    status = entry.get("status")
    if status is not None and not isinstance(status, str):
        raise ValueError(f"{where} ({name!r}): status must be a string or null")
    windows = _checked_windows(entry["windows"], f"{where}.windows")
    try:
        return LimitRule(
            name=name,
            windows=windows,
            regions=matchers["regions"],
            kinds=matchers["kinds"],
            status=status,
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


US_CA = ("US", "CA")

DEFAULT_TABLE = LimitTable(
    (
        # Aircall: US/CA toll-free numbers awaiting verification, to the US: 2,000/day, 6,000/week,
        # 10,000/month (to Canada they are blocked); the hourly US/CA cap still applies.
        LimitRule(
            name="us-ca-toll-free-unverified",
            regions=US_CA,
            kinds=("toll_free",),
            status="!approved",
            windows={"hour": 1_000, "day": 2_000, "week": 6_000, "month": 10_000},
        ),
        LimitRule(name="us-ca", regions=US_CA, windows={"hour": 1_000, "day": 10_000, "month": 50_000}),
        LimitRule(
            name="fr-mobile", regions=("FR",), kinds=("mobile",), windows={"hour": 100, "day": 1_000, "month": 10_000}
        ),
        LimitRule(name="default", windows={"hour": 500, "day": 2_000, "month": 20_000}),
    )
)


def default_for(number: PhoneNumber) -> dict[str, int]:
    """Window name -> segments for `number` under the default table (registration status unknown)."""
    return DEFAULT_TABLE.for_number(number)
