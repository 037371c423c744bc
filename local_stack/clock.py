"""One simulated clock for the gateway and the Aircall sandbox: move both forward together, so hours of quota
windows and minutes of request budget pass in seconds while both sides agree on the time (the dispatcher's
tests and the quota drain simulation of `make bench`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from aircall_sms.domain import timeutil


class SimulatedClock:
    """`advance(seconds)` moves the gateway's clock (`aircall_sms.domain.timeutil`) and the sandbox's (its control
    route) by the same amount; `sleep` is `advance`, for code that waits (the dispatcher's pacing)."""

    def __init__(self, sandbox_url: str) -> None:
        self._http = httpx.Client(base_url=sandbox_url, timeout=10)
        self.advanced = 0.0

    def advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._http.post("/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()
        timeutil.advance_clock(timedelta(seconds=seconds))
        self.advanced += seconds

    sleep = advance

    def advance_to(self, moment_seconds: float) -> None:
        """Move forward to `moment_seconds` (epoch seconds on the gateway's clock), if it is ahead."""
        self.advance(moment_seconds - timeutil.utcnow().timestamp())

    def close(self) -> None:
        """Back to real time on both sides."""
        if self.advanced:
            self._http.post("/_sandbox/clock", json={"set": timeutil.iso(datetime.now(UTC))})
        timeutil.reset_clock()
        self.advanced = 0.0
        self._http.close()

    def __enter__(self) -> SimulatedClock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
