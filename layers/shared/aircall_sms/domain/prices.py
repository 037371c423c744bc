"""The price table of the usage report (GET /usage): a price per segment by country and direction, as data.

Aircall bills API messages at the apps' per-segment price, which depends on the country and, for some countries,
on the direction (US/CA outbound has been charged since Q4 2024). The gateway has no way to ask Aircall for it,
so a deployment states its own prices (`PriceTableJson`); without one the report carries no cost estimate.

The configuration document (`PriceTable.from_json`):

    {
      "currency": "EUR",
      "countries": {
        "FR": {"outbound": 0.0725, "inbound": 0},
        "US": {"outbound": 0.0079, "inbound": 0.0079},
        "CA": {"outbound": 0.0079, "inbound": 0.0079},
        "*": {"outbound": 0.09}
      }
    }

- `currency` (required): an ISO 4217 code, three capital letters; every price is in it.
- `countries` (required, not empty): a region as phonenumbers names it ("FR", "US", "001") or "*" (every other
  country) -> `{"outbound"?, "inbound"?}`, each a price per segment: a number, 0 or more, at most 6 decimals.
- A segment's country is the contact's (the destination of an outbound message, the origin of an inbound one).
  Its price is the country's for that direction, else the "*" entry's for that direction; a segment with
  neither is *unpriced* (counted in the report, never guessed).
Anything else (unknown keys, negative, non-numeric or over-precise prices, duplicate keys) is rejected with a
ValueError that says where.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from aircall_sms.domain.limits import reject_duplicate_keys

DIRECTIONS = ("outbound", "inbound")
EVERY_COUNTRY = "*"
_CURRENCY = re.compile(r"[A-Z]{3}")
_REGION = re.compile(r"[A-Z]{2}|[0-9]{3}")
_DOCUMENT_KEYS = frozenset({"currency", "countries"})
_MAX_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class PriceTable:
    """`prices[country][direction]` per segment in `currency` ("*": every other country)."""

    currency: str
    prices: MappingProxyType[str, MappingProxyType[str, Decimal]]

    def price(self, country: str, direction: str) -> Decimal | None:
        """The price of one segment to/from `country` in `direction`; None when the table has none."""
        for key in (country, EVERY_COUNTRY):
            entry = self.prices.get(key)
            found = entry.get(direction) if entry is not None else None
            if found is not None:
                return found
        return None

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        """Read and validate a configuration document (format in the module docstring)."""
        try:
            document = json.loads(text, object_pairs_hook=reject_duplicate_keys("the price table"), parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise ValueError(f"the price table is not valid JSON: {error}") from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: object) -> PriceTable:
        if not isinstance(document, dict):
            raise ValueError('the price table must be a JSON object with "currency" and "countries"')
        unknown = set(document) - _DOCUMENT_KEYS
        if unknown:
            raise ValueError(f"unknown keys in the price table: {sorted(unknown)}")
        currency = document.get("currency")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise ValueError(f"currency: an ISO 4217 code of three capital letters, not {currency!r}")
        countries = document.get("countries")
        if not isinstance(countries, dict) or not countries:
            raise ValueError('countries: a non-empty object of country -> {"outbound", "inbound"}')
        prices = {country: MappingProxyType(_checked_prices(country, entry)) for country, entry in countries.items()}
        return cls(currency=currency, prices=MappingProxyType(prices))


def _checked_prices(country: object, entry: object) -> dict[str, Decimal]:
    where = f"countries.{country}"
    if not isinstance(country, str) or not (country == EVERY_COUNTRY or _REGION.fullmatch(country)):
        raise ValueError(f"{where}: a country is a region code (FR, US, 001) or {EVERY_COUNTRY!r}")
    if not isinstance(entry, dict) or not entry:
        raise ValueError(f'{where}: an object with "outbound" and/or "inbound" prices')
    unknown = set(entry) - set(DIRECTIONS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (expected {list(DIRECTIONS)})")
    return {direction: _checked_price(f"{where}.{direction}", entry[direction]) for direction in entry}


def _checked_price(where: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{where}: a price is a number, not {value!r}")
    price = Decimal(value)
    if not price.is_finite() or price < 0:
        raise ValueError(f"{where}: a price is 0 or more, not {value}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_DECIMALS:
        raise ValueError(f"{where}: at most {_MAX_DECIMALS} decimals, not {value}")
    return price
