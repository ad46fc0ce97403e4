"""One poller for every refresh: tracks registered by the panes and screens that own them.

A `Track` says what to fetch (through the Fleet), how often, when it is worth fetching (its
pane is on screen) and what to do with the result (apply it to the store). The `RefreshPlan`
keeps the rules: a track never overlaps itself, a report from a refresh that is no longer the
current one is dropped (tokens), failures back off and throttling backs off for longer.

No Textual here: the app gives the poller three functions, to spawn a worker, to cancel one and
to deliver a report back on the event loop (a message, so that handlers, not workers, touch the
widgets), and calls `tick()` from its heartbeat. Tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmss_tui.domain.throttling import throttling_is_low

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet

MAX_BACKOFF = 300.0  # seconds
THROTTLED_MIN_BACKOFF = 60.0  # ARM's own Retry-After is often far longer; never hammer it
SLOW_FACTOR = 4.0  # when the headroom is low


# ---------------------------------------------------------------------- the plan (pure bookkeeping)
@dataclass(slots=True)
class TrackState:
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
    """When each track is due: intervals, no overlap, back-off on errors and throttling."""

    def __init__(self, intervals: dict[str, float] | None = None) -> None:
        self.tracks = {name: TrackState(name, interval) for name, interval in (intervals or {}).items()}
        self.slow = False  # throttling headroom low: poll less

    def __getitem__(self, name: str) -> TrackState:
        return self.tracks[name]

    def add(self, name: str, interval: float) -> TrackState:
        state = self.tracks.get(name)
        if state is None:
            state = self.tracks[name] = TrackState(name, interval)
        return state

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

    def due_within(self, name: str, now: float, seconds: float) -> None:
        """Due no later than `seconds` from now (unless backing off from throttling)."""
        track = self.tracks[name]
        if not track.throttled:
            track.next_due = min(track.next_due, now + seconds)


# ---------------------------------------------------------------------- tracks and the poller
class FetchContext:
    """What a track's fetch gets: the Fleet, and `emit` to hand over part of a result early
    (applied at once if the refresh is still the current one)."""

    def __init__(self, poller: Poller, track: Track, token: int, *, due: bool) -> None:
        self.fleet: Fleet | None = poller.fleet
        self.due = due  # False: started early because the track was urgent
        self._poller = poller
        self._track = track
        self._token = token

    def emit(self, part: Any) -> None:
        self._poller._deliver(TrackReport(self._track.name, self._token, part, partial=True))


def _always() -> bool:
    return True


@dataclass(eq=False)
class Track:
    """A refresh: `fetch(context)` returns the awaitable to run now, or None when there is
    nothing to fetch yet (it stays due); `apply(result)` hands the result to the store."""

    name: str
    interval: float
    fetch: Callable[[FetchContext], Awaitable[Any] | None]
    apply: Callable[[Any], None]
    visible: Callable[[], bool] = _always  # on screen: tracks of hidden panes wait
    urgent: Callable[[], bool] | None = None  # fetch before the interval is up (rows came into view)
    needs_fleet: bool = True
    apply_partial: Callable[[Any], None] | None = None  # for FetchContext.emit
    discard: Callable[[Any], None] | None = None  # a result that arrived too late (e.g. close it)
    label: str = ""  # for people: "Refresh of instances failed"


@dataclass(frozen=True, slots=True)
class TrackReport:
    track: str
    token: int
    result: Any = None
    error: str | None = None  # one line
    throttled: bool = False
    partial: bool = False


@dataclass(slots=True)
class Failure:
    track: Track
    error: str
    delay: float
    throttled: bool
    first: bool  # a different error than the last one reported


ErrorText = Callable[[BaseException], str]


@dataclass
class Poller:
    clock: Callable[[], float]
    spawn: Callable[[str, Coroutine[Any, Any, None]], None]  # run a worker in a group named after the track
    cancel_group: Callable[[str], None]
    deliver: Callable[[TrackReport], None]  # hand a report back to the event loop (a message)
    describe_error: ErrorText
    is_throttled: Callable[[BaseException], bool]
    on_success: Callable[[Track, float], None] = lambda track, now: None
    on_failure: Callable[[Failure], None] = lambda failure: None
    fleet: Fleet | None = None
    plan: RefreshPlan = field(default_factory=RefreshPlan)
    stopped: bool = False
    _tracks: dict[str, Track] = field(default_factory=dict)
    _last_error: str | None = None

    # ------------------------------------------------------------------ registration
    def register(self, track: Track) -> None:
        self._tracks[track.name] = track
        self.plan.add(track.name, track.interval)

    def unregister(self, name: str) -> None:
        if self._tracks.pop(name, None) is not None:
            self.cancel(name)
            del self.plan.tracks[name]

    def track(self, name: str) -> Track:
        return self._tracks[name]

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def __contains__(self, name: str) -> bool:
        return name in self._tracks

    def set_interval(self, name: str, seconds: float) -> None:
        self.plan[name].interval = seconds

    # ------------------------------------------------------------------ running
    def tick(self) -> None:
        """Start every track that is due (or urgent), on screen, and has something to fetch."""
        if self.stopped:
            return
        now = self.clock()
        self.plan.slow = throttling_is_low(self.fleet.throttling if self.fleet is not None else None)
        for track in list(self._tracks.values()):
            if track.needs_fleet and self.fleet is None:
                continue
            state = self.plan[track.name]
            if state.in_flight or not track.visible():
                continue
            due = self.plan.due(track.name, now)
            if not due and not (track.urgent is not None and not state.stale and track.urgent()):
                continue
            token = self.plan.started(track.name, now)
            job = track.fetch(FetchContext(self, track, token, due=due))
            if job is None:  # nothing to fetch yet: stays due, no refresh recorded
                state.in_flight = False
                continue
            self.spawn(track.name, self._run(track, token, job))

    async def _run(self, track: Track, token: int, job: Awaitable[Any]) -> None:
        try:
            result = await job
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure is one line for people
            self._deliver(TrackReport(track.name, token, error=self.describe_error(error),
                                      throttled=self.is_throttled(error)))
            return
        self._deliver(TrackReport(track.name, token, result))

    def _deliver(self, report: TrackReport) -> None:
        if not self.stopped:
            self.deliver(report)

    def report(self, report: TrackReport) -> None:
        """A worker's report, back on the event loop: apply it (if still current), then start
        what waited for it."""
        if self.stopped:
            return
        track = self._tracks.get(report.track)
        if track is None:
            return
        state = self.plan[report.track]
        now = self.clock()
        if report.partial:
            if report.token == state.token and state.in_flight and track.apply_partial is not None:
                track.apply_partial(report.result)
            return
        if report.error is None:
            if self.plan.succeeded(report.track, now, report.token):
                track.apply(report.result)
                self.on_success(track, now)
            elif track.discard is not None:
                track.discard(report.result)
        else:
            delay = self.plan.failed(report.track, now, report.token, report.error, throttled=report.throttled)
            if delay is not None:
                first = report.error != self._last_error
                self._last_error = report.error
                self.on_failure(Failure(track, report.error, delay, report.throttled, first))
        self.tick()

    def request_now(self, *names: str) -> None:
        for name in names:
            if name in self.plan.tracks:
                self.plan.request_now(name)

    def due_within(self, name: str, seconds: float) -> None:
        if name in self.plan.tracks:
            self.plan.due_within(name, self.clock(), seconds)

    def cancel(self, name: str) -> None:
        """Drop the refresh in flight (its report will be ignored): due again at once."""
        if name in self.plan.tracks and self.plan[name].in_flight:
            self.cancel_group(name)
            self.plan.cancelled(name)

    def stale_tracks(self) -> list[TrackState]:
        return [state for state in self.plan.tracks.values() if state.stale]

    def idle(self) -> bool:
        return not any(state.in_flight for state in self.plan.tracks.values())
