"""The price table of the usage report: a price per segment by country and direction, validated like the limit
table (every mistake named where it is), with "*" for every other country."""

from decimal import Decimal

import pytest

from aircall_sms.domain.prices import PriceTable

SAMPLE = """{"currency": "EUR", "countries": {
  "FR": {"outbound": 0.0725, "inbound": 0},
  "US": {"outbound": 0.0079},
  "*": {"outbound": 0.09, "inbound": 0.01}}}"""


def test_a_country_has_its_own_price_per_direction():
    table = PriceTable.from_json(SAMPLE)

    assert table.currency == "EUR"
    assert table.price("FR", "outbound") == Decimal("0.0725")
    assert table.price("FR", "inbound") == 0


def test_a_direction_a_country_leaves_out_and_other_countries_take_the_star_entry():
    table = PriceTable.from_json(SAMPLE)

    assert table.price("US", "inbound") == Decimal("0.01")
    assert table.price("DE", "outbound") == Decimal("0.09")


def test_without_a_star_entry_an_unlisted_country_has_no_price():
    table = PriceTable.from_json('{"currency": "USD", "countries": {"US": {"outbound": 1}}}')

    assert table.price("CA", "outbound") is None
    assert table.price("US", "inbound") is None


def test_prices_keep_their_decimals_exactly():
    table = PriceTable.from_json('{"currency": "USD", "countries": {"US": {"outbound": 0.000001}}}')

    price = table.price("US", "outbound")
    assert price is not None
    assert price * 3 == Decimal("0.000003")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": 1}}, "vat": 20}', "unknown keys"),
        ('{"countries": {"FR": {"outbound": 1}}}', "currency"),
        ('{"currency": "eur", "countries": {"FR": {"outbound": 1}}}', "currency"),
        ('{"currency": "EUR", "countries": {}}', "countries"),
        ('{"currency": "EUR", "countries": {"France": {"outbound": 1}}}', "countries.France"),
        ('{"currency": "EUR", "countries": {"FR": {}}}', "countries.FR"),
        ('{"currency": "EUR", "countries": {"FR": {"out": 1}}}', "countries.FR: unknown keys"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": -0.01}}}', "countries.FR.outbound: a price is 0"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": "0.07"}}}', "countries.FR.outbound: a price is a"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": true}}}', "countries.FR.outbound"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": NaN}}}', "countries.FR.outbound"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": 0.0000001}}}', "at most 6 decimals"),
        ('{"currency": "EUR", "countries": {"FR": {"outbound": 1}, "FR": {"inbound": 1}}}', "repeats the key"),
    ],
)
def test_a_malformed_table_is_refused_naming_the_place(document, message):
    with pytest.raises(ValueError, match=message):
        PriceTable.from_json(document)
