"""People's sign-in tokens: JSON Web Tokens signed RS256 by the sign-in provider (Cognito's user pool deployed, the
local identity provider on the local stack), checked against the provider's public keys (its JWKS).

Verification is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3, RFC 8017 8.2.2): the signature, raised to the
key's public exponent, must equal the encoding of the signed input's digest, compared whole in constant time (no
parsing of the decoded block). Only RS256 is accepted (never `none`, never an HMAC with the public key); the
claims must name the expected issuer, a token use of `id` or `access`, and a time of validity containing now.

A person's principal: `client_id` `person:<username>`, the scopes of their groups (`GROUP_SCOPES`; a group the
gateway does not know gives nothing), every number, and `person` (their name, else e-mail, else username), which
POST /messages records as `human_author`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aircall_sms.domain.access import ADMIN, CONTACTS, EXPORT, READ, SEND, Principal

PERSON_PREFIX = "person:"
MAX_TOKEN_CHARACTERS = 8192
LEEWAY_SECONDS = 60  # clocks differ a little between the provider and Lambda
# RFC 8017 9.2 note 1: the DER prefix of a SHA-256 DigestInfo.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MIN_MODULUS_BITS = 2048

# A Cognito group's name -> the API scopes its people have.
GROUP_SCOPES: Mapping[str, frozenset[str]] = {
    "agents": frozenset({SEND, READ}),
    "supervisors": frozenset({SEND, READ, CONTACTS, EXPORT}),
    "admins": frozenset({ADMIN}),
}


class InvalidToken(ValueError):
    """Why a token is refused (logged, never told: the client sees the same 401 as for a bad key)."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One RSA key of a JWKS: its id, modulus and public exponent."""

    kid: str
    n: int
    e: int

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        if jwk.get("kty") != "RSA" or jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
            raise InvalidToken("not an RS256 signing key")
        kid, n, e = jwk.get("kid"), jwk.get("n"), jwk.get("e")
        if not isinstance(kid, str) or not isinstance(n, str) or not isinstance(e, str):
            raise InvalidToken("a key without kid, n or e")
        key = cls(kid, int.from_bytes(_b64(n), "big"), int.from_bytes(_b64(e), "big"))
        if key.n.bit_length() < MIN_MODULUS_BITS or key.e < 3 or key.e % 2 == 0:
            raise InvalidToken("a weak key")
        return key


def keys_of(jwks: Mapping[str, Any]) -> dict[str, PublicKey]:
    """The RS256 signing keys of a JWKS document, by kid (other keys are left out)."""
    found: dict[str, PublicKey] = {}
    for jwk in jwks.get("keys") or []:
        if isinstance(jwk, Mapping):
            try:
                key = PublicKey.from_jwk(jwk)
            except (InvalidToken, binascii.Error, ValueError):
                continue
            found[key.kid] = key
    return found


def looks_like_token(presented: str) -> bool:
    """A JWT's shape (three base64url parts, a JSON header): a client key never has it."""
    return presented.startswith("eyJ") and len(presented) <= MAX_TOKEN_CHARACTERS and bool(_JWT.fullmatch(presented))


def header_of(token: str) -> dict[str, Any]:
    """The token's header (its `kid` names the key to check it with)."""
    if not looks_like_token(token):
        raise InvalidToken("malformed")
    return _json_part(token.split(".")[0])


def verify(token: str, key: PublicKey, *, issuer: str, now: float) -> dict[str, Any]:
    """The token's claims when `key` signed it, RS256, for `issuer`, valid at `now`; else InvalidToken."""
    header = header_of(token)
    if header.get("alg") != "RS256":
        raise InvalidToken("algorithm")
    if header.get("kid") != key.kid:
        raise InvalidToken("key id")
    head, body, signature = token.split(".")
    if not _signature_matches(f"{head}.{body}".encode("ascii"), _b64(signature), key):
        raise InvalidToken("signature")
    claims = _json_part(body)
    if claims.get("iss") != issuer:
        raise InvalidToken("issuer")
    if claims.get("token_use") not in ("id", "access"):
        raise InvalidToken("token use")
    expires, issued = claims.get("exp"), claims.get("iat", 0)
    if not isinstance(expires, int | float) or isinstance(expires, bool) or expires + LEEWAY_SECONDS <= now:
        raise InvalidToken("expired")
    if not isinstance(issued, int | float) or issued - LEEWAY_SECONDS > now:
        raise InvalidToken("issued in the future")
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before - LEEWAY_SECONDS > now:
        raise InvalidToken("not yet valid")
    return claims


def principal_of(claims: Mapping[str, Any]) -> Principal:
    """The person a verified token stands for, with their groups' scopes."""
    username = claims.get("cognito:username") or claims.get("username")
    if not isinstance(username, str) or not username.strip():
        raise InvalidToken("no username")
    groups = claims.get("cognito:groups") or []
    if not isinstance(groups, list):
        raise InvalidToken("groups")
    scopes = frozenset().union(*(GROUP_SCOPES.get(str(group), frozenset()) for group in groups))
    person = next(
        (str(value).strip() for value in (claims.get("name"), claims.get("email")) if isinstance(value, str)),
        "",
    )
    return Principal(PERSON_PREFIX + username.strip(), scopes, None, person=person or username.strip())


def _signature_matches(signed: bytes, signature: bytes, key: PublicKey) -> bool:
    size = (key.n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    value = int.from_bytes(signature, "big")
    if value >= key.n:
        return False
    decoded = pow(value, key.e, key.n).to_bytes(size, "big")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    return hmac.compare_digest(decoded, expected)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json_part(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(part))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed")
    return value
