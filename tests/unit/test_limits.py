"""Limits as data: the default table, rule matching (region, kind, status), per-number overrides and the JSON
configuration document with its strict validation."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from aircall_sms.domain import limits
from aircall_sms.domain.limits import DEFAULT_TABLE, LimitRule, LimitTable, default_for
from aircall_sms.domain.phone import KINDS, PhoneNumber, parse

US_CA_LIMITS = {"hour": 1_000, "day": 10_000, "month": 50_000}
FR_MOBILE_LIMITS = {"hour": 100, "day": 1_000, "month": 10_000}
OTHER_LIMITS = {"hour": 500, "day": 2_000, "month": 20_000}
TOLL_FREE_UNVERIFIED_LIMITS = {"hour": 1_000, "day": 2_000, "week": 6_000, "month": 10_000}


# --- the default table ---


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+14155550123", US_CA_LIMITS),  # US, fixed_line_or_mobile
        ("+12015550123", US_CA_LIMITS),
        ("+18002345678", US_CA_LIMITS),  # US toll-free, status unknown
        ("+15002345678", US_CA_LIMITS),  # US personal number
        ("+16135550123", US_CA_LIMITS),  # CA
        ("+15062345678", US_CA_LIMITS),
        ("+33612345678", FR_MOBILE_LIMITS),  # FR mobile
        ("+33756123456", FR_MOBILE_LIMITS),
        ("+33123456789", OTHER_LIMITS),  # FR fixed line
        ("+33801234567", OTHER_LIMITS),  # FR toll-free
        ("+17872345678", OTHER_LIMITS),  # Puerto Rico is its own region
        ("+447400123456", OTHER_LIMITS),  # GB mobile
        ("+441212345678", OTHER_LIMITS),
        ("+4915123456789", OTHER_LIMITS),
        ("+590690001234", OTHER_LIMITS),  # Guadeloupe mobile: not the "FR" region
        ("+80012345678", OTHER_LIMITS),
    ],
)
def test_default_limits_per_number(e164, expected):
    assert default_for(parse(e164)) == expected


@pytest.mark.parametrize(
    ("e164", "rule"),
    [
        ("+14155550123", "us-ca"),
        ("+16135550123", "us-ca"),
        ("+33612345678", "fr-mobile"),
        ("+33123456789", "default"),
        ("+17872345678", "default"),
    ],
)
def test_the_rule_that_applies_can_be_named(e164, rule):
    assert DEFAULT_TABLE.rule_for(parse(e164)).name == rule


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("region", ["US", "CA"])
def test_every_us_and_canada_kind_gets_the_us_canada_limits(region, kind):
    assert default_for(PhoneNumber("+10000000000", region, kind, 1)) == US_CA_LIMITS


@pytest.mark.parametrize("kind", sorted(set(KINDS) - {"mobile"}))
def test_french_lines_other_than_mobile_get_the_limits_of_every_other_line(kind):
    assert default_for(PhoneNumber("+33000000000", "FR", kind, 33)) == OTHER_LIMITS


@pytest.mark.parametrize("region", ["GB", "DE", "BE", "PR", "GP", "RE", "MC", "001"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_other_line_gets_the_catch_all_limits(region, kind):
    assert default_for(PhoneNumber("+440000000000", region, kind, 44)) == OTHER_LIMITS


@pytest.mark.parametrize("status", ["pending", "PENDING", " pending ", "unverified", "rejected", "in_review", "none"])
@pytest.mark.parametrize("e164", ["+18002345678", "+18772345678", "+18882345678"])
def test_a_us_canada_toll_free_number_awaiting_verification_gets_the_weekly_cap(e164, status):
    assert DEFAULT_TABLE.for_number(parse(e164), status=status) == TOLL_FREE_UNVERIFIED_LIMITS
    assert DEFAULT_TABLE.rule_for(parse(e164), status=status).name == "us-ca-toll-free-unverified"


@pytest.mark.parametrize("status", ["approved", "APPROVED", " Approved "])
def test_a_verified_toll_free_number_gets_the_us_canada_limits(status):
    assert DEFAULT_TABLE.for_number(parse("+18002345678"), status=status) == US_CA_LIMITS


def test_a_toll_free_number_with_an_unknown_status_gets_the_us_canada_limits():
    assert DEFAULT_TABLE.for_number(parse("+18002345678"), status=None) == US_CA_LIMITS


def test_canadian_toll_free_numbers_are_covered_by_the_toll_free_rule():
    number = PhoneNumber("+18002123456", "CA", "toll_free", 1)
    assert DEFAULT_TABLE.for_number(number, status="pending") == TOLL_FREE_UNVERIFIED_LIMITS


@pytest.mark.parametrize("e164", ["+14155550123", "+16135550123"])
def test_a_status_does_not_change_the_limits_of_a_number_that_is_not_toll_free(e164):
    assert DEFAULT_TABLE.for_number(parse(e164), status="pending") == US_CA_LIMITS


@pytest.mark.parametrize("e164", ["+33801234567", "+448001234567"])
def test_a_toll_free_number_outside_the_us_and_canada_ignores_its_status(e164):
    assert DEFAULT_TABLE.for_number(parse(e164), status="pending") == OTHER_LIMITS


def test_the_default_table_ends_with_the_catch_all():
    assert [rule.name for rule in DEFAULT_TABLE.rules] == [
        "us-ca-toll-free-unverified",
        "us-ca",
        "fr-mobile",
        "default",
    ]
    assert DEFAULT_TABLE.rules[-1].is_catch_all


def test_default_for_is_the_default_table_without_status_or_overrides():
    number = parse("+33612345678")
    assert default_for(number) == DEFAULT_TABLE.for_number(number)


def test_limits_come_in_window_order():
    assert list(DEFAULT_TABLE.for_number(parse("+18002345678"), status="pending")) == ["hour", "day", "week", "month"]


# --- overrides ---


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, FR_MOBILE_LIMITS),
        (None, FR_MOBILE_LIMITS),
        ({"hour": 50}, {"hour": 50, "day": 1_000, "month": 10_000}),
        ({"day": 5_000}, {"hour": 100, "day": 5_000, "month": 10_000}),
        ({"week": 3_000}, {"hour": 100, "day": 1_000, "week": 3_000, "month": 10_000}),
        ({"month": 1}, {"hour": 100, "day": 1_000, "month": 1}),
        ({"hour": 1, "day": 2, "week": 3, "month": 4}, {"hour": 1, "day": 2, "week": 3, "month": 4}),
    ],
)
def test_overrides_replace_or_add_windows_for_one_number(overrides, expected):
    assert DEFAULT_TABLE.for_number(parse("+33612345678"), overrides=overrides) == expected


def test_overrides_come_in_window_order():
    limits_ = DEFAULT_TABLE.for_number(parse("+33612345678"), overrides={"week": 7, "hour": 1})
    assert list(limits_) == ["hour", "day", "week", "month"]


def test_overrides_apply_on_top_of_the_status_rule():
    result = DEFAULT_TABLE.for_number(parse("+18002345678"), status="pending", overrides={"week": 4_000})
    assert result == {"hour": 1_000, "day": 2_000, "week": 4_000, "month": 10_000}


def test_overrides_do_not_change_the_table():
    DEFAULT_TABLE.for_number(parse("+33612345678"), overrides={"hour": 1})
    assert default_for(parse("+33612345678")) == FR_MOBILE_LIMITS


def test_the_returned_limits_are_a_fresh_dict():
    result = default_for(parse("+33612345678"))
    result["hour"] = 1
    assert default_for(parse("+33612345678")) == FR_MOBILE_LIMITS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"minute": 10}, "unknown window 'minute'"),
        ({"Hour": 10}, "unknown window 'Hour'"),
        ({"year": 10}, "unknown window"),
        ({"hour": 0}, "positive integer"),
        ({"hour": -1}, "positive integer"),
        ({"hour": 1.5}, "positive integer"),
        ({"hour": 10.0}, "positive integer"),
        ({"hour": "100"}, "positive integer"),
        ({"hour": True}, "positive integer"),
        ({"hour": None}, "positive integer"),
        ({"day": 10, "month": 0}, "overrides.month"),
        ([("hour", 1)], "must be an object"),
    ],
)
def test_invalid_overrides_are_refused(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DEFAULT_TABLE.for_number(parse("+33612345678"), overrides=overrides)


# --- rules ---


def test_a_rule_keeps_its_windows_read_only_and_in_window_order():
    rule = LimitRule(name="custom", windows={"month": 3, "hour": 1})
    assert list(rule.windows) == ["hour", "month"]
    with pytest.raises(TypeError):
        rule.windows["hour"] = 2  # type: ignore[index]


def test_rules_are_frozen_hashable_and_compare_by_value():
    first = LimitRule(name="custom", windows={"hour": 1}, regions=("FR",))
    second = LimitRule(name="custom", windows={"hour": 1}, regions=("FR",))
    assert first == second
    assert hash(first) == hash(second)
    assert first != LimitRule(name="custom", windows={"hour": 2}, regions=("FR",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rule_status", "number_status", "matches"),
    [
        (None, None, True),
        (None, "approved", True),
        (None, "pending", True),
        ("pending", "pending", True),
        ("pending", "PENDING", True),
        ("pending", "approved", False),
        ("pending", None, False),
        ("!approved", "pending", True),
        ("!approved", "rejected", True),
        ("!approved", "approved", False),
        ("!approved", " APPROVED", False),
        ("!approved", None, False),
    ],
)
def test_a_rule_matches_a_status_exactly_or_by_negation(rule_status, number_status, matches):
    rule = LimitRule(name="r", windows={"day": 1}, status=rule_status)
    assert rule.matches(parse("+18002345678"), status=number_status) is matches


@pytest.mark.parametrize(
    ("regions", "kinds", "e164", "matches"),
    [
        ((), (), "+33612345678", True),
        (("FR",), (), "+33612345678", True),
        (("FR",), (), "+33123456789", True),
        (("FR",), ("mobile",), "+33123456789", False),
        (("FR",), ("mobile", "fixed_line"), "+33123456789", True),
        (("US", "CA"), (), "+17872345678", False),
        (("PR",), (), "+17872345678", True),
        ((), ("toll_free",), "+18002345678", True),
        ((), ("toll_free",), "+33801234567", True),
        ((), ("toll_free",), "+33612345678", False),
        (("001",), (), "+80012345678", True),
    ],
)
def test_a_rule_matches_by_region_and_kind(regions, kinds, e164, matches):
    rule = LimitRule(name="r", windows={"day": 1}, regions=regions, kinds=kinds)
    assert rule.matches(parse(e164)) is matches


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "", "windows": {"day": 1}}, "name"),
        ({"name": "Default", "windows": {"day": 1}}, "name"),
        ({"name": "has space", "windows": {"day": 1}}, "name"),
        ({"name": 3, "windows": {"day": 1}}, "name"),
        ({"name": "r", "windows": {}}, "at least one window"),
        ({"name": "r", "windows": {"minute": 1}}, "unknown window 'minute'"),
        ({"name": "r", "windows": {"day": 0}}, "positive integer"),
        ({"name": "r", "windows": {"day": -5}}, "positive integer"),
        ({"name": "r", "windows": {"day": 2.5}}, "positive integer"),
        ({"name": "r", "windows": {"day": False}}, "positive integer"),
        ({"name": "r", "windows": [("day", 1)]}, "window name -> limit"),
        ({"name": "r", "windows": {"day": 1}, "regions": ["FR"]}, "regions must be a tuple"),
        ({"name": "r", "windows": {"day": 1}, "regions": "FR"}, "regions must be a tuple"),
        ({"name": "r", "windows": {"day": 1}, "regions": ("fr",)}, "unknown regions ['fr']"),
        ({"name": "r", "windows": {"day": 1}, "regions": ("FRA",)}, "unknown regions ['FRA']"),
        ({"name": "r", "windows": {"day": 1}, "regions": ("FR", 33)}, "unknown regions [33]"),
        ({"name": "r", "windows": {"day": 1}, "regions": ("FR", "FR")}, "twice"),
        ({"name": "r", "windows": {"day": 1}, "kinds": ("cell",)}, "unknown kinds ['cell']"),
        ({"name": "r", "windows": {"day": 1}, "kinds": ("Mobile",)}, "unknown kinds ['Mobile']"),
        ({"name": "r", "windows": {"day": 1}, "kinds": ["mobile"]}, "kinds must be a tuple"),
        ({"name": "r", "windows": {"day": 1}, "kinds": ("mobile", "mobile")}, "twice"),
        ({"name": "r", "windows": {"day": 1}, "status": ""}, "status"),
        ({"name": "r", "windows": {"day": 1}, "status": "!"}, "status"),
        ({"name": "r", "windows": {"day": 1}, "status": "Approved"}, "status"),
        ({"name": "r", "windows": {"day": 1}, "status": "not approved"}, "status"),
        ({"name": "r", "windows": {"day": 1}, "status": 1}, "status"),
    ],
)
def test_an_invalid_rule_is_refused(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LimitRule(**arguments)


# --- tables ---


CATCH_ALL = LimitRule(name="default", windows={"day": 10})
FRENCH = LimitRule(name="fr", regions=("FR",), windows={"day": 5})


def test_the_first_matching_rule_wins():
    table = LimitTable((FRENCH, LimitRule(name="fr-too", regions=("FR",), windows={"day": 7}), CATCH_ALL))
    assert table.for_number(parse("+33612345678")) == {"day": 5}
    assert table.for_number(parse("+14155550123")) == {"day": 10}


def test_a_table_of_only_the_catch_all_applies_it_to_everyone():
    table = LimitTable((CATCH_ALL,))
    assert table.for_number(parse("+33612345678")) == {"day": 10}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ((), "at least one rule"),
        ((FRENCH,), "missing catch-all"),
        ((CATCH_ALL, FRENCH), "missing catch-all"),
        ((CATCH_ALL, LimitRule(name="other", windows={"hour": 1})), "only the last rule"),
        ((FRENCH, LimitRule(name="fr", windows={"day": 1})), "unique"),
        ((FRENCH, {"name": "default"}), "LimitRule"),
        ([FRENCH, CATCH_ALL], "at least one rule"),
        ((LimitRule(name="s", status="pending", windows={"day": 1}),), "missing catch-all"),
    ],
)
def test_an_invalid_table_is_refused(rules, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LimitTable(rules)


# --- the JSON configuration document ---


def test_the_default_table_round_trips_through_json():
    assert LimitTable.from_json(DEFAULT_TABLE.to_json()) == DEFAULT_TABLE


def test_the_example_document_in_the_module_docstring_is_the_default_table():
    docstring = limits.__doc__ or ""
    example = docstring[docstring.index("    {\n") : docstring.index("\n    }\n") + 6]
    assert LimitTable.from_json(example) == DEFAULT_TABLE


def test_the_json_document_leaves_out_empty_matchers():
    document = json.loads(DEFAULT_TABLE.to_json())
    assert document["rules"][-1] == {"name": "default", "windows": {"hour": 500, "day": 2000, "month": 20000}}
    assert document["rules"][0] == {
        "name": "us-ca-toll-free-unverified",
        "regions": ["US", "CA"],
        "kinds": ["toll_free"],
        "status": "!approved",
        "windows": {"hour": 1000, "day": 2000, "week": 6000, "month": 10000},
    }


def test_a_deployment_document_with_a_weekly_cap_and_a_status_rule_is_read():
    # Given a deployment that caps British mobiles weekly and pending numbers everywhere
    document = json.dumps(
        {
            "rules": [
                {"name": "pending", "status": "pending", "windows": {"day": 10}},
                {"name": "gb-mobile", "regions": ["GB"], "kinds": ["mobile"], "windows": {"week": 700, "hour": 50}},
                {"name": "default", "regions": [], "kinds": [], "status": None, "windows": {"month": 1000}},
            ]
        }
    )
    # When read
    table = LimitTable.from_json(document)
    # Then each number gets its rule
    assert table.for_number(parse("+447400123456")) == {"hour": 50, "week": 700}
    assert table.for_number(parse("+447400123456"), status="pending") == {"day": 10}
    assert table.for_number(parse("+441212345678")) == {"month": 1000}


def test_bytes_are_read_like_text():
    assert LimitTable.from_json(DEFAULT_TABLE.to_json().encode()) == DEFAULT_TABLE  # type: ignore[arg-type]


def rules_document(*rules: object) -> str:
    return json.dumps({"rules": list(rules)})


DEFAULT_RULE = {"name": "default", "windows": {"hour": 500}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("{'rules': []}", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ("null", "must be a JSON object"),
        ('"rules"', "must be a JSON object"),
        ("{}", '"rules" must be a non-empty list'),
        ('{"rules": []}', '"rules" must be a non-empty list'),
        ('{"rules": {}}', '"rules" must be a non-empty list'),
        ('{"rules": [], "version": 2}', "unknown keys in the limits document: ['version']"),
        (rules_document([DEFAULT_RULE]), "rules[0]: a rule must be an object"),
        (rules_document("default"), "rules[0]: a rule must be an object"),
        (rules_document({**DEFAULT_RULE, "limit": 3}), "rules[0]: unknown keys ['limit']"),
        (rules_document({"windows": {"day": 1}}), "rules[0]: a rule needs a string name"),
        (rules_document({"name": 7, "windows": {"day": 1}}), "rules[0]: a rule needs a string name"),
        (rules_document({"name": "Default", "windows": {"day": 1}}), "rules[0]"),
        (rules_document({"name": "default"}), "rules[0] ('default'): a rule needs windows"),
        (rules_document({"name": "default", "windows": []}), "rules[0].windows: must be an object"),
        (rules_document({"name": "default", "windows": {"minute": 1}}), "rules[0].windows: unknown window 'minute'"),
        (rules_document({"name": "default", "windows": {}}), "at least one window"),
        (rules_document({"name": "default", "windows": {"minute": 60}}), "unknown window 'minute'"),
        (rules_document({"name": "default", "windows": {"quarter": 60}}), "unknown window 'quarter'"),
        (
            rules_document({"name": "default", "windows": {"day": 0}}),
            "rules[0].windows.day: the limit must be a positive",
        ),
        (rules_document({"name": "default", "windows": {"day": -1}}), "positive integer, not -1"),
        (rules_document({"name": "default", "windows": {"day": 1.5}}), "positive integer, not 1.5"),
        (rules_document({"name": "default", "windows": {"day": 100.0}}), "positive integer, not 100.0"),
        (rules_document({"name": "default", "windows": {"day": "100"}}), "positive integer, not '100'"),
        (rules_document({"name": "default", "windows": {"day": True}}), "positive integer, not True"),
        (rules_document({"name": "default", "windows": {"day": None}}), "positive integer, not None"),
        ('{"rules": [{"name": "default", "windows": {"day": 1e3}}]}', "positive integer"),
        ('{"rules": [{"name": "default", "windows": {"day": NaN}}]}', "positive integer"),
        ('{"rules": [{"name": "default", "windows": {"day": Infinity}}]}', "positive integer"),
        (rules_document({"name": "us", "regions": "US", "windows": {"day": 1}}, DEFAULT_RULE), "rules[0] ('us')"),
        (rules_document({"name": "us", "regions": [1], "windows": {"day": 1}}, DEFAULT_RULE), "list of strings"),
        (
            rules_document({"name": "us", "regions": ["usa"], "windows": {"day": 1}}, DEFAULT_RULE),
            "rules[0]: rule 'us': unknown regions ['usa']",
        ),
        (rules_document({"name": "m", "kinds": "mobile", "windows": {"day": 1}}, DEFAULT_RULE), "list of strings"),
        (
            rules_document({"name": "m", "kinds": ["cellular"], "windows": {"day": 1}}, DEFAULT_RULE),
            "unknown kinds ['cellular']",
        ),
        (rules_document({"name": "s", "status": 1, "windows": {"day": 1}}, DEFAULT_RULE), "string or null"),
        (rules_document({"name": "s", "status": ["a"], "windows": {"day": 1}}, DEFAULT_RULE), "string or null"),
        (rules_document({"name": "s", "status": "Not Approved", "windows": {"day": 1}}, DEFAULT_RULE), "status"),
        (rules_document({"name": "fr", "regions": ["FR"], "windows": {"day": 1}}), "missing catch-all"),
        (rules_document({"name": "s", "status": "pending", "windows": {"day": 1}}), "missing catch-all"),
        (rules_document({"name": "k", "kinds": ["mobile"], "windows": {"day": 1}}), "missing catch-all"),
        (rules_document(DEFAULT_RULE, {"name": "fr", "regions": ["FR"], "windows": {"day": 1}}), "missing catch-all"),
        (rules_document(DEFAULT_RULE, {"name": "other", "windows": {"day": 1}}), "only the last rule"),
        (rules_document({**DEFAULT_RULE, "regions": ["FR"]}, DEFAULT_RULE), "unique"),
        ('{"rules": [], "rules": []}', "repeats the key 'rules'"),
        ('{"rules": [{"name": "default", "windows": {"day": 1, "day": 2}}]}', "repeats the key 'day'"),
    ],
)
def test_an_invalid_document_is_refused_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LimitTable.from_json(text)


@pytest.mark.parametrize("value", [None, 3, {"rules": []}])
def test_something_else_than_json_text_is_refused(value):
    with pytest.raises(ValueError, match="JSON text"):
        LimitTable.from_json(value)
