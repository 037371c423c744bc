"""Client keys through the API (scope `admin`): make one (its key shown once), list them without secrets, revoke
one. A key can only be made within its maker's reach: an admin key limited to numbers makes keys limited to some
of them. The deployment's own admin key lives in Secrets Manager, not here: rotate that secret to change it."""

from __future__ import annotations

from typing import Any

from aircall_sms.domain import access, pages
from aircall_sms.domain.access import Principal
from aircall_sms.domain.ids import new_id
from aircall_sms.domain.requests import KeyRequest
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.errors import InvalidRequest, NotFound
from aircall_sms.observability import logger
from aircall_sms.store import client_keys
from aircall_sms.use_cases.numbers import parse_number_id

KEY_CURSOR_KEYS = frozenset({"key_id"})


def create_key(principal: Principal, request: KeyRequest) -> dict[str, Any]:
    """POST /api-keys: `{"id", "name", "scopes", "number_ids", "key", "created_at", ...}`; `key` is never shown
    again (only its digest is kept)."""
    scopes = access.check_scopes(request.scopes)
    number_ids = None
    if request.number_ids is not None:
        number_ids = sorted({parse_number_id(str(number)) for number in request.number_ids}, key=int)
        if not number_ids:
            raise InvalidRequest("number_ids names no number (null: every number).", details={"field": "number_ids"})
        for number_id in number_ids:
            principal.require_number(number_id)
    else:
        principal.require_every_number()
    new = access.new_key(new_id("key"))
    record = client_keys.create(
        new, name=request.name, scopes=scopes, number_ids=number_ids, created_by=principal.client_id, now=utcnow()
    )
    logger.info("client key created", extra={"key_id": record.key_id, "created_by": principal.client_id})
    return record.to_api() | {"key": new.key}


def list_keys(limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /api-keys: the keys without their secrets (revoked ones too, with `revoked_at`)."""
    start = pages.decode_cursor(cursor, keys=KEY_CURSOR_KEYS)
    found = client_keys.page(limit, start)
    return {"items": [record.to_api() for record in found.items], "next_cursor": pages.encode_cursor(found.last_key)}


def revoke_key(principal: Principal, key_id: str) -> dict[str, Any]:
    """DELETE /api-keys/{id}: the key answers 401 from then on (deployed: once the authorizer's cached decision
    expires, at most AuthorizerCacheSeconds)."""
    record = client_keys.get(key_id, consistent=True) if access.is_key_id(key_id) else None
    if record is None:
        raise NotFound("No client key with this id.", details={"id": key_id[:64]})
    reach = record.principal().number_ids
    if reach is None:
        principal.require_every_number()
    for number_id in sorted(reach or ()):
        principal.require_number(number_id)
    revoked = client_keys.revoke(key_id, by=principal.client_id, now=utcnow())
    assert revoked is not None
    logger.info("client key revoked", extra={"key_id": key_id, "revoked_by": principal.client_id})
    return revoked.to_api()
