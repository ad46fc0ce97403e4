"""Every subscription at once (--all-subscriptions): a Fleet per subscription, the listing of
every subscription's scale sets, and what the scale-set pane says about where figures came from.

The list comes from Azure Resource Graph (one paged query for every subscription the credential
can list); Resource Graph lags ARM by up to a minute, so each row says whether its figures are
the graph's or were read from ARM. The selected scale set and the rows' counts read ARM through
a Fleet of their own subscription (SubscriptionFleets), as the live panes do. No widget here:
the pane (ui/panes/scale_sets.py) and the app use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.content import Content

from vmss_tui.azure.errors import FleetError, is_throttled
from vmss_tui.domain.models import SOURCE_ARM, SOURCE_RESOURCE_GRAPH, ScaleSet
from vmss_tui.ui.format import format_age, format_clock
from vmss_tui.ui.panes.cells import DIM, GOOD, Cell
from vmss_tui.ui.store import FleetListing, FleetStore

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet

LISTING_CONCURRENCY = 8  # subscriptions listed at once when Resource Graph is not there
FLEETS_KEPT = 32  # Fleets kept open (each holds two SDK clients: ~10 ms to make, ~150 KiB)
RETIRE_AFTER = 60.0  # seconds a Fleet pushed out of the cache stays open for refreshes in flight
SOURCE_LABELS = {SOURCE_RESOURCE_GRAPH: "graph", SOURCE_ARM: "ARM"}


def same_subscription(fleet: Fleet | None, scale_set: ScaleSet) -> bool:
    return fleet is not None and fleet.subscription_id.casefold() == scale_set.subscription_id.casefold()


class SubscriptionFleets:
    """A Fleet per subscription, opened from the connected one on first use (sharing its
    credential). The FLEETS_KEPT most recently used stay open; one pushed out is closed
    RETIRE_AFTER seconds later (a refresh may still hold it), and every one at `close()`."""

    def __init__(self, home: Fleet, *, kept: int = FLEETS_KEPT, clock: Callable[[], float] = time.monotonic) -> None:
        self.home = home
        self.current: Fleet | None = home  # the session's (the selected scale set's): never pushed out
        self._kept = max(2, kept)
        self._clock = clock
        self._fleets: OrderedDict[str, Fleet] = OrderedDict({home.subscription_id.casefold(): home})
        self._opening: dict[str, asyncio.Future[Fleet]] = {}
        self._retiring: list[tuple[float, Fleet]] = []
        self.opened = 0  # Fleets opened besides the home one (for tests and reports)

    def __len__(self) -> int:
        return len(self._fleets)

    def holds(self, fleet: Fleet) -> bool:
        """Whether `fleet` is one of these (closed by `close()`, not by whoever used it)."""
        return any(f is fleet for f in self._fleets.values()) or any(f is fleet for _, f in self._retiring)

    def cached(self, subscription_id: str) -> Fleet | None:
        key = subscription_id.casefold()
        fleet = self._fleets.get(key)
        if fleet is not None:
            self._fleets.move_to_end(key)
        return fleet

    async def get(self, subscription_id: str) -> Fleet:
        fleet = self.cached(subscription_id)
        if fleet is not None:
            return fleet
        key = subscription_id.casefold()
        opening = self._opening.get(key)
        if opening is not None:  # another refresh is opening it
            return await asyncio.shield(opening)
        future: asyncio.Future[Fleet] = asyncio.get_running_loop().create_future()
        self._opening[key] = future
        try:
            fleet = await self.home.with_subscription(subscription_id)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: the waiters (if any) get it too
            raise
        finally:
            self._opening.pop(key, None)
        self.opened += 1
        self._fleets[key] = fleet
        future.set_result(fleet)
        await self._trim()
        return fleet

    async def _trim(self) -> None:
        now = self._clock()
        keep = {id(self.home), id(self.current)}
        while len(self._fleets) > self._kept:
            victim = next((k for k, f in self._fleets.items() if id(f) not in keep), None)
            if victim is None:
                break
            self._retiring.append((now, self._fleets.pop(victim)))
        done = [f for at, f in self._retiring if now - at >= RETIRE_AFTER]
        self._retiring = [(at, f) for at, f in self._retiring if now - at < RETIRE_AFTER]
        for fleet in done:
            with contextlib.suppress(Exception):
                await fleet.close()

    async def close(self) -> None:
        fleets = [*self._fleets.values(), *(f for _, f in self._retiring)]
        self._fleets.clear()
        self._retiring.clear()
        for fleet in fleets:
            with contextlib.suppress(Exception):
                await fleet.close()


async def list_every_subscription(fleets: SubscriptionFleets, *, via: str = SOURCE_RESOURCE_GRAPH,
                                  now: Callable[[], float] = time.time) -> FleetListing:
    """The scale sets of every subscription the credential can list: through Resource Graph (one
    paged query), or with `via=SOURCE_ARM` (or when Resource Graph fails, e.g. a cloud without
    it) one list call per subscription, LISTING_CONCURRENCY at a time."""
    home = fleets.home
    before = home.arm_calls
    subscriptions = tuple(await home.list_subscriptions()) or ((home.subscription_id, home.subscription_id),)
    ids = [sub for sub, _ in subscriptions]
    note = None
    if via == SOURCE_RESOURCE_GRAPH:
        try:
            graph = await home.list_scale_sets_everywhere(ids)
        except FleetError as error:
            if is_throttled(error):
                raise
            note = f"Resource Graph failed ({error.one_line()}): listing each subscription through ARM instead"
        else:
            return FleetListing(graph.scale_sets, subscriptions, SOURCE_RESOURCE_GRAPH, now(),
                                home.arm_calls - before, truncated=graph.truncated)
    requests = home.arm_calls - before
    failed: list[tuple[str, str]] = []
    gate = asyncio.Semaphore(LISTING_CONCURRENCY)

    async def one(subscription_id: str) -> list[ScaleSet]:
        nonlocal requests
        async with gate:
            fleet = fleets.cached(subscription_id)
            temporary = fleet is None  # 200 subscriptions need not stay open for one listing
            if fleet is None:
                fleet = await home.with_subscription(subscription_id)
            calls = fleet.arm_calls
            try:
                return await fleet.list_scale_sets()
            except FleetError as error:
                if is_throttled(error):
                    raise
                failed.append((subscription_id, error.one_line()))
                return []
            finally:
                requests += fleet.arm_calls - calls
                if temporary:
                    await fleet.close()

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(sub)) for sub in ids]
    scale_sets = tuple(s for task in tasks for s in task.result())
    return FleetListing(scale_sets, subscriptions, SOURCE_ARM, now(), requests, failed=tuple(failed), note=note)


def subscription_cell(label: str, totals: tuple[int, int]) -> Cell:
    """`team 003 · 2 sets, 4 inst`: the counts as listed (Resource Graph's when it listed them)."""
    sets, capacity = totals
    return (f"{label} · {sets} set{'s' if sets != 1 else ''}, {capacity} inst", "bold")


def source_cell(scale_set: ScaleSet) -> Cell:
    return (SOURCE_LABELS.get(scale_set.source, scale_set.source), GOOD if scale_set.source == SOURCE_ARM else DIM)


def listing_title(store: FleetStore, now: float) -> Content:
    """`Scale sets 412 · 200 subscriptions · Resource Graph 12:03:04 (8s ago)`."""
    listing = store.listing
    if listing is None:
        return Content("Scale sets · every subscription")
    where = "Resource Graph" if listing.source == SOURCE_RESOURCE_GRAPH else "ARM, per subscription"
    extra = ""
    if listing.truncated:
        extra += " · truncated"
    if listing.failed:
        extra += f" · {len(listing.failed)} unlisted"
    return Content.from_markup(
        "Scale sets [dim]$count · $subs subscriptions · $where $clock ($age ago)[/][b red]$extra[/]",
        count=len(store.entries), subs=len(listing.subscriptions), where=where,
        clock=format_clock(listing.fetched_at), age=format_age(now - listing.fetched_at), extra=extra)


def source_legend(store: FleetStore) -> str:
    listing = store.listing
    if listing is None or listing.source != SOURCE_RESOURCE_GRAPH:
        return "ARM: read live"
    return "graph: Resource Graph, lags ARM up to a minute · ARM: read live · Old/Down: ARM"
