"""The sandbox's settings: credentials, request budget, callback style and the per-number segment limits.

One frozen `SandboxConfig`, built in code or read once from the `LOCAL_AIRCALL_*` environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

RateHeaders = Literal["always", "on_429"]
CallbackStyle = Literal["webhook", "callback"]
NumberKind = Literal["us_ca", "fr_mobile", "other"]

NUMBER_KINDS: tuple[NumberKind, ...] = ("us_ca", "fr_mobile", "other")


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
        parts = [part.strip().replace("_", "") for part in text.split(",")]
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise ConfigError(f"segment limits must be 'hour,day,month' integers, got {text!r}")
        hour, day, month = (int(part) for part in parts)
        return cls(hour=hour, day=day, month=month)


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
    """Everything the sandbox can be told. Defaults are the documented sandbox credentials and Aircall's limits."""

    api_id: str = "sandbox-api-id"
    api_token: str = "sandbox-api-token"  # noqa: S105 - documented sandbox default, not a secret
    access_token: str = "sandbox-oauth-token"  # noqa: S105 - documented sandbox default, not a secret
    requests_per_minute: int = 60
    rate_headers: RateHeaders = "always"
    callback_style: CallbackStyle = "webhook"
    callback_delay_ms: int = 100
    callback_timeout_s: float = 5.0
    webhook_retries: int = 3
    public_url: str | None = None
    numbers_file: Path | None = None
    segment_limits: SegmentLimits = field(default_factory=SegmentLimits)

    def __post_init__(self) -> None:
        if self.requests_per_minute < 1:
            raise ConfigError("requests_per_minute must be at least 1")
        if self.rate_headers not in ("always", "on_429"):
            raise ConfigError(f"rate_headers must be 'always' or 'on_429', got {self.rate_headers!r}")
        if self.callback_style not in ("webhook", "callback"):
            raise ConfigError(f"callback_style must be 'webhook' or 'callback', got {self.callback_style!r}")
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

        def limits(name: str, default: WindowLimits) -> WindowLimits:
            raw = env.get(name)
            return WindowLimits.parse(raw) if raw else default

        numbers_file = env.get("LOCAL_AIRCALL_NUMBERS_FILE")
        default_limits = defaults.segment_limits
        return cls(
            api_id=text("LOCAL_AIRCALL_API_ID", defaults.api_id),
            api_token=text("LOCAL_AIRCALL_API_TOKEN", defaults.api_token),
            access_token=text("LOCAL_AIRCALL_ACCESS_TOKEN", defaults.access_token),
            requests_per_minute=integer("LOCAL_AIRCALL_REQUESTS_PER_MINUTE", defaults.requests_per_minute),
            rate_headers=_choice(env, "LOCAL_AIRCALL_RATE_HEADERS", ("always", "on_429"), defaults.rate_headers),
            callback_style=_choice(
                env, "LOCAL_AIRCALL_CALLBACK_STYLE", ("webhook", "callback"), defaults.callback_style
            ),
            callback_delay_ms=integer("LOCAL_AIRCALL_CALLBACK_DELAY_MS", defaults.callback_delay_ms),
            webhook_retries=integer("LOCAL_AIRCALL_WEBHOOK_RETRIES", defaults.webhook_retries),
            public_url=env.get("LOCAL_AIRCALL_PUBLIC_URL") or None,
            numbers_file=Path(numbers_file) if numbers_file else None,
            segment_limits=SegmentLimits(
                us_ca=limits("LOCAL_AIRCALL_LIMITS_US_CA", default_limits.us_ca),
                fr_mobile=limits("LOCAL_AIRCALL_LIMITS_FR_MOBILE", default_limits.fr_mobile),
                other=limits("LOCAL_AIRCALL_LIMITS_OTHER", default_limits.other),
            ),
        )


def _choice[T: str](env: Mapping[str, str], name: str, allowed: tuple[T, ...], default: T) -> T:
    raw = env.get(name)
    if not raw:
        return default
    for option in allowed:
        if raw == option:
            return option
    raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
