"""Settings every suite shares: a region, dummy credentials and table names, so nothing ever reaches AWS."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AircallSmsGatewayTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "aircall-sms-gateway")
os.environ.setdefault("MESSAGES_TABLE", "MessagesTable")
os.environ.setdefault("NUMBERS_TABLE", "NumbersTable")
os.environ.setdefault("LEDGER_TABLE", "LedgerTable")
os.environ.setdefault("CONTACTS_TABLE", "ContactsTable")
os.environ.setdefault("CALLBACKS_TABLE", "CallbacksTable")
os.environ.setdefault("KEYS_TABLE", "KeysTable")


@pytest.fixture(autouse=True)
def _fresh_settings_and_clock():
    """Every test starts with the settings read afresh and the gateway's clock running (`timeutil.freeze` stops
    it; this starts it again)."""
    from aircall_sms.domain import timeutil
    from aircall_sms.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    timeutil.reset_clock()
