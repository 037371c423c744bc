"""Sender pools: which of a pool's numbers sends a message, decided on one read of their windows (no I/O here).

Order of choice (docs/api.md, "Sender pools"):
1. `sticky_thread`: the number the contact last wrote to (its conversation), when it may send and has room.
2. `most_room`: the others that may send, the most room first (ties: the lowest number_id).
A number "may send" when the request-only rules pass for it (domestic, registration, French mobile purpose) and,
for a French mobile line, the contact wrote to that very line within the conversation window (such a line may only
answer: it never starts a thread). "Room" is counted against a share of each window (`share`, e.g. 0.9), never the
whole limit: a pool never pushes a number to the edge Aircall suspends at.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from aircall_sms.domain import compliance
from aircall_sms.domain.phone import PhoneNumber
from aircall_sms.errors import ComplianceRefusal, ConversationalOnly

POOL_PREFIX = "pool:"
POOL_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_POOL_NUMBERS = 16  # every window and conversation of a pool fits one BatchGetItem (100 keys)
STICKY_THREAD, MOST_ROOM = "sticky_thread", "most_room"


def pool_id_of(sender: str | int) -> str | None:
    """The pool named by a send's `from` ("pool:<id>"), or None when `from` names a number."""
    if isinstance(sender, str) and sender.startswith(POOL_PREFIX):
        return sender.removeprefix(POOL_PREFIX)
    return None


def is_pool_id(text: str) -> bool:
    return POOL_ID.fullmatch(text) is not None


def cap(limit: int, share: float) -> int:
    """The most segments a pool may put in a window of `limit` segments."""
    return math.floor(limit * share)


def same_country(regions: list[str]) -> bool:
    """Whether numbers of `regions` may form one pool: one country, or the US with Canada (one domestic zone)."""
    distinct = set(regions)
    return len(distinct) <= 1 or distinct == {"US", "CA"}


@dataclass(frozen=True, slots=True)
class WindowUse:
    """One window of a pool number as read: its limit, the segments used, when it ends."""

    name: str
    limit: int
    used: int
    end: datetime

    def cap(self, share: float) -> int:
        return cap(self.limit, share)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A number of the pool as read: its identity and rules' facts, its windows, and when the contact last wrote
    to it (None: never, or the conversation is gone)."""

    number_id: str
    sender: PhoneNumber
    registration: str
    windows: tuple[WindowUse, ...]
    contact_wrote_at: datetime | None = None

    def room(self, share: float) -> int:
        """Segments that still fit every window under the share."""
        return min((window.cap(share) - window.used for window in self.windows), default=0)

    def fits_again_at(self, segments: int, share: float) -> datetime | None:
        """When `segments` fit again (the end of every window they do not fit now); None: they never fit."""
        if any(segments > window.cap(share) for window in self.windows):
            return None
        ends = [window.end for window in self.windows if window.used + segments > window.cap(share)]
        return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class Pick:
    number_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Choice:
    """The numbers to try, in order; the numbers that may not send and why; when none fits now, the number whose
    windows reopen first and when (None: none ever fits)."""

    order: list[Pick]
    refused: dict[str, ComplianceRefusal] = field(default_factory=dict)
    reopens: tuple[str, datetime] | None = None


def choose(
    candidates: list[Candidate],
    *,
    recipient: PhoneNumber,
    purpose: str,
    human_author: str | None,
    segments: int,
    share: float,
    conversation_since: datetime,
) -> Choice:
    """The pool's order of senders for this message (see the module docstring)."""
    refused: dict[str, ComplianceRefusal] = {}
    eligible: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda found: int(found.number_id)):
        refusal = _refusal(candidate, recipient, purpose, human_author, conversation_since)
        if refusal is None:
            eligible.append(candidate)
        else:
            refused[candidate.number_id] = refusal
    fitting = [candidate for candidate in eligible if candidate.room(share) >= segments]
    order: list[Pick] = []
    threads = [candidate for candidate in fitting if candidate.contact_wrote_at is not None]
    sticky = max(threads, key=lambda found: found.contact_wrote_at or conversation_since, default=None)
    if sticky is not None:
        order.append(Pick(sticky.number_id, STICKY_THREAD))
    rest = sorted((candidate for candidate in fitting if candidate is not sticky), key=lambda c: -c.room(share))
    order.extend(Pick(candidate.number_id, MOST_ROOM) for candidate in rest)
    reopening = [
        (at, candidate.number_id)
        for candidate in eligible
        if (at := candidate.fits_again_at(segments, share)) is not None
    ]
    reopens = None
    if not order and reopening:
        at, number_id = min(reopening, key=lambda pair: (pair[0], int(pair[1])))
        reopens = (number_id, at)
    return Choice(order=order, refused=refused, reopens=reopens)


def _refusal(
    candidate: Candidate,
    recipient: PhoneNumber,
    purpose: str,
    human_author: str | None,
    conversation_since: datetime,
) -> ComplianceRefusal | None:
    static = compliance.static_refusal(
        sender=candidate.sender, registration=candidate.registration, recipient=recipient, purpose=purpose
    )
    if static is not None:
        return static
    wrote = candidate.contact_wrote_at
    if compliance.needs_open_conversation(candidate.sender, human_author=human_author) and (
        wrote is None or wrote < conversation_since
    ):
        return ConversationalOnly(
            "French mobile lines of a pool only answer a contact who wrote to that line within the conversation "
            "window; they never start a thread.",
            details={"number_id": int(candidate.number_id)},
        )
    return None
