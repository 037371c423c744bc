"""The gateway's configuration: one typed object read from the environment once, lazily, and cached."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed (a deployment mistake, never a client's)."""


@dataclass(frozen=True, slots=True)
class Settings:
    messages_table: str
    numbers_table: str
    ledger_table: str
    contacts_table: str
    callbacks_table: str
    keys_table: str
    event_bus_name: str
    auto_replies: str
    aircall_api_base_url: str
    aircall_credentials_secret: str
    callback_url: str
    aircall_requests_per_minute: int
    aircall_connect_timeout: float
    aircall_read_timeout: float
    dynamodb_connect_timeout: float
    dynamodb_read_timeout: float
    dynamodb_max_attempts: int
    credentials_max_age: int
    conversation_window_hours: float
    idempotency_ttl_hours: float
    default_not_after_hours: float
    number_cache_seconds: float
    pool_share_percent: float
    campaign_share_percent: float
    limits_json: str
    usage_alert_percent: float
    price_table_json: str
    quiet_hours_json: str
    message_retention_days: int
    admin_key_secret: str
    authorizer_cache_seconds: int
    sign_in_issuer: str = ""
    callbacks_queue_url: str = ""
    media_bucket: str = ""
    media_link_seconds: int = 900
    media_file_seconds: float = 20.0
    media_message_seconds: float = 60.0

    @property
    def dynamodb_attempt_seconds(self) -> float:
        """The longest one DynamoDB attempt can take (connect, then read): what an attempt needs to start."""
        return self.dynamodb_connect_timeout + self.dynamodb_read_timeout

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            messages_table=_required(env, "MESSAGES_TABLE"),
            numbers_table=_required(env, "NUMBERS_TABLE"),
            ledger_table=_required(env, "LEDGER_TABLE"),
            contacts_table=_required(env, "CONTACTS_TABLE"),
            callbacks_table=_required(env, "CALLBACKS_TABLE"),
            keys_table=_required(env, "KEYS_TABLE"),
            event_bus_name=env.get("EVENT_BUS_NAME", "default").strip() or "default",
            auto_replies=env.get("AUTO_REPLIES", "").strip(),
            aircall_api_base_url=env.get("AIRCALL_API_BASE_URL", "https://api.aircall.io").rstrip("/"),
            aircall_credentials_secret=env.get("AIRCALL_CREDENTIALS_SECRET", "aircall-sms-gateway/aircall-credentials"),
            callback_url=env.get("CALLBACK_URL", ""),
            aircall_requests_per_minute=_positive_int(env, "AIRCALL_REQUESTS_PER_MINUTE", 60),
            aircall_connect_timeout=_positive_float(env, "AIRCALL_CONNECT_TIMEOUT", 3.05),
            aircall_read_timeout=_positive_float(env, "AIRCALL_READ_TIMEOUT", 10.0),
            # Explicit, not pynamodb's 15 s / 30 s: one DynamoDB attempt must fit well inside a send's budget.
            dynamodb_connect_timeout=_positive_float(env, "DYNAMODB_CONNECT_TIMEOUT", 1.0),
            dynamodb_read_timeout=_positive_float(env, "DYNAMODB_READ_TIMEOUT", 2.0),
            dynamodb_max_attempts=_int(env, "DYNAMODB_MAX_ATTEMPTS", 3, minimum=1, maximum=10),
            credentials_max_age=_positive_int(env, "AIRCALL_CREDENTIALS_MAX_AGE", 300),
            conversation_window_hours=_positive_float(env, "CONVERSATION_WINDOW_HOURS", 24.0),
            idempotency_ttl_hours=_positive_float(env, "IDEMPOTENCY_TTL_HOURS", 24.0),
            default_not_after_hours=_positive_float(env, "DEFAULT_NOT_AFTER_HOURS", 24.0),
            number_cache_seconds=_positive_float(env, "NUMBER_CACHE_SECONDS", 60.0),
            pool_share_percent=_int(env, "POOL_SHARE_PERCENT", 90, minimum=1, maximum=100),
            # The share of each of a number's windows a campaign's messages may fill: live sends keep the rest.
            campaign_share_percent=_int(env, "CAMPAIGN_SHARE_PERCENT", 80, minimum=1, maximum=100),
            limits_json=env.get("LIMITS_JSON", "").strip(),
            usage_alert_percent=_positive_float(env, "USAGE_ALERT_PERCENT", 80.0),
            price_table_json=env.get("PRICE_TABLE_JSON", "").strip(),
            quiet_hours_json=env.get("QUIET_HOURS_JSON", "").strip(),
            message_retention_days=_non_negative_int(env, "MESSAGE_RETENTION_DAYS", 0),
            admin_key_secret=env.get("ADMIN_KEY_SECRET", "aircall-sms-gateway/admin-key").strip(),
            authorizer_cache_seconds=_int(env, "AUTHORIZER_CACHE_SECONDS", 300, minimum=0, maximum=300),
            sign_in_issuer=env.get("SIGN_IN_ISSUER", "").strip().rstrip("/"),
            callbacks_queue_url=env.get("CALLBACKS_QUEUE_URL", "").strip(),
            media_bucket=env.get("MEDIA_BUCKET", "").strip(),
            # A link of the archive's answers works this long (at most a Lambda role's session allows: an hour).
            media_link_seconds=_int(env, "MEDIA_LINK_SECONDS", 900, minimum=60, maximum=3600),
            # The most one inbound MMS file's download may take, and all of one message's (domain.media).
            media_file_seconds=_positive_float(env, "MEDIA_FILE_SECONDS", 20.0),
            media_message_seconds=_positive_float(env, "MEDIA_MESSAGE_SECONDS", 60.0),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (tests that change the environment call `get_settings.cache_clear()`)."""
    return Settings.from_environ()


def _required(env: dict[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"the environment variable {name} is required")
    return value


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    return _int(env, name, default, minimum=1)


def _non_negative_int(env: dict[str, str], name: str, default: int) -> int:
    return _int(env, name, default, minimum=0)


def _int(env: dict[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be positive" if minimum == 1 else f"{name} must not be negative")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}")
    return value


def _positive_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive")
    return value
