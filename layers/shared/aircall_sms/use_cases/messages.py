"""Reading the archive."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from ..store import messages

MAX_ID_LENGTH = 128


def get_message(message_id: str) -> dict[str, Any]:
    record = messages.get(message_id) if 0 < len(message_id) <= MAX_ID_LENGTH else None
    if record is None:
        raise NotFound("No message with this id.", details={"id": message_id[:MAX_ID_LENGTH]})
    return record.to_api()
