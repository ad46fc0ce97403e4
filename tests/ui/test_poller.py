"""The poller without Textual: a fake clock, workers run on this test's event loop, reports
delivered by hand, so every rule can be seen to hold."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from vmss_tui.domain.models import Throttling
from vmss_tui.ui.poller import THROTTLED_MIN_BACKOFF, Failure, FetchContext, Poller, Track, TrackReport


class Harness:
    """A poller whose workers are asyncio tasks and whose reports queue up until delivered."""

    def __init__(self) -> None:
        self.now = 100.0
        self.reports: list[TrackReport] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.failures: list[Failure] = []
        self.poller = Poller(
            clock=lambda: self.now,
            spawn=self.spawn,
            cancel_group=lambda name: self.tasks[name].cancel(),
            deliver=self.reports.append,
            describe_error=lambda error: f"{type(error).__name__}: {error}",
            is_throttled=lambda error: "429" in str(error),
            on_failure=self.failures.append,
        )
        self.poller.fleet = _FakeFleet()  # type: ignore[assignment]

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        self.tasks[name] = asyncio.ensure_future(work)

    async def settle(self) -> None:
        """Let every worker finish, then hand each report back (as the app's message would)."""
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        while self.reports:
            self.poller.report(self.reports.pop(0))


class _FakeFleet:
    throttling = Throttling()


def _track(name: str, results: list[Any], *, interval: float = 5.0, **kwargs: Any) -> tuple[Track, list[Any]]:
    """A track whose fetch returns the next of `results` (an exception is raised)."""
    applied: list[Any] = []

    def fetch(context: FetchContext) -> Any:
        value = results.pop(0)

        async def run() -> Any:
            if isinstance(value, BaseException):
                raise value
            return value

        return run()

    return Track(name, interval, fetch, applied.append, **kwargs), applied


async def test_a_track_runs_when_due_never_overlaps_and_waits_its_interval() -> None:
    h = Harness()
    track, applied = _track("instances", ["first", "second"])
    h.poller.register(track)
    h.poller.tick()
    assert h.poller.plan["instances"].in_flight
    h.poller.tick()  # in flight: not started again
    assert len(h.tasks) == 1
    await h.settle()
    assert applied == ["first"]
    h.now += 4.9
    h.poller.tick()
    assert not h.poller.plan["instances"].in_flight, "not due before its interval"
    h.now += 0.2
    h.poller.tick()
    await h.settle()
    assert applied == ["first", "second"]


async def test_a_report_from_a_cancelled_refresh_is_dropped() -> None:
    h = Harness()
    gate = asyncio.Event()
    applied: list[str] = []
    results = iter(["old", "new"])

    def fetch(context: FetchContext) -> Any:
        value = next(results)

        async def run() -> str:
            if value == "old":
                await gate.wait()
            return value

        return run()

    h.poller.register(Track("nat", 30.0, fetch, applied.append))
    h.poller.tick()
    await asyncio.sleep(0)  # the worker is waiting on the network
    stale = h.tasks["nat"]
    token = h.poller.plan["nat"].token
    h.poller.cancel("nat")  # another scale set was selected
    h.poller.tick()  # due again at once
    await h.settle()
    assert applied == ["new"]
    h.poller.report(TrackReport("nat", token, "old"))  # what the old worker would have said
    assert applied == ["new"] and stale.cancelled()


async def test_failures_back_off_throttling_longest_and_success_clears_stale() -> None:
    h = Harness()
    track, applied = _track("scale_sets", [RuntimeError("boom"), RuntimeError("429 too many"), "ok"], interval=2.0)
    h.poller.register(track)
    h.poller.tick()
    await h.settle()
    state = h.poller.plan["scale_sets"]
    assert state.stale and state.next_due == h.now + 4.0 and h.failures[-1].first
    h.now = state.next_due
    h.poller.tick()
    await h.settle()
    assert state.throttled and state.next_due >= h.now + THROTTLED_MIN_BACKOFF
    h.poller.request_now("scale_sets")  # ctrl+r must not defeat a throttling back-off
    h.poller.tick()
    assert not state.in_flight
    h.now = state.next_due
    h.poller.tick()
    await h.settle()
    assert applied == ["ok"] and not state.stale and h.poller.stale_tracks() == []


async def test_hidden_tracks_wait_and_a_fetch_with_nothing_to_do_stays_due() -> None:
    h = Harness()
    visible = False
    selected: str | None = None
    applied: list[str] = []

    def fetch(context: FetchContext) -> Any:
        if selected is None:
            return None

        async def run() -> str:
            return selected or ""

        return run()

    h.poller.register(Track("instances", 3.0, fetch, applied.append, visible=lambda: visible))
    h.poller.tick()
    assert not h.tasks, "a hidden pane's track does not run"
    visible = True
    h.poller.tick()
    assert not h.tasks and h.poller.plan.due("instances", h.now), "nothing selected: still due"
    selected = "web"
    h.poller.tick()
    await h.settle()
    assert applied == ["web"]


async def test_urgent_tracks_run_before_their_interval_and_partial_results_apply_at_once() -> None:
    h = Harness()
    missing = {"a", "b"}  # rows on screen without counts
    dues: list[bool] = []

    def fetch(context: FetchContext) -> Any:
        dues.append(context.due)
        wanted = sorted(missing)

        async def run() -> None:
            for name in wanted:
                context.emit(name)

        return run()

    h.poller.register(Track("counts", 30.0, fetch, lambda _: None, urgent=lambda: bool(missing),
                            apply_partial=missing.discard))
    h.poller.tick()
    await h.settle()
    assert not missing and dues == [True]
    h.now += 1
    h.poller.tick()
    assert dues == [True], "nothing urgent, not due"
    missing.add("c")  # a row came into view without counts
    h.poller.tick()
    await h.settle()
    assert dues == [True, False] and not missing


async def test_low_throttling_headroom_slows_every_track() -> None:
    h = Harness()
    track, _ = _track("instances", ["x", "y"], interval=5.0)
    h.poller.register(track)
    h.poller.fleet.throttling = Throttling(remaining_subscription_reads=50)  # type: ignore[union-attr]
    h.poller.tick()
    await h.settle()
    assert h.poller.plan.slow and h.poller.plan["instances"].next_due == h.now + 20.0


async def test_a_stopped_poller_starts_nothing_and_applies_nothing() -> None:
    h = Harness()
    track, applied = _track("instances", ["x"])
    h.poller.register(track)
    h.poller.tick()
    h.poller.stopped = True
    await asyncio.gather(*h.tasks.values())
    for report in h.reports:
        h.poller.report(report)
    assert applied == [] and not h.reports
