"""Which principal a request's client key stands for (the authorizer's decision): `Authorization: Bearer <key>`
or `x-api-key: <key>`; a client key is looked up by its id and its secret compared by digest in constant time; any
other key is compared with the deployment's admin key (Secrets Manager). Missing, malformed, unknown, revoked or
wrong keys are all the same 401: what failed is logged (never the key), not told.

A signed-in person's token (the console: a JWT of the sign-in provider, `SIGN_IN_ISSUER`) is accepted as well:
verified against the provider's public keys (`domain.tokens`, `clients.jwks`), it stands for the person, with
their groups' scopes. Tokens are not kept in the decision cache: checking one reads nothing but the kept keys.

Decisions are kept per instance for `AUTHORIZER_CACHE_SECONDS` (at most 300; 0: none), so a warm authorizer
answers a known key without reading DynamoDB; a revoked key is refused once its cached decision expires.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from aircall_sms.clients.jwks import KeySet, KeysUnavailable
from aircall_sms.domain import access, tokens
from aircall_sms.domain.access import Principal
from aircall_sms.errors import Unauthorized
from aircall_sms.observability import logger, metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import client_keys
from aircall_sms.use_cases import services

_decisions: dict[str, tuple[float, Principal]] = {}
MAX_CACHED = 1_000


def presented_key(headers: Mapping[str, str | None]) -> str | None:
    """The key a request names: `Authorization: Bearer <key>` first, else `x-api-key` (header names in any case)."""
    by_name = {name.lower(): value for name, value in headers.items() if isinstance(value, str)}
    authorization = by_name.get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            return credential.strip()
    api_key = by_name.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def authorize(headers: Mapping[str, str | None]) -> Principal:
    """The principal of the request's key; raises Unauthorized (401) for anything else."""
    presented = presented_key(headers)
    if presented is None:
        raise _refused("missing")
    if tokens.looks_like_token(presented):
        return person(presented)
    if len(presented) > access.MAX_KEY_CHARACTERS or not presented.isascii() or not presented.isprintable():
        raise _refused("malformed")
    cache_key = access.digest(presented)
    cached = _decisions.get(cache_key)
    max_age = get_settings().authorizer_cache_seconds
    if cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    principal = _decide(presented)
    if max_age > 0:
        if len(_decisions) >= MAX_CACHED:
            _decisions.clear()
        _decisions[cache_key] = (time.monotonic(), principal)
    return principal


def forget() -> None:
    """Drop every cached decision and kept key (tests; a new instance has none)."""
    global _key_set
    _decisions.clear()
    _key_set = None


_key_set: KeySet | None = None


def person(token: str) -> Principal:
    """The person a sign-in token stands for (`domain.tokens`); Unauthorized for any token that does not verify."""
    global _key_set
    issuer = get_settings().sign_in_issuer
    if not issuer:
        raise _refused("no sign-in provider")
    if _key_set is None or _key_set.issuer != issuer:
        _key_set = KeySet(issuer)
    try:
        kid = tokens.header_of(token).get("kid")
        key = _key_set.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise tokens.InvalidToken("unknown key id")
        return tokens.principal_of(tokens.verify(token, key, issuer=issuer, now=time.time()))
    except tokens.InvalidToken as invalid:
        raise _refused(f"token: {invalid}") from None
    except KeysUnavailable:
        raise _refused("token: the provider's keys could not be read") from None


def _decide(presented: str) -> Principal:
    parsed = access.parse_key(presented)
    if parsed is None:
        admin = services.admin_key()
        if admin and hmac.compare_digest(presented.encode(), admin.encode()):
            return access.ADMIN_PRINCIPAL
        raise _refused("unknown")
    key_id, secret = parsed
    record = client_keys.get(key_id)
    expected = record.secret_sha256 if record is not None else "0" * 64
    # Compared even for unknown ids, so timing tells nothing about which ids exist.
    if not hmac.compare_digest(access.digest(secret), expected) or record is None:
        raise _refused("unknown")
    if record.revoked_at:
        raise _refused("revoked")
    return record.principal()


def _refused(reason: str) -> Unauthorized:
    logger.info("client key refused", extra={"reason": reason})
    metrics.add_metric(name="ClientKeysRefused", unit="Count", value=1)
    return Unauthorized("A valid client key is required (Authorization: Bearer <key>, or x-api-key).")
