"""Lists in the contract: `{"items": [...], "next_cursor": ...}`, `limit` (default 50, at most 500) and the
opaque cursor, which is DynamoDB's LastEvaluatedKey as base64url of its JSON. A client never reads a cursor; the
gateway checks one before handing it back to DynamoDB (only string key attributes, a bounded size)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aircall_sms.errors import InvalidRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_CHARACTERS = 2048


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """The cursor of the next page, or None at the end."""
    if not last_key:
        return None
    document = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(document).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, keys: frozenset[str]) -> dict[str, Any] | None:
    """The LastEvaluatedKey a cursor carries (None: the first page); `keys` are the attribute names it must
    have. A cursor that is not one of ours is a 400 `invalid_request`."""
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > MAX_CURSOR_CHARACTERS:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        last_key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise _invalid() from None
    if not isinstance(last_key, dict) or set(last_key) != keys:
        raise _invalid()
    for value in last_key.values():
        if not isinstance(value, dict) or set(value) != {"S"} or not isinstance(value["S"], str):
            raise _invalid()
    return last_key


def _invalid() -> InvalidRequest:
    return InvalidRequest("The cursor is not one this list returned.", details={"field": "cursor"})
