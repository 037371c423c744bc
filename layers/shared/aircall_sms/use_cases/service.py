"""GET /health: the gateway is healthy when its tables answer."""

from __future__ import annotations

from typing import Any

from aircall_sms.store import health as store_health


def health() -> dict[str, Any]:
    store_health.tables_answer()
    return {"status": "ok"}
