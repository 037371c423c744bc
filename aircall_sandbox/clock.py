"""The sandbox clock: real time plus an offset that tests move, so a day of traffic runs in seconds.

Every timestamp the sandbox issues and every quota window it counts in reads this clock. Callback delays
are real time (they pace threads, not windows).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from aircall_sandbox.config import TimestampUnit


class SandboxClock:
    def __init__(self, lock: threading.RLock) -> None:
        """`lock` is the sandbox's one state lock, shared so a reading of the clock and of the state agree."""
        self._lock = lock
        self._offset = 0.0

    def now(self) -> float:
        """UNIX seconds on the sandbox clock."""
        with self._lock:
            return time.time() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (naive datetimes are read as UTC); time keeps flowing from there."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        with self._lock:
            self._offset = moment.timestamp() - time.time()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


def iso_utc(moment: datetime) -> str:
    """`2026-11-26T14:00:00.123456Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_time(epoch_ms: int, unit: TimestampUnit) -> int | str:
    """A sandbox timestamp in one of the units Aircall's payloads use: UNIX seconds, epoch ms or ISO 8601."""
    match unit:
        case "milliseconds":
            return epoch_ms
        case "seconds":
            return epoch_ms // 1000
        case "iso8601":
            moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
