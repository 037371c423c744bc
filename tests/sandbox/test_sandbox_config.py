"""`SandboxConfig`: its defaults, the strict preset, and the LOCAL_AIRCALL_* variables of `from_env`."""

from pathlib import Path

import pytest

from aircall_sandbox import SandboxConfig, SegmentLimits, TollFreeLimits, WindowLimits
from aircall_sandbox.config import ConfigError


def test_an_empty_environment_gives_the_documented_defaults():
    config = SandboxConfig.from_env({})

    assert config == SandboxConfig()
    assert (config.api_id, config.api_token, config.access_token) == (
        "sandbox-api-id",
        "sandbox-api-token",
        "sandbox-oauth-token",
    )
    assert config.requests_per_minute == 60
    assert (config.rate_headers, config.rate_reset_unit) == ("on_429", "seconds")
    assert config.allow_http_loopback_callbacks is False
    assert config.callback_style == "webhook"
    assert (
        config.callback_event_key,
        config.callback_status_event,
        config.callback_resource,
        config.callback_timestamp,
    ) == (None, None, None, None)
    assert (config.data_timestamps, config.contact_style, config.inbound_media) == (
        "milliseconds",
        "raw_digits",
        "media_details",
    )
    assert (config.status_words, config.unknown_status_word) == ("standard", None)
    assert (config.send_response_contact, config.french_length_limit) == (False, True)
    assert config.callback_delay_ms == 100
    assert config.public_url is None
    assert config.segment_limits == SegmentLimits(
        us_ca=WindowLimits(1_000, 10_000, 100_000),
        fr_mobile=WindowLimits(100, 1_000, 10_000),
        other=WindowLimits(500, 2_000, 20_000),
    )
    assert config.toll_free_pending_limits == TollFreeLimits(day=2_000, week=6_000, month=10_000)
    assert config.uses_default_credentials


def test_the_defaults_are_as_strict_as_the_reference_and_each_lenient_variant_is_a_switch():
    strict = SandboxConfig()

    assert (strict.rate_headers, strict.contact_style, strict.french_length_limit) == ("on_429", "raw_digits", True)
    assert strict.allow_http_loopback_callbacks is False
    lenient = SandboxConfig(rate_headers="always", contact_style="both", french_length_limit=False)
    assert (lenient.rate_headers, lenient.contact_style, lenient.french_length_limit) == ("always", "both", False)


def test_every_variable_is_read():
    config = SandboxConfig.from_env(
        {
            "LOCAL_AIRCALL_API_ID": "id",
            "LOCAL_AIRCALL_API_TOKEN": "token",
            "LOCAL_AIRCALL_ACCESS_TOKEN": "oauth",
            "LOCAL_AIRCALL_REQUESTS_PER_MINUTE": "120",
            "LOCAL_AIRCALL_RATE_HEADERS": "always",
            "LOCAL_AIRCALL_RATE_RESET_UNIT": "milliseconds",
            "LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS": "true",
            "LOCAL_AIRCALL_CALLBACK_STYLE": "callback",
            "LOCAL_AIRCALL_CALLBACK_EVENT_KEY": "event",
            "LOCAL_AIRCALL_CALLBACK_STATUS_EVENT": "message.status_updated",
            "LOCAL_AIRCALL_CALLBACK_RESOURCE": "omit",
            "LOCAL_AIRCALL_CALLBACK_TIMESTAMP": "iso8601",
            "LOCAL_AIRCALL_DATA_TIMESTAMPS": "seconds",
            "LOCAL_AIRCALL_CONTACT_STYLE": "external_number",
            "LOCAL_AIRCALL_INBOUND_MEDIA": "both",
            "LOCAL_AIRCALL_STATUS_WORDS": "unknown_extra",
            "LOCAL_AIRCALL_UNKNOWN_STATUS_WORD": "undelivered",
            "LOCAL_AIRCALL_SEND_RESPONSE_CONTACT": "1",
            "LOCAL_AIRCALL_FRENCH_LENGTH_LIMIT": "no",
            "LOCAL_AIRCALL_CALLBACK_DELAY_MS": "5",
            "LOCAL_AIRCALL_WEBHOOK_RETRIES": "0",
            "LOCAL_AIRCALL_PUBLIC_URL": "https://sandbox.example.com",
            "LOCAL_AIRCALL_NUMBERS_FILE": "extra.json",
            "LOCAL_AIRCALL_LIMITS_US_CA": "1,2,3",
            "LOCAL_AIRCALL_LIMITS_FR_MOBILE": "4, 5, 6",
            "LOCAL_AIRCALL_LIMITS_OTHER": "7,8,9",
            "LOCAL_AIRCALL_LIMITS_TOLL_FREE_PENDING": "10,11,12",
        }
    )

    assert (config.api_id, config.api_token, config.access_token) == ("id", "token", "oauth")
    assert config.requests_per_minute == 120
    assert (config.rate_headers, config.rate_reset_unit) == ("always", "milliseconds")
    assert config.allow_http_loopback_callbacks is True
    assert config.callback_style == "callback"
    assert (
        config.callback_event_key,
        config.callback_status_event,
        config.callback_resource,
        config.callback_timestamp,
    ) == ("event", "message.status_updated", "omit", "iso8601")
    assert (config.data_timestamps, config.contact_style, config.inbound_media) == (
        "seconds",
        "external_number",
        "both",
    )
    assert (config.status_words, config.unknown_status_word) == ("unknown_extra", "undelivered")
    assert (config.send_response_contact, config.french_length_limit) == (True, False)
    assert config.callback_delay_ms == 5
    assert config.webhook_retries == 0
    assert config.public_url == "https://sandbox.example.com"
    assert config.numbers_file == Path("extra.json")
    assert config.segment_limits == SegmentLimits(WindowLimits(1, 2, 3), WindowLimits(4, 5, 6), WindowLimits(7, 8, 9))
    assert config.toll_free_pending_limits == TollFreeLimits(day=10, week=11, month=12)
    assert not config.uses_default_credentials


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOCAL_AIRCALL_REQUESTS_PER_MINUTE", "lots"),
        ("LOCAL_AIRCALL_REQUESTS_PER_MINUTE", "0"),
        ("LOCAL_AIRCALL_RATE_HEADERS", "sometimes"),
        ("LOCAL_AIRCALL_RATE_RESET_UNIT", "minutes"),
        ("LOCAL_AIRCALL_ALLOW_HTTP_LOOPBACK_CALLBACKS", "maybe"),
        ("LOCAL_AIRCALL_CALLBACK_STYLE", "carrier-pigeon"),
        ("LOCAL_AIRCALL_CALLBACK_EVENT_KEY", "type"),
        ("LOCAL_AIRCALL_CALLBACK_STATUS_EVENT", "message.changed"),
        ("LOCAL_AIRCALL_CALLBACK_RESOURCE", "sometimes"),
        ("LOCAL_AIRCALL_CALLBACK_TIMESTAMP", "microseconds"),
        ("LOCAL_AIRCALL_DATA_TIMESTAMPS", "rfc2822"),
        ("LOCAL_AIRCALL_CONTACT_STYLE", "e164"),
        ("LOCAL_AIRCALL_INBOUND_MEDIA", "attachments"),
        ("LOCAL_AIRCALL_STATUS_WORDS", "random"),
        ("LOCAL_AIRCALL_UNKNOWN_STATUS_WORD", "delivered"),
        ("LOCAL_AIRCALL_UNKNOWN_STATUS_WORD", " "),
        ("LOCAL_AIRCALL_SEND_RESPONSE_CONTACT", "2"),
        ("LOCAL_AIRCALL_FRENCH_LENGTH_LIMIT", "670"),
        ("LOCAL_AIRCALL_CALLBACK_DELAY_MS", "-1"),
        ("LOCAL_AIRCALL_LIMITS_OTHER", "1,2"),
        ("LOCAL_AIRCALL_LIMITS_TOLL_FREE_PENDING", "a,b,c"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_problem(name, value):
    with pytest.raises(ConfigError):
        SandboxConfig.from_env({name: value})


def test_a_bad_switch_value_in_code_is_a_config_error_too():
    with pytest.raises(ConfigError, match="contact_style"):
        SandboxConfig(contact_style="e164")  # type: ignore[arg-type]


def test_the_public_url_builds_the_links(start_sandbox):
    running = start_sandbox(public_url="https://sandbox.example.com/")

    number = running.api.get("/v1/numbers/100001").json()["number"]

    assert number["direct_link"] == "https://sandbox.example.com/v1/numbers/100001"
