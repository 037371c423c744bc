"""Aircall numbers: the seed set (`numbers.json`), extra numbers from files or controls, and their JSON.

A number keeps Aircall's Number fields (display `digits` such as "+1 424-416-2288", `time_zone`, ...) apart from
what only the sandbox knows about it: `sms_enabled`, `mms_enabled` and, for US/CA toll-free numbers, the state
of their toll-free verification. `/v1` answers show only Aircall's fields. The E.164 form, the limit kind
(US/CA, French mobile, other) and whether the number is toll-free are derived once with phonenumbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import phonenumbers

from aircall_sandbox.config import NumberKind

TollFreeVerification = Literal["verified", "pending", "unverified"]
TOLL_FREE_VERIFICATIONS: tuple[TollFreeVerification, ...] = get_args(TollFreeVerification)

# Aircall's Number object, in the order the reference's example lists it; `direct_link` is built per request.
AIRCALL_FIELDS = (
    "name",
    "digits",
    "created_at",
    "country",
    "time_zone",
    "open",
    "availability_status",
    "is_ivr",
    "live_recording_activated",
    "priority",
    "messages",
)
AVAILABILITY_STATUSES = ("open", "custom", "closed")
# The fields a numbers file may leave out, with the value the sandbox gives them.
_DEFAULT_FIELDS: dict[str, Any] = {
    "created_at": "2024-01-01T00:00:00.000Z",
    "time_zone": "Etc/UTC",
    "open": True,
    "availability_status": "open",
    "is_ivr": False,
    "live_recording_activated": False,
    "priority": None,
    "messages": {},
}
SANDBOX_FIELDS = ("sms_enabled", "mms_enabled", "toll_free_verification")


class NumberDefinitionError(ValueError):
    """A number definition (seed, file or control) is not usable."""


@dataclass(frozen=True)
class AircallNumber:
    id: int
    e164: str
    kind: NumberKind
    fields: Mapping[str, Any]  # Aircall's Number fields, without `id` and `direct_link`
    sms_enabled: bool
    mms_enabled: bool
    toll_free: bool
    toll_free_verification: TollFreeVerification | None  # None unless toll-free

    @property
    def name(self) -> str:
        return str(self.fields["name"])

    @property
    def digits(self) -> str:
        return str(self.fields["digits"])

    @property
    def country(self) -> str:
        return str(self.fields["country"])

    def direct_link(self, base_url: str) -> str:
        return f"{base_url}/v1/numbers/{self.id}"

    def to_json(self, base_url: str) -> dict[str, Any]:
        """Aircall's Number object, as `GET /v1/numbers/{id}` shows it and as send answers embed it."""
        return {"id": self.id, "direct_link": self.direct_link(base_url)} | {
            name: self.fields[name] for name in AIRCALL_FIELDS
        }

    def event_json(self, base_url: str) -> dict[str, Any]:
        """The Number inside a callback or webhook: Aircall adds `e164_digits` there (and only there)."""
        number = self.to_json(base_url)
        number_with_e164: dict[str, Any] = {}
        for name, value in number.items():
            number_with_e164[name] = value
            if name == "digits":
                number_with_e164["e164_digits"] = self.e164
        return number_with_e164

    def sandbox_json(self, base_url: str) -> dict[str, Any]:
        """The number plus what only the sandbox knows, for `/_sandbox/numbers`."""
        return self.to_json(base_url) | {
            "e164": self.e164,
            "kind": self.kind,
            "sms_enabled": self.sms_enabled,
            "mms_enabled": self.mms_enabled,
            "toll_free": self.toll_free,
            "toll_free_verification": self.toll_free_verification,
        }

    def with_verification(self, verification: object) -> AircallNumber:
        if not self.toll_free:
            raise NumberDefinitionError(f"number {self.id} is not toll-free: it has no toll-free verification")
        return replace(self, toll_free_verification=_verification(self.id, verification))


def number_from_definition(definition: Mapping[str, Any]) -> AircallNumber:
    """Build a number from Aircall-shaped JSON plus the sandbox's fields; `id`, `name` and `digits` are required."""
    number_id = definition.get("id")
    if not isinstance(number_id, int) or isinstance(number_id, bool) or number_id <= 0:
        raise NumberDefinitionError(f"number id must be a positive integer, got {number_id!r}")
    unknown = sorted(set(definition) - {"id", "direct_link", *AIRCALL_FIELDS, *SANDBOX_FIELDS})
    if unknown:
        raise NumberDefinitionError(
            f"number {number_id}: unknown fields {unknown}; a number has Aircall's fields "
            f"({', '.join(AIRCALL_FIELDS)}) and the sandbox's ({', '.join(SANDBOX_FIELDS)})"
        )
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
    fields: dict[str, Any] = (
        _DEFAULT_FIELDS
        | {"country": region}
        | {name: definition[name] for name in AIRCALL_FIELDS if name in definition}
    )
    fields["digits"] = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    _check_aircall_fields(number_id, fields)
    toll_free = region in ("US", "CA") and phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE
    verification = definition.get("toll_free_verification")
    if verification is not None and not toll_free:
        raise NumberDefinitionError(f"number {number_id}: toll_free_verification is only for US/CA toll-free numbers")
    return AircallNumber(
        id=number_id,
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        kind=_limit_kind(parsed, region),
        fields=fields,
        sms_enabled=_flag(number_id, definition, "sms_enabled", default=True),
        mms_enabled=_flag(number_id, definition, "mms_enabled", default=False),
        toll_free=toll_free,
        toll_free_verification=_verification(number_id, verification or "verified") if toll_free else None,
    )


def _check_aircall_fields(number_id: int, fields: Mapping[str, Any]) -> None:
    """The types Aircall's reference gives its Number fields."""
    for name in ("country", "time_zone", "created_at"):
        if not isinstance(fields[name], str) or not fields[name]:
            raise NumberDefinitionError(f"number {number_id}: {name} must be a non-empty string")
    for name in ("open", "is_ivr", "live_recording_activated"):
        if not isinstance(fields[name], bool):
            raise NumberDefinitionError(f"number {number_id}: {name} must be true or false")
    if fields["availability_status"] not in AVAILABILITY_STATUSES:
        raise NumberDefinitionError(
            f"number {number_id}: availability_status must be one of {', '.join(AVAILABILITY_STATUSES)}"
        )
    if fields["priority"] not in (None, 0, 1) or isinstance(fields["priority"], bool):
        raise NumberDefinitionError(f"number {number_id}: priority must be null, 0 or 1")
    messages = fields["messages"]
    if not isinstance(messages, dict) or not all(isinstance(url, str) for url in messages.values()):
        raise NumberDefinitionError(f"number {number_id}: messages must map names to audio URLs")


def _flag(number_id: int, definition: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = definition.get(name, default)
    if not isinstance(value, bool):
        raise NumberDefinitionError(f"number {number_id}: {name} must be true or false")
    return value


def _verification(number_id: int, value: object) -> TollFreeVerification:
    for state in TOLL_FREE_VERIFICATIONS:
        if value == state:
            return state
    raise NumberDefinitionError(
        f"number {number_id}: toll_free_verification must be one of {', '.join(TOLL_FREE_VERIFICATIONS)}, got {value!r}"
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
