"""The time an invocation has left, and what an outbound call may take of it.

Lambda kills a function at its timeout, whatever it is doing: a send killed after Aircall accepted the message
leaves it unrecorded. So every outbound deadline comes from the time left (`context.get_remaining_time_in_millis`)
instead of adding fixed timeouts that could exceed it:

- the handler starts a `Budget` for the invocation (`start`), ending `MARGIN` before Lambda's own end (the answer,
  the logs and the metrics still need that);
- a DynamoDB attempt starts only while a whole attempt (connect + read timeouts) fits in what is left, so it
  answers or times out before the end;
- an Aircall call keeps back `keep` seconds for recording its outcome (one whole DynamoDB attempt), takes its
  connect timeout and at most its read timeout of the rest, and does not start at all (`None`) when less than
  `min_read` would be left to read Aircall's answer.

Outside an invocation (scripts, the stream functions, a test calling a use case) there is no budget and the
configured timeouts apply as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

MARGIN = 0.5  # seconds kept at the end of an invocation for its answer, logs and metrics


@dataclass(frozen=True, slots=True)
class CallTimeouts:
    connect: float
    read: float


@dataclass(frozen=True, slots=True)
class Budget:
    """The invocation's end on `clock` (a monotonic clock, in seconds)."""

    ends_at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def from_remaining(
        cls, remaining_ms: int, *, margin: float = MARGIN, clock: Callable[[], float] = time.monotonic
    ) -> Budget:
        return cls(ends_at=clock() + max(0, remaining_ms) / 1000 - margin, clock=clock)

    def left(self) -> float:
        """Seconds left before the budget's end (negative once past it)."""
        return self.ends_at - self.clock()

    def fits(self, seconds: float) -> bool:
        """True when `seconds` of work, started now, ends before the budget does."""
        return self.left() >= seconds

    def call_timeouts(self, *, connect: float, read: float, keep: float, min_read: float) -> CallTimeouts | None:
        """The timeouts of a call started now that leaves `keep` seconds after it: the configured `connect`, and
        `read` shortened to what is left after the connect; None when less than `min_read` would be left."""
        available = self.left() - keep - connect
        if available < min_read:
            return None
        return CallTimeouts(connect=connect, read=min(read, available))


_current: ContextVar[Budget | None] = ContextVar("invocation_budget", default=None)


def current() -> Budget | None:
    """The budget of the invocation running in this thread (None: none was started)."""
    return _current.get()


@contextmanager
def invocation(remaining_ms: int | None, *, clock: Callable[[], float] = time.monotonic) -> Iterator[Budget | None]:
    """Run the body of a handler with a budget of `remaining_ms` (None: no budget, e.g. no Lambda context)."""
    budget = None if remaining_ms is None else Budget.from_remaining(remaining_ms, clock=clock)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def remaining_ms_of(context: object) -> int | None:
    """`context.get_remaining_time_in_millis()`, or None for a context without it."""
    method = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(method):
        return None
    value = method()
    return value if isinstance(value, int) else None
