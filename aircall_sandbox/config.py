"""The sandbox's settings: credentials, request budget, segment limits, and the switches for every variant of
Aircall's behaviour the reference documents (or cannot settle).

One frozen `SandboxConfig`, built in code or read once from the `LOCAL_AIRCALL_*` environment variables.
Each switch is a `Literal` alias below: `__post_init__` and `from_env` check values against the alias itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

RateHeaders = Literal["on_429", "always"]
ResetUnit = Literal["seconds", "milliseconds"]
CallbackStyle = Literal["webhook", "callback"]
EventKey = Literal["event", "event_name"]
StatusEvent = Literal["message.status_updated", "message.updated"]
ResourceField = Literal["include", "omit"]
TimestampUnit = Literal["seconds", "milliseconds", "iso8601"]
ContactStyle = Literal["both", "external_number", "raw_digits"]
InboundMedia = Literal["media_details", "media_url", "both"]
StatusWords = Literal["standard", "unknown_final", "unknown_extra"]
NumberKind = Literal["us_ca", "fr_mobile", "other"]

NUMBER_KINDS: tuple[NumberKind, ...] = get_args(NumberKind)
# The words the sandbox announces in standard mode: an "unknown" word must be none of them.
STANDARD_STATUS_WORDS = frozenset({"pending", "sent", "delivered", "failed", "received"})

# field name -> the Literal alias its value must belong to (None allowed where the field is Optional).
_CHOICES: dict[str, tuple[Any, bool]] = {
    "rate_headers": (RateHeaders, False),
    "rate_reset_unit": (ResetUnit, False),
    "callback_style": (CallbackStyle, False),
    "callback_event_key": (EventKey, True),
    "callback_status_event": (StatusEvent, True),
    "callback_resource": (ResourceField, True),
    "callback_timestamp": (TimestampUnit, True),
    "data_timestamps": (TimestampUnit, False),
    "contact_style": (ContactStyle, False),
    "inbound_media": (InboundMedia, False),
    "status_words": (StatusWords, False),
}


class ConfigError(ValueError):
    """A setting has a value the sandbox cannot run with."""


@dataclass(frozen=True)
class WindowLimits:
    """Outbound segments one number may send per fixed UTC hour, day and month."""

    hour: int
    day: int
    month: int

    def as_dict(self) -> dict[str, int]:
        return {"hour": self.hour, "day": self.day, "month": self.month}

    @classmethod
    def parse(cls, text: str) -> WindowLimits:
        """Read `"hour,day,month"`, e.g. `"100,1000,10000"`."""
        hour, day, month = _three_integers(text, "hour,day,month")
        return cls(hour=hour, day=day, month=month)


@dataclass(frozen=True)
class TollFreeLimits:
    """What carriers let through from a US/CA toll-free number awaiting verification, to US recipients, per
    fixed UTC day, ISO week and month (Aircall's help centre: 2,000 / 6,000 / 10,000; the excess is filtered)."""

    day: int = 2_000
    week: int = 6_000
    month: int = 10_000

    def as_dict(self) -> dict[str, int]:
        return {"day": self.day, "week": self.week, "month": self.month}

    @classmethod
    def parse(cls, text: str) -> TollFreeLimits:
        """Read `"day,week,month"`, e.g. `"2000,6000,10000"`."""
        day, week, month = _three_integers(text, "day,week,month")
        return cls(day=day, week=week, month=month)


@dataclass(frozen=True)
class SegmentLimits:
    """The per-number limits by kind of sender number, as Aircall enforces them for API sends."""

    us_ca: WindowLimits = WindowLimits(hour=1_000, day=10_000, month=100_000)
    fr_mobile: WindowLimits = WindowLimits(hour=100, day=1_000, month=10_000)
    other: WindowLimits = WindowLimits(hour=500, day=2_000, month=20_000)

    def for_kind(self, kind: NumberKind) -> WindowLimits:
        limits: WindowLimits = getattr(self, kind)
        return limits


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox can be told. Defaults are the documented sandbox credentials, Aircall's limits and
    the strictest reading of the reference; every documented variant is one switch away."""

    api_id: str = "sandbox-api-id"
    api_token: str = "sandbox-api-token"  # noqa: S105 - documented sandbox default, not a secret
    access_token: str = "sandbox-oauth-token"  # noqa: S105 - documented sandbox default, not a secret
    requests_per_minute: int = 60
    rate_headers: RateHeaders = "on_429"  # "when the rate limit has been reached"
    rate_reset_unit: ResetUnit = "seconds"
    # Aircall requires https:// callback URLs; local receivers listen on plain HTTP on loopback.
    allow_http_loopback_callbacks: bool = False
    # Envelope of proxy callbacks: the style is the preset, each callback_* override replaces one of its parts.
    callback_style: CallbackStyle = "webhook"
    callback_event_key: EventKey | None = None
    callback_status_event: StatusEvent | None = None
    callback_resource: ResourceField | None = None
    callback_timestamp: TimestampUnit | None = None
    # The message object inside every callback and webhook.
    data_timestamps: TimestampUnit = "milliseconds"
    contact_style: ContactStyle = "raw_digits"  # a practitioner's sample carries only raw_digits
    inbound_media: InboundMedia = "media_details"
    status_words: StatusWords = "standard"
    unknown_status_word: str | None = None
    # Compatibility: the send answer also carries `to` and `external_number` (Aircall's does not).
    send_response_contact: bool = False
    french_length_limit: bool = True  # 670 characters on French numbers
    callback_delay_ms: int = 100
    callback_timeout_s: float = 5.0
    webhook_retries: int = 3
    public_url: str | None = None
    numbers_file: Path | None = None
    segment_limits: SegmentLimits = field(default_factory=SegmentLimits)
    toll_free_pending_limits: TollFreeLimits = field(default_factory=TollFreeLimits)

    def __post_init__(self) -> None:
        if self.requests_per_minute < 1:
            raise ConfigError("requests_per_minute must be at least 1")
        for name, (alias, optional) in _CHOICES.items():
            value = getattr(self, name)
            if value is None and optional:
                continue
            if value not in get_args(alias):
                raise ConfigError(f"{name} must be one of {', '.join(get_args(alias))}, got {value!r}")
        if self.unknown_status_word is not None and (
            not self.unknown_status_word.strip() or self.unknown_status_word.strip().lower() in STANDARD_STATUS_WORDS
        ):
            raise ConfigError(
                f"unknown_status_word must be a word other than {', '.join(sorted(STANDARD_STATUS_WORDS))}, "
                f"got {self.unknown_status_word!r}"
            )
        if self.callback_delay_ms < 0 or self.webhook_retries < 0 or self.callback_timeout_s <= 0:
            raise ConfigError("callback delay, retries and timeout must not be negative")

    @property
    def uses_default_credentials(self) -> bool:
        defaults = SandboxConfig()
        return (self.api_id, self.api_token, self.access_token) == (
            defaults.api_id,
            defaults.api_token,
            defaults.access_token,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """Read the `LOCAL_AIRCALL_*` variables (see the README); unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def text(name: str, default: str) -> str:
            return env.get(name) or default

        def integer(name: str, default: int) -> int:
            raw = env.get(name)
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer, got {raw!r}") from None

        def switch(name: str, default: bool) -> bool:
            raw = env.get(name)
            if not raw:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name} must be true or false, got {raw!r}")

        def choice(name: str, field_name: str) -> Any:
            raw = env.get(name)
            if not raw:
                return getattr(defaults, field_name)
            alias, _optional = _CHOICES[field_name]
            if raw not in get_args(alias):
                raise ConfigError(f"{name} must be one of {', '.join(get_args(alias))}, got {raw!r}")
            return raw

        def limits(name: str, default: WindowLimits) -> WindowLimits:
            raw = env.get(name)
            return WindowLimits.parse(raw) if raw else default

        numbers_file = env.get("LOCAL_AIRCALL_NUMBERS_FILE")
        toll_free_limits = env.get("LOCAL_AIRCALL_LIMITS_TOLL_FREE_PENDING")
        default_limits = defaults.segment_limits
        return cls(
            api_id=text("LOCAL_AIRCALL_API_ID", defaults.api_id),
            api_token=text("LOCAL_AIRCALL_API_TOKEN", defaults.api_token),
            access_token=text("LOCAL_AIRCALL_ACCESS_TOKEN", defaults.access_token),
            requests_per_minute=integer("LOCAL_AIRCALL_REQUESTS_PER_MINUTE", defaults.requests_per_minute),
            rate_headers=choice("LOCAL_AIRCALL_RATE_HEADERS", "rate_headers"),
            rate_reset_unit=choice("LOCAL_AIRCALL_RATE_RESET_UNIT", "rate_reset_unit"),
            allow_http_loopback_callbacks=switch(
                "LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS", defaults.allow_http_loopback_callbacks
            ),
            callback_style=choice("LOCAL_AIRCALL_CALLBACK_STYLE", "callback_style"),
            callback_event_key=choice("LOCAL_AIRCALL_CALLBACK_EVENT_KEY", "callback_event_key"),
            callback_status_event=choice("LOCAL_AIRCALL_CALLBACK_STATUS_EVENT", "callback_status_event"),
            callback_resource=choice("LOCAL_AIRCALL_CALLBACK_RESOURCE", "callback_resource"),
            callback_timestamp=choice("LOCAL_AIRCALL_CALLBACK_TIMESTAMP", "callback_timestamp"),
            data_timestamps=choice("LOCAL_AIRCALL_DATA_TIMESTAMPS", "data_timestamps"),
            contact_style=choice("LOCAL_AIRCALL_CONTACT_STYLE", "contact_style"),
            inbound_media=choice("LOCAL_AIRCALL_INBOUND_MEDIA", "inbound_media"),
            status_words=choice("LOCAL_AIRCALL_STATUS_WORDS", "status_words"),
            unknown_status_word=env.get("LOCAL_AIRCALL_UNKNOWN_STATUS_WORD") or None,
            send_response_contact=switch("LOCAL_AIRCALL_SEND_RESPONSE_CONTACT", defaults.send_response_contact),
            french_length_limit=switch("LOCAL_AIRCALL_FRENCH_LENGTH_LIMIT", defaults.french_length_limit),
            callback_delay_ms=integer("LOCAL_AIRCALL_CALLBACK_DELAY_MS", defaults.callback_delay_ms),
            webhook_retries=integer("LOCAL_AIRCALL_WEBHOOK_RETRIES", defaults.webhook_retries),
            public_url=env.get("LOCAL_AIRCALL_PUBLIC_URL") or None,
            numbers_file=Path(numbers_file) if numbers_file else None,
            segment_limits=SegmentLimits(
                us_ca=limits("LOCAL_AIRCALL_LIMITS_US_CA", default_limits.us_ca),
                fr_mobile=limits("LOCAL_AIRCALL_LIMITS_FR_MOBILE", default_limits.fr_mobile),
                other=limits("LOCAL_AIRCALL_LIMITS_OTHER", default_limits.other),
            ),
            toll_free_pending_limits=(
                TollFreeLimits.parse(toll_free_limits) if toll_free_limits else defaults.toll_free_pending_limits
            ),
        )


def _three_integers(text: str, shape: str) -> tuple[int, int, int]:
    parts = [part.strip().replace("_", "") for part in text.split(",")]
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ConfigError(f"segment limits must be '{shape}' integers, got {text!r}")
    first, second, third = (int(part) for part in parts)
    return first, second, third
