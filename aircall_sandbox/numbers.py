"""Aircall numbers: the seed set (`numbers.json`), extra numbers from files or controls, and their JSON.

A number is stored in Aircall's own shape (display `digits` such as "+1 424-416-2288") plus the sandbox's
`sms_enabled` / `mms_enabled` flags. Its E.164 form and its limit kind (US/CA, French mobile, other) are
derived once with phonenumbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import phonenumbers

from aircall_sandbox.config import NumberKind

# Aircall number fields the sandbox fills in when a numbers file leaves them out.
_DEFAULT_FIELDS: dict[str, Any] = {
    "time_zone": "Etc/UTC",
    "open": True,
    "availability_status": "open",
    "is_ivr": False,
    "live_recording_activated": False,
    "priority": None,
    "created_at": "2024-01-01T00:00:00.000Z",
    "messages": {},
    "sms_enabled": True,
    "mms_enabled": False,
}


class NumberDefinitionError(ValueError):
    """A number definition (seed, file or control) is not usable."""


@dataclass(frozen=True)
class AircallNumber:
    id: int
    e164: str
    kind: NumberKind
    fields: Mapping[str, Any]  # Aircall's number fields, without `direct_link`

    @property
    def name(self) -> str:
        return str(self.fields["name"])

    @property
    def digits(self) -> str:
        return str(self.fields["digits"])

    @property
    def country(self) -> str:
        return str(self.fields["country"])

    @property
    def sms_enabled(self) -> bool:
        return bool(self.fields["sms_enabled"])

    @property
    def mms_enabled(self) -> bool:
        return bool(self.fields["mms_enabled"])

    def direct_link(self, base_url: str) -> str:
        return f"{base_url}/v1/numbers/{self.id}"

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The number as `GET /v1/numbers/{id}` shows it."""
        return {"id": self.id, "direct_link": self.direct_link(base_url), **self.fields}

    def summary_json(self, base_url: str) -> dict[str, Any]:
        """The short form embedded in message objects."""
        return {
            "id": self.id,
            "direct_link": self.direct_link(base_url),
            "name": self.name,
            "digits": self.digits,
            "country": self.country,
        }


def number_from_definition(definition: Mapping[str, Any]) -> AircallNumber:
    """Build a number from Aircall-shaped JSON; `id`, `name` and `digits` are required."""
    number_id = definition.get("id")
    if not isinstance(number_id, int) or isinstance(number_id, bool) or number_id <= 0:
        raise NumberDefinitionError(f"number id must be a positive integer, got {number_id!r}")
    name = definition.get("name")
    digits = definition.get("digits")
    if not isinstance(name, str) or not name:
        raise NumberDefinitionError(f"number {number_id}: name must be a non-empty string")
    if not isinstance(digits, str):
        raise NumberDefinitionError(f"number {number_id}: digits must be a string such as '+1 424-416-2288'")
    try:
        parsed = phonenumbers.parse(digits, None)
    except phonenumbers.NumberParseException as exc:
        raise NumberDefinitionError(f"number {number_id}: digits {digits!r} are not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise NumberDefinitionError(f"number {number_id}: digits {digits!r} are not a valid phone number")
    region = phonenumbers.region_code_for_number(parsed)
    display = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    # Aircall's field order: name, digits and country first; later updates keep these positions.
    fields: dict[str, Any] = {"name": name, "digits": display, "country": region}
    fields |= _DEFAULT_FIELDS | dict(definition)
    fields["digits"] = display
    fields.pop("id")
    fields.pop("direct_link", None)
    return AircallNumber(
        id=number_id,
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        kind=_limit_kind(parsed, region),
        fields=fields,
    )


def _limit_kind(parsed: phonenumbers.PhoneNumber, region: str | None) -> NumberKind:
    if region in ("US", "CA"):
        return "us_ca"
    if region == "FR" and phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE:
        return "fr_mobile"
    return "other"


def numbers_from_json(document: object) -> list[AircallNumber]:
    """Read `{"numbers": [...]}` (the shape of `numbers.json` and `GET /v1/numbers`), a list, or one number."""
    if isinstance(document, dict) and "numbers" in document:
        document = document["numbers"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise NumberDefinitionError('expected {"numbers": [{...}, ...]}, a list of numbers or one number object')
    return [number_from_definition(item) for item in document]


def load_numbers_file(path: Path) -> list[AircallNumber]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NumberDefinitionError(f"cannot read numbers file {path}: {exc}") from None
    return numbers_from_json(document)


def seed_numbers() -> list[AircallNumber]:
    """The documented seed set shipped as `aircall_sandbox/numbers.json`."""
    text = resources.files("aircall_sandbox").joinpath("numbers.json").read_text(encoding="utf-8")
    return numbers_from_json(json.loads(text))
