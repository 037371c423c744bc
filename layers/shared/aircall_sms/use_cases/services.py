"""The outside services a use case needs, built lazily once per Lambda instance and reused while warm."""

from __future__ import annotations

from typing import Any

from aircall_sms.clients.aircall import AircallClient, Credentials
from aircall_sms.settings import get_settings
from aircall_sms.store.base import aws_client

_client: tuple[Credentials, AircallClient] | None = None
_event_bridge: Any = None


def aircall() -> AircallClient:
    """The Aircall client with the current credentials from Secrets Manager (cached by Powertools for
    `AIRCALL_CREDENTIALS_MAX_AGE` seconds; a rotated secret gives a new client)."""
    global _client
    credentials = _credentials()
    if _client is None or _client[0] != credentials:
        settings = get_settings()
        client = AircallClient(
            settings.aircall_api_base_url,
            credentials,
            connect_timeout=settings.aircall_connect_timeout,
            read_timeout=settings.aircall_read_timeout,
            # After Aircall answers, its outcome is recorded: one whole DynamoDB attempt stays for that.
            keep_after=settings.dynamodb_attempt_seconds,
        )
        _client = (credentials, client)
    return _client[1]


def forget() -> None:
    """Drop the Aircall and EventBridge clients (their connections and credentials): the next call makes new
    ones. For SnapStart's restores (`aircall_sms.use_cases.snapshot`) and tests."""
    global _client, _event_bridge
    if _client is not None:
        _client[1].close()
    _client = None
    _event_bridge = None


def event_bridge() -> Any:
    """The EventBridge client (PutEvents to the gateway's bus), made from the botocore session the tables already
    use: same region, endpoint settings and credentials, and no second load of botocore's endpoint data."""
    global _event_bridge
    if _event_bridge is None:
        _event_bridge = aws_client("events")
    return _event_bridge


def _credentials() -> Credentials:
    from aws_lambda_powertools.utilities.parameters import get_secret

    settings = get_settings()
    _install_secrets_provider()
    secret = get_secret(settings.aircall_credentials_secret, transform="json", max_age=settings.credentials_max_age)
    if not isinstance(secret, dict):
        raise ValueError("the Aircall credentials secret must be a JSON object")
    return Credentials.from_mapping(secret)


def admin_key() -> str | None:
    """The deployment's admin key (the Secrets Manager secret `ADMIN_KEY_SECRET`, generated at deploy; cached like
    the Aircall credentials); None when there is no such secret, or it is empty."""
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    settings = get_settings()
    _install_secrets_provider()
    try:
        value = get_secret(settings.admin_key_secret, max_age=settings.credentials_max_age)
    except GetParameterError:
        return None
    return value if isinstance(value, str) and value else None


def _install_secrets_provider() -> None:
    """`get_secret` uses Powertools' default Secrets Manager provider, created on first use with a client of a
    new boto3 session: that session loads botocore's endpoint and partition data again (tens of ms of a cold
    start). Install that default provider first, with a client of the botocore session the DynamoDB tables
    already use: same region, endpoint settings, credentials and configuration, the data loaded once. It stays
    Powertools' default provider: `parameters.clear_caches()` forgets it and its cached values alike."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        client = aws_client("secretsmanager")
        DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=client)
