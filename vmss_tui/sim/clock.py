"""Simulated time.

The simulator schedules state changes (a VM takes ~19 s to power off) in *simulated*
seconds; `speed` maps real seconds to simulated ones, so tests can run a whole rolling
upgrade in a fraction of a second. A manual clock lets tests step time explicitly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated seconds that advance `speed` times faster than the real monotonic clock."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real_origin = time.monotonic()
        self._wall_origin = datetime.now(UTC)

    def now(self) -> float:
        """Simulated seconds since the clock was created."""
        return (time.monotonic() - self._real_origin) * self.speed

    def real_seconds(self, sim_seconds: float) -> float:
        """How long `sim_seconds` of simulated time takes in real time."""
        return sim_seconds / self.speed

    def wall(self, sim_time: float | None = None) -> datetime:
        """The simulated wall-clock time of `sim_time` (default: now)."""
        return self._wall_origin + timedelta(seconds=self.now() if sim_time is None else sim_time)

    def iso(self, sim_time: float | None = None) -> str:
        """ISO 8601 timestamp as ARM writes them (UTC, 7 fractional digits, 'Z' would also do)."""
        return self.wall(sim_time).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


class ManualClock(SimClock):
    """A clock that only moves when a test calls `advance`."""

    def __init__(self) -> None:
        super().__init__(1.0)
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
