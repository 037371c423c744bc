"""The sign-in provider's public keys (its JWKS, `<issuer>/.well-known/jwks.json`), fetched over httpx and kept
per instance: a token naming a key not in the kept set makes one new fetch (providers rotate keys), at most every
`REFRESH_SECONDS`, so forged key ids cannot make the authorizer fetch on every request."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aircall_sms.domain.tokens import PublicKey, keys_of

if TYPE_CHECKING:  # annotations only: httpx is imported by the first fetch (the authorizer's key requests never)
    import httpx

REFRESH_SECONDS = 60.0
TIMEOUT_SECONDS = 3.0


class KeysUnavailable(RuntimeError):
    """The provider's keys could not be read (the request is refused as for an unknown key)."""


class KeySet:
    """One issuer's keys, fetched when first needed and again for an unknown key id (rate-limited)."""

    def __init__(self, issuer: str, transport: httpx.BaseTransport | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self._transport = transport
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self.fetches = 0

    def key(self, kid: str) -> PublicKey | None:
        if kid not in self._keys and (
            self._fetched_at is None or time.monotonic() - self._fetched_at >= REFRESH_SECONDS
        ):
            self._keys = keys_of(self._fetch())
        return self._keys.get(kid)

    def _fetch(self) -> dict[str, Any]:
        import httpx

        self._fetched_at = time.monotonic()
        self.fetches += 1
        try:
            with httpx.Client(timeout=httpx.Timeout(TIMEOUT_SECONDS), transport=self._transport) as client:
                answer = client.get(f"{self.issuer}/.well-known/jwks.json")
                answer.raise_for_status()
                document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise KeysUnavailable(type(error).__name__) from None
        if not isinstance(document, dict):
            raise KeysUnavailable("not a JWKS document")
        return document
