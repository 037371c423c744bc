"""The message status machine: statuses only move forward; final statuses never change.

    deferred -> unknown -> queued -> sent -> delivered | failed
    deferred -> rejected | expired;  inbound messages are `received`.
    scheduled (a `send_at` not reached yet) -> unknown | rejected | expired, as `deferred`;
    scheduled | deferred -> cancelled (DELETE /messages/{id}).

`unknown` means "the outcome of the Aircall call is not known" (a timeout, or a crash between the
reservation and Aircall's answer): any later evidence (Aircall's answer, a callback) may settle it.
"""

from __future__ import annotations

from typing import Final

RANK: Final[dict[str, int]] = {
    "scheduled": 0,
    "deferred": 0,
    "unknown": 1,
    "queued": 2,
    "sent": 3,
    "delivered": 4,
    "failed": 4,
    "rejected": 4,
    "expired": 4,
    "received": 4,
    "cancelled": 4,
}
FINAL: Final[frozenset[str]] = frozenset({"delivered", "failed", "rejected", "expired", "received", "cancelled"})
# Waiting in a number's dispatch queue: nothing sent, nothing charged; the dispatcher sends them (or a client
# cancels them).
WAITING: Final[tuple[str, ...]] = ("deferred", "scheduled")
STATUSES: Final[tuple[str, ...]] = tuple(RANK)

# Aircall's status words (send responses and callbacks) in the gateway's vocabulary.
_FROM_AIRCALL: Final[dict[str, str]] = {
    "pending": "queued",
    "queued": "queued",
    "accepted": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "failed": "failed",
    "undelivered": "failed",
    "error": "failed",
    "rejected": "failed",
    "received": "received",
}


def from_aircall(status: object) -> str | None:
    """The gateway status for an Aircall status word, or None for a word we do not know."""
    if not isinstance(status, str):
        return None
    return _FROM_AIRCALL.get(status.strip().lower())


def predecessors(target: str) -> tuple[str, ...]:
    """The statuses a message may be in for `target` to be a forward move."""
    rank = RANK[target]
    return tuple(status for status, r in RANK.items() if r < rank and status not in FINAL)


def can_move(current: str, target: str) -> bool:
    return current in predecessors(target)
