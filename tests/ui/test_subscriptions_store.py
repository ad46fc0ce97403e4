"""Every subscription listed, without Textual: the store's listing (grouping, counts, which copy of
a scale set wins) and the per-subscription Fleets the console keeps (real Fleets on a simulator)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from vmss_tui.domain.models import SOURCE_ARM, SOURCE_RESOURCE_GRAPH, ScaleSet
from vmss_tui.ui import subscriptions
from vmss_tui.ui.store import GRAPH_LAG, SCALE_SETS, FleetListing, FleetStore
from vmss_tui.ui.subscriptions import SubscriptionFleets, list_every_subscription

SUB_A = "5151a7e0-000a-4000-8000-00000000cafe"
SUB_B = "5151a7e0-000b-4000-8000-00000000cafe"


def scale_set(sub: str, rg: str, name: str, capacity: int = 2, source: str = SOURCE_RESOURCE_GRAPH) -> ScaleSet:
    return ScaleSet(
        id=f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}",
        name=name, resource_group=rg, subscription_id=sub, location="westeurope", sku="Standard_B2s",
        capacity=capacity, upgrade_mode="Manual", orchestration_mode="Uniform", provisioning_state="Succeeded",
        source=source,
    )


def listing(*scale_sets: ScaleSet, at: float, source: str = SOURCE_RESOURCE_GRAPH) -> FleetListing:
    return FleetListing(tuple(scale_sets), ((SUB_A, "zeta team"), (SUB_B, "alpha team")), source, at, requests=1)


def test_listing_is_ordered_by_subscription_name_then_group_then_name_with_counts() -> None:
    store = FleetStore(lambda: 0.0)
    store.all_subscriptions = True
    changes: list[frozenset[str]] = []
    store.subscribe(changes.append)
    store.apply_fleet_listing(listing(
        scale_set(SUB_A, "rg-b", "web", 3), scale_set(SUB_A, "rg-a", "api", 5),
        scale_set(SUB_B, "rg-z", "db", 1), at=100.0))
    assert [(e.scale_set.subscription_id, e.scale_set.name) for e in store.ordered()] == [
        (SUB_B, "db"), (SUB_A, "api"), (SUB_A, "web")]  # "alpha team" before "zeta team"
    assert store.subscription_totals() == {SUB_A.casefold(): (2, 8), SUB_B.casefold(): (1, 1)}
    assert store.subscription_label(SUB_B.upper()) == "alpha team"
    assert store.subscription_label("unknown-sub") == "unknown-sub"
    assert changes and SCALE_SETS in changes[-1]


def test_a_live_arm_copy_outlives_a_lagging_graph_listing_for_graph_lag_seconds() -> None:
    store = FleetStore(lambda: 0.0)
    store.all_subscriptions = True
    graph_copy = scale_set(SUB_A, "rg", "web", 2)
    store.apply_fleet_listing(listing(graph_copy, at=100.0))
    live = replace(graph_copy, capacity=4, source=SOURCE_ARM)
    store.apply_live_scale_set(live, fetched_at=110.0)
    entry = store.entries[graph_copy.id]
    assert (entry.scale_set.capacity, entry.scale_set.source, entry.live_at) == (4, SOURCE_ARM, 110.0)
    # a listing within GRAPH_LAG of the ARM read may not have seen the change: ARM's copy stays
    store.apply_fleet_listing(listing(graph_copy, at=110.0 + GRAPH_LAG - 1))
    assert store.entries[graph_copy.id].scale_set.capacity == 4
    # later, the graph has caught up: its copy is the one shown (and marked as the graph's)
    caught_up = replace(graph_copy, capacity=4)
    store.apply_fleet_listing(listing(caught_up, at=110.0 + GRAPH_LAG))
    entry = store.entries[graph_copy.id]
    assert (entry.scale_set.source, entry.live_at) == (SOURCE_RESOURCE_GRAPH, None)
    # a listing through ARM (no graph) is live itself: it always wins
    store.apply_live_scale_set(live, fetched_at=500.0)
    store.apply_fleet_listing(listing(replace(graph_copy, capacity=7, source=SOURCE_ARM), at=501.0, source=SOURCE_ARM))
    assert store.entries[graph_copy.id].scale_set.capacity == 7


async def test_subscription_fleets_open_each_subscription_once_and_keep_the_session_open(
        start_simulator, open_fleet) -> None:
    sim = await start_simulator(subscriptions=6, ssh=False)
    home = await open_fleet(sim)
    now = [0.0]
    fleets = SubscriptionFleets(home, kept=3, clock=lambda: now[0])
    try:
        others = sim.subscription_ids[1:]
        # many refreshes asking at once open one Fleet
        opened = await asyncio.gather(*(fleets.get(others[0]) for _ in range(5)))
        assert len({id(f) for f in opened}) == 1 and fleets.opened == 1
        assert opened[0].subscription_id == others[0]
        stranger = await home.with_subscription(others[0])
        assert fleets.holds(opened[0]) and not fleets.holds(stranger)
        await stranger.close()
        fleets.current = opened[0]  # the selected scale set's: never pushed out
        second = await fleets.get(others[1])
        third = await fleets.get(others[2])  # over `kept`: the least recently used other one goes
        assert fleets.cached(others[1]) is None and fleets.holds(second)  # retiring, still open
        assert fleets.cached(others[0]) is opened[0] and fleets.cached(home.subscription_id) is home
        assert fleets.cached(others[2]) is third
        assert len(await second.list_scale_sets()) >= 1  # a refresh holding it still works
        now[0] += subscriptions.RETIRE_AFTER
        await fleets.get(others[3])  # after RETIRE_AFTER the retired one is closed
        assert not fleets.holds(second)
        assert second._closed  # noqa: SLF001 - closed, as promised
    finally:
        await fleets.close()
    assert opened[0]._closed and third._closed and home._closed  # noqa: SLF001


async def test_list_every_subscription_counts_its_requests_both_ways(start_simulator, open_fleet) -> None:
    sim = await start_simulator(subscriptions=12, ssh=False)
    home = await open_fleet(sim)
    fleets = SubscriptionFleets(home)
    try:
        before = sim.request_count
        graph = await list_every_subscription(fleets)
        graph_requests = sim.request_count - before
        before = sim.request_count
        arm = await list_every_subscription(fleets, via=SOURCE_ARM)
        arm_requests = sim.request_count - before
    finally:
        await fleets.close()
    assert graph.source == SOURCE_RESOURCE_GRAPH and arm.source == SOURCE_ARM
    assert sorted(s.id for s in graph.scale_sets) == sorted(s.id for s in arm.scale_sets)
    assert len(graph.subscriptions) == len(arm.subscriptions) == 12
    # what the listing says it cost is what the simulator counted
    assert (graph.requests, arm.requests) == (graph_requests, arm_requests)
    assert arm_requests >= 12 + 1 > graph_requests  # one list per subscription, beside one query
    assert fleets.opened == 0  # a listing through ARM keeps no Fleet open for 200 subscriptions
