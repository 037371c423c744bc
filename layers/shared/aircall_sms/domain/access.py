"""Who may do what: the principal a request acts for (a client key, or the deployment's admin key), the scopes of
the contract's Access section, and a key limited to some numbers.

A client key is `key_<26 characters>.<43-character secret>`: the id part names the stored record, the secret is
shown once and only its SHA-256 is kept. The admin key made at deploy is any other string, compared with the one
in Secrets Manager.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from aircall_sms.errors import InsufficientScope, NumberNotAllowed

SEND, READ, EXPORT, CONTACTS, NUMBERS, ADMIN = "send", "read", "export", "contacts", "numbers", "admin"
SCOPES: tuple[str, ...] = (SEND, READ, EXPORT, CONTACTS, NUMBERS, ADMIN)
ADMIN_CLIENT_ID = "admin"  # the deployment's admin key (Secrets Manager), which has no stored record
GATEWAY_CLIENT_ID = "gateway"  # what the gateway does on its own (automatic replies to keywords)

_KEY_ID = re.compile(r"key_[0-9A-HJKMNP-TV-Z]{26}")
_KEY = re.compile(rf"({_KEY_ID.pattern})\.([A-Za-z0-9_-]{{43}})")
MAX_KEY_CHARACTERS = 512


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: `client_id` (a key's id), its `scopes`, and `number_ids` (None: every number);
    `person` is the name of the person signed in (the console's people, `domain.tokens`), None for a key."""

    client_id: str
    scopes: frozenset[str]
    number_ids: frozenset[str] | None = None
    person: str | None = None

    def has(self, scope: str) -> bool:
        return ADMIN in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise InsufficientScope(
                f"This key does not have the {scope!r} scope this route needs.", details={"required": scope}
            )

    def allows(self, number_id: str) -> bool:
        return self.number_ids is None or number_id in self.number_ids

    def require_number(self, number_id: str) -> None:
        if not self.allows(number_id):
            raise NumberNotAllowed(
                "This key is limited to other numbers.",
                details={"number_id": int(number_id) if number_id.isdigit() else None},
            )

    def require_every_number(self) -> None:
        """What only a key for every number may do (a company-wide opt-out removed, a company-wide consent)."""
        if self.number_ids is not None:
            raise NumberNotAllowed("This key is limited to some numbers; name one of them (number_id).", details={})

    def narrowed(self, number_ids: Iterable[str]) -> list[str]:
        """The numbers of `number_ids` this principal may see, in their order."""
        return [number_id for number_id in number_ids if self.allows(number_id)]


# What the gateway does on its own behalf (automatic replies): every scope, every number.
GATEWAY = Principal(GATEWAY_CLIENT_ID, frozenset({ADMIN}))
# The deployment's admin key (Secrets Manager): every scope, every number.
ADMIN_PRINCIPAL = Principal(ADMIN_CLIENT_ID, frozenset({ADMIN}))


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key as it is made: its id, the secret (shown once) and the digest kept of it."""

    key_id: str
    secret: str

    @property
    def key(self) -> str:
        return f"{self.key_id}.{self.secret}"

    @property
    def digest(self) -> str:
        return digest(self.secret)


def new_key(key_id: str) -> NewKey:
    """A new secret for `key_id` (256 random bits)."""
    return NewKey(key_id, secrets.token_urlsafe(32))


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a client key; None when `presented` does not have a client key's shape."""
    match = _KEY.fullmatch(presented)
    return (match.group(1), match.group(2)) if match else None


def is_key_id(text: str) -> bool:
    return _KEY_ID.fullmatch(text) is not None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; raises ValueError naming an unknown one."""
    found = frozenset(scopes)
    unknown = sorted(found - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}")
    return found
