"""When to refresh what: intervals, no overlap, back-off on errors and throttling.

Pure bookkeeping (no Textual, no I/O) so the rules can be tested with a fake clock. The app asks
`due()` on a one-second heartbeat, calls `started()` when it launches a worker and
`succeeded()`/`failed()` when the worker reports back. A track with a refresh in flight is never
due: a refresh never overlaps the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BACKOFF = 300.0  # seconds
THROTTLED_MIN_BACKOFF = 60.0  # ARM's own Retry-After is often far longer; never hammer it
SLOW_FACTOR = 4.0  # when the headroom is low


@dataclass(slots=True)
class Track:
    name: str
    interval: float
    next_due: float = 0.0  # 0: due now
    in_flight: bool = False
    started_at: float | None = None
    last_ok: float | None = None
    last_error: str | None = None
    failures: int = 0
    throttled: bool = False
    token: int = 0  # generation of the refresh in flight; reports from older ones are ignored

    @property
    def stale(self) -> bool:
        """The data shown is from before a failed refresh."""
        return self.last_error is not None


class RefreshPlan:
    def __init__(self, intervals: dict[str, float]) -> None:
        self.tracks = {name: Track(name, interval) for name, interval in intervals.items()}
        self.slow = False  # throttling headroom low: poll less

    def __getitem__(self, name: str) -> Track:
        return self.tracks[name]

    def interval(self, name: str) -> float:
        track = self.tracks[name]
        return track.interval * (SLOW_FACTOR if self.slow else 1.0)

    def due(self, name: str, now: float) -> bool:
        track = self.tracks[name]
        return not track.in_flight and now >= track.next_due

    def started(self, name: str, now: float) -> int:
        """Mark a refresh in flight; returns its token for `succeeded`/`failed`."""
        track = self.tracks[name]
        track.in_flight = True
        track.started_at = now
        track.token += 1
        return track.token

    def succeeded(self, name: str, now: float, token: int) -> bool:
        """False (and nothing recorded) when `token` is not the refresh in flight."""
        track = self.tracks[name]
        if token != track.token or not track.in_flight:
            return False
        track.in_flight = False
        track.last_ok = now
        track.last_error = None
        track.failures = 0
        track.throttled = False
        track.next_due = now + self.interval(name)
        return True

    def failed(self, name: str, now: float, token: int, message: str, *, throttled: bool = False) -> float | None:
        """Record a failure; returns the delay before the next attempt (None: stale report)."""
        track = self.tracks[name]
        if token != track.token or not track.in_flight:
            return None
        track.in_flight = False
        track.last_error = message
        track.failures += 1
        track.throttled = throttled
        delay = min(MAX_BACKOFF, self.interval(name) * (2 ** min(track.failures, 8)))
        if throttled:
            delay = max(delay, THROTTLED_MIN_BACKOFF)
        track.next_due = now + delay
        return delay

    def cancelled(self, name: str) -> None:
        """The worker was cancelled (a newer request replaces it): due again at once, and
        whatever the cancelled one still reports is ignored."""
        track = self.tracks[name]
        track.in_flight = False
        track.token += 1
        track.next_due = 0.0

    def request_now(self, name: str) -> None:
        """ctrl+r, a selection change, an action's end: due at the next tick (unless backing off
        from throttling, which a key press must not defeat)."""
        track = self.tracks[name]
        if track.throttled:
            return
        track.next_due = 0.0
