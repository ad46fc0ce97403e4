"""The console with every subscription listed (--all-subscriptions) against a simulator of several
subscriptions: the list through Resource Graph, grouped by subscription, each row saying where
its figures came from; the selected scale set read live from ARM through a Fleet of its own
subscription, and every action sent there."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from textual.content import Content

from tests.support.console import (
    UI_SIM_SPEED,
    instance_table,
    record_notifications,
    scale_set_table,
    shown_instance_ids,
    wait_until,
)
from vmss_tui.config import Config, RefreshSettings
from vmss_tui.domain.models import SOURCE_ARM, SOURCE_RESOURCE_GRAPH
from vmss_tui.sim import fleet_subscription_topology
from vmss_tui.ui.dialogs import ScaleScreen
from vmss_tui.ui.panes.scale_sets import AllSubscriptionsTable, ScaleSetsPane

GRAPH_PATH = "/providers/Microsoft.ResourceGraph/resources"
# Nothing refreshes on its own during a test unless the test asks (ctrl+r) or selects.
HOURLY = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))


def _app(sim: Any, **options: Any) -> Any:
    from vmss_tui.azure.fleet import ConnectionSettings
    from vmss_tui.ui.app import VmssConsoleApp

    settings = ConnectionSettings(arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, polling_interval=0.05)
    return VmssConsoleApp(settings, config=options.pop("config", HOURLY), all_subscriptions=True, **options)


def pane(app: Any) -> ScaleSetsPane:
    return app.fleet_screen.pane(ScaleSetsPane)


def title_of(app: Any) -> str:
    """The scale-set pane's title as shown (Textual keeps a border title as markup)."""
    return Content.from_markup(str(pane(app).border_title)).plain


def shown(app: Any) -> list[Any]:
    return [app.store.entries[key].scale_set for key in scale_set_table(app).visible_keys]


def cell(app: Any, key: str, column: str) -> str:
    return scale_set_table(app).get_cell(key, column).plain


def key_of(app: Any, subscription_id: str, name: str) -> str:
    return next(s.id for s in shown(app) if s.subscription_id == subscription_id and s.name == name)


async def wait_listed(pilot: Any, app: Any, count: int) -> None:
    await wait_until(pilot, lambda: app.store.listing is not None and scale_set_table(app).row_count == count
                     and app.store.selected() is not None and app.store.selected().instances is not None,
                     f"{count} scale sets listed and the first one loaded")


async def arm_scale_sets(sim: Any, open_fleet: Any) -> dict[str, list[Any]]:
    """Each subscription's scale sets as ARM lists them (one Fleet per subscription)."""
    home = await open_fleet(sim)
    listed = {}
    for subscription_id in sim.subscription_ids:
        sibling = await home.with_subscription(subscription_id)
        try:
            listed[subscription_id] = await sibling.list_scale_sets()
        finally:
            await sibling.close()
    return listed


def list_calls(sim: Any) -> list[str]:
    """Scale-set list calls the simulator answered (one per subscription, the way without the graph)."""
    return [path for method, path, _ in sim.arm.request_log
            if method == "GET" and re.search(r"/providers/Microsoft\.Compute/virtualMachineScaleSets\?", path)]


async def test_every_subscription_is_listed_through_resource_graph_grouped_by_subscription(start_simulator, open_fleet):
    sim = await start_simulator(subscriptions=7, speed=UI_SIM_SPEED, ssh=False)
    expected = await arm_scale_sets(sim, open_fleet)
    total = sum(len(v) for v in expected.values())
    before = len(list_calls(sim))
    app = _app(sim)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_listed(pilot, app, total)
        assert isinstance(scale_set_table(app), AllSubscriptionsTable)
        rows = shown(app)
        assert sorted(s.id for s in rows) == sorted(s.id for v in expected.values() for s in v)
        # one Resource Graph query, no list call per subscription
        assert app.store.listing.source == SOURCE_RESOURCE_GRAPH
        assert sum(1 for m, p, _ in sim.arm.request_log if m == "POST" and p.startswith(GRAPH_PATH)) == 1
        assert len(list_calls(sim)) == before
        # grouped by subscription (by display name), then resource group; each said once
        names = dict(await (await open_fleet(sim)).list_subscriptions())
        order = [(names[s.subscription_id].casefold(), s.resource_group.casefold(), s.name.casefold()) for s in rows]
        assert order == sorted(order)
        labels = [cell(app, s.id, "sub") for s in rows]
        assert sum(1 for label in labels if label) == len(expected)
        # the first row of each group names the subscription with its counts from the listing
        per_subscription = Counter(s.subscription_id for s in rows)
        for s, label in zip(rows, labels, strict=True):
            if label:
                sets = per_subscription[s.subscription_id]
                capacity = sum(x.capacity for x in expected[s.subscription_id])
                assert label == f"{names[s.subscription_id]} · {sets} set{'s' if sets != 1 else ''}, {capacity} inst"
        # each row says where its figures came from; the title and legend say what that means
        unselected = [s for s in rows if s.id != app.store.selected_id]
        assert {cell(app, s.id, "source") for s in unselected} == {"graph"}
        title = title_of(app)
        assert f"Scale sets {total} · 7 subscriptions · Resource Graph" in title
        assert "lags ARM up to a minute" in str(pane(app).border_subtitle)


async def test_the_selected_scale_set_is_read_from_arm_through_its_own_subscription(start_simulator, open_fleet):
    sim = await start_simulator(subscriptions=4, speed=UI_SIM_SPEED, ssh=False)
    expected = await arm_scale_sets(sim, open_fleet)
    app = _app(sim)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_listed(pilot, app, sum(len(v) for v in expected.values()))
        other = sim.subscription_ids[2]
        target = key_of(app, other, expected[other][0].name)
        table = scale_set_table(app)
        table.focus()
        await pilot.pause()
        for _ in range(table.visible_keys.index(target) - table.cursor_row):
            await pilot.press("down")
        await wait_until(pilot, lambda: app.store.selected_id == target and app.fleet is not None
                         and app.store.selected().instances is not None
                         and instance_table(app).row_count == len(app.store.selected().instances), "the other scale set")
        # the session (every live pane, every action) is now on that subscription
        assert app.fleet.subscription_id == other
        assert app.store.subscription_id == other
        sibling = await (await open_fleet(sim)).with_subscription(other)
        try:
            listed = await sibling.list_instances(expected[other][0])
        finally:
            await sibling.close()
        assert sorted(shown_instance_ids(app), key=int) == sorted((i.instance_id for i in listed), key=int)
        instance_lists = [p for m, p, _ in sim.arm.request_log
                          if m == "GET" and f"/virtualMachineScaleSets/{expected[other][0].name}/virtualMachines" in p]
        assert instance_lists and all(p.startswith(f"/subscriptions/{other}/") for p in instance_lists)
        # the top bar says which subscription (names repeat across subscriptions)
        label = dict(await (await open_fleet(sim)).list_subscriptions())[other]
        await wait_until(pilot, lambda: f"vmss-tui › {label} › " in str(app.fleet_screen.crumbs.content),
                         "the subscription in the top bar")
        # its row is re-read from ARM and says so
        await wait_until(pilot, lambda: cell(app, target, "source") == "ARM", "the live copy of the selected row")
        assert app.store.entries[target].scale_set.source == SOURCE_ARM


async def test_a_scale_set_changed_in_arm_shows_the_graphs_lagging_copy_until_read_live(start_simulator, open_fleet):
    # Resource Graph here lags an hour of simulated time (36 s of the test): it never catches up.
    sim = await start_simulator(subscriptions=3, speed=UI_SIM_SPEED, ssh=False, graph_lag=3600)
    expected = await arm_scale_sets(sim, open_fleet)
    other = sim.subscription_ids[1]
    scale_set = expected[other][0]
    app = _app(sim)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_listed(pilot, app, sum(len(v) for v in expected.values()))
        key = key_of(app, other, scale_set.name)
        sibling = await (await open_fleet(sim)).with_subscription(other)
        try:
            result = await sibling.scale_to(scale_set, scale_set.capacity + 2)
        finally:
            await sibling.close()
        assert result.status == "Succeeded"
        await pilot.press("ctrl+r")  # a new listing: the graph has not seen the change
        await wait_until(pilot, lambda: sum(1 for m, p, _ in sim.arm.request_log if p.startswith(GRAPH_PATH)) == 2
                         and app.poller.idle(), "the second listing")
        assert cell(app, key, "capacity") == str(scale_set.capacity)
        assert cell(app, key, "source") == "graph"
        app.fleet_screen.jump_to_scale_set(key)  # select it: read from ARM
        await wait_until(pilot, lambda: cell(app, key, "source") == "ARM", "the live copy")
        assert cell(app, key, "capacity") == str(scale_set.capacity + 2)
        await pilot.press("escape", "ctrl+r")  # another lagging listing does not undo what ARM said
        await wait_until(pilot, lambda: sum(1 for m, p, _ in sim.arm.request_log if p.startswith(GRAPH_PATH)) == 3
                         and app.poller.idle(), "the third listing")
        assert (cell(app, key, "capacity"), cell(app, key, "source")) == (str(scale_set.capacity + 2), "ARM")


async def test_a_scale_action_goes_to_the_subscription_of_its_scale_set_when_names_repeat(start_simulator):
    # Two subscriptions with the same resource group and scale set names, as prod and dev often are.
    first, second = "5151a7e0-00aa-4000-8000-00000000cafe", "5151a7e0-00bb-4000-8000-00000000cafe"
    sim = await start_simulator(subscriptions={first: fleet_subscription_topology(1),
                                               second: fleet_subscription_topology(1)},
                                speed=UI_SIM_SPEED, ssh=False)
    app = _app(sim)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_listed(pilot, app, 2)
        rows = shown(app)
        assert rows[0].name == rows[1].name and rows[0].subscription_id != rows[1].subscription_id
        table = scale_set_table(app)
        table.focus()
        await pilot.pause()
        assert app.fleet.subscription_id == rows[0].subscription_id
        # `s` at once on the other one: the dialog waits until its subscription's Fleet is the session's
        await pilot.press("down", "s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen), "the scale dialog")
        assert app.screen.scale_set.id == rows[1].id
        await pilot.press(*"4", "enter")
        await wait_until(pilot, lambda: app.store.finished and app.store.finished[-1].succeeded is not None,
                         "the scale operation")
        assert app.store.finished[-1].succeeded, app.store.finished[-1].outcome
        writes = [(m, p) for m, p, _ in sim.write_log]
        assert writes and all(p.startswith(f"/subscriptions/{rows[1].subscription_id}/") for _, p in writes), writes
        home = app.fleets.cached(rows[0].subscription_id)
        assert (await home.get_scale_set(rows[0].resource_group, rows[0].name)).capacity == 2
        there = app.fleets.cached(rows[1].subscription_id)
        assert (await there.get_scale_set(rows[1].resource_group, rows[1].name)).capacity == 4


async def test_a_scale_action_in_the_same_subscription_opens_at_once(start_simulator):
    sim = await start_simulator(subscriptions=2, speed=UI_SIM_SPEED, ssh=False)
    app = _app(sim)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, lambda: app.store.listing is not None and app.store.selected() is not None
                         and app.fleet is not None, "the list")
        rows = shown(app)
        assert rows[0].subscription_id == rows[1].subscription_id == app.fleet.subscription_id
        scale_set_table(app).focus()
        await pilot.pause()
        await pilot.press("down", "s")  # before the selection follows the cursor: same subscription, no wait
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen), "the scale dialog")
        assert app.screen.scale_set.id == rows[1].id
        await pilot.press("escape")
        assert sim.write_count == 0


async def test_without_resource_graph_it_lists_each_subscription_through_arm(start_simulator, open_fleet):
    sim = await start_simulator(subscriptions=5, speed=UI_SIM_SPEED, ssh=False)
    expected = await arm_scale_sets(sim, open_fleet)
    before = len(list_calls(sim))
    # A cloud without Resource Graph (Azure Stack Hub answers so).
    sim.add_fault(GRAPH_PATH, 404, count=None, code="InvalidResourceNamespace",
                  message="The resource namespace 'Microsoft.ResourceGraph' is invalid.")
    app = _app(sim)
    notes = record_notifications(app)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_listed(pilot, app, sum(len(v) for v in expected.values()))
        assert sorted(s.id for s in shown(app)) == sorted(s.id for v in expected.values() for s in v)
        assert app.store.listing.source == SOURCE_ARM
        assert len(list_calls(sim)) - before == len(sim.subscription_ids)
        assert "ARM, per subscription" in title_of(app)
        assert {cell(app, s.id, "source") for s in shown(app)} == {"ARM"}
        assert any("Resource Graph failed" in text and "InvalidResourceNamespace" in text for text, _ in notes), notes


async def test_the_config_file_can_ask_for_every_subscription(start_simulator):
    from dataclasses import replace

    from vmss_tui.azure.fleet import ConnectionSettings
    from vmss_tui.ui.app import VmssConsoleApp

    sim = await start_simulator(subscriptions=3, speed=UI_SIM_SPEED, ssh=False)
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, polling_interval=0.05)
    app = VmssConsoleApp(settings, config=replace(HOURLY, all_subscriptions=True))  # all_subscriptions = true
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, lambda: app.store.listing is not None, "the listing of every subscription")
        assert len(app.store.listing.subscriptions) == 3
        assert isinstance(scale_set_table(app), AllSubscriptionsTable)
    single = VmssConsoleApp(settings, config=replace(HOURLY, all_subscriptions=True), all_subscriptions=False)
    assert not single.store.all_subscriptions  # the flag (given) wins over the file


async def test_sub_command_goes_to_a_subscriptions_scale_sets(start_simulator, open_fleet):
    sim = await start_simulator(subscriptions=4, speed=UI_SIM_SPEED, ssh=False)
    expected = await arm_scale_sets(sim, open_fleet)
    app = _app(sim)
    notes = record_notifications(app)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_listed(pilot, app, sum(len(v) for v in expected.values()))
        target = sim.subscription_ids[3]
        await pilot.press("colon", *f"sub {target}", "enter")
        await wait_until(pilot, lambda: app.store.selected() is not None
                         and app.store.selected().scale_set.subscription_id == target
                         and app.fleet is not None and app.fleet.subscription_id == target, "its first scale set")
        assert app.store.selected().scale_set.name == sorted(s.name for s in expected[target])[0]
        assert app.fleet_screen.view == "inst"
        assert len(app.store.entries) == sum(len(v) for v in expected.values())  # nothing was reloaded
        await pilot.press("colon", *"sub 00000000-0000-0000-0000-0000000000ff", "enter")
        await wait_until(pilot, lambda: any("No scale set listed in subscription" in t for t, _ in notes), "a warning")
