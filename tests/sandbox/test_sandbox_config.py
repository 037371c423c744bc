"""`SandboxConfig.from_env`: the LOCAL_AIRCALL_* variables."""

from pathlib import Path

import pytest

from aircall_sandbox import SandboxConfig, SegmentLimits, WindowLimits
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
    assert config.rate_headers == "always"
    assert config.callback_style == "webhook"
    assert config.callback_delay_ms == 100
    assert config.public_url is None
    assert config.segment_limits == SegmentLimits(
        us_ca=WindowLimits(1_000, 10_000, 100_000),
        fr_mobile=WindowLimits(100, 1_000, 10_000),
        other=WindowLimits(500, 2_000, 20_000),
    )
    assert config.uses_default_credentials


def test_every_variable_is_read():
    config = SandboxConfig.from_env(
        {
            "LOCAL_AIRCALL_API_ID": "id",
            "LOCAL_AIRCALL_API_TOKEN": "token",
            "LOCAL_AIRCALL_ACCESS_TOKEN": "oauth",
            "LOCAL_AIRCALL_REQUESTS_PER_MINUTE": "120",
            "LOCAL_AIRCALL_RATE_HEADERS": "on_429",
            "LOCAL_AIRCALL_CALLBACK_STYLE": "callback",
            "LOCAL_AIRCALL_CALLBACK_DELAY_MS": "5",
            "LOCAL_AIRCALL_WEBHOOK_RETRIES": "0",
            "LOCAL_AIRCALL_PUBLIC_URL": "https://sandbox.example.com",
            "LOCAL_AIRCALL_NUMBERS_FILE": "extra.json",
            "LOCAL_AIRCALL_LIMITS_US_CA": "1,2,3",
            "LOCAL_AIRCALL_LIMITS_FR_MOBILE": "4, 5, 6",
            "LOCAL_AIRCALL_LIMITS_OTHER": "7,8,9",
        }
    )

    assert (config.api_id, config.api_token, config.access_token) == ("id", "token", "oauth")
    assert config.requests_per_minute == 120
    assert config.rate_headers == "on_429"
    assert config.callback_style == "callback"
    assert config.callback_delay_ms == 5
    assert config.webhook_retries == 0
    assert config.public_url == "https://sandbox.example.com"
    assert config.numbers_file == Path("extra.json")
    assert config.segment_limits == SegmentLimits(WindowLimits(1, 2, 3), WindowLimits(4, 5, 6), WindowLimits(7, 8, 9))
    assert not config.uses_default_credentials


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOCAL_AIRCALL_REQUESTS_PER_MINUTE", "lots"),
        ("LOCAL_AIRCALL_REQUESTS_PER_MINUTE", "0"),
        ("LOCAL_AIRCALL_RATE_HEADERS", "sometimes"),
        ("LOCAL_AIRCALL_CALLBACK_STYLE", "carrier-pigeon"),
        ("LOCAL_AIRCALL_CALLBACK_DELAY_MS", "-1"),
        ("LOCAL_AIRCALL_LIMITS_OTHER", "1,2"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_problem(name, value):
    with pytest.raises(ConfigError):
        SandboxConfig.from_env({name: value})


def test_the_public_url_builds_the_links(start_sandbox):
    running = start_sandbox(public_url="https://sandbox.example.com/")

    number = running.api.get("/v1/numbers/100001").json()["number"]

    assert number["direct_link"] == "https://sandbox.example.com/v1/numbers/100001"
