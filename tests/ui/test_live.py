"""Live refresh against the simulator: cells change in place, rows come and go, the cursor and
marks stay, refreshes never overlap nor block keys, errors mark data stale, throttling backs off."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.console import (
    UI_SIM_SPEED,
    instance_key,
    instance_table,
    loaded_console,
    move_to_instance,
    scale_set_key,
    scale_set_table,
    wait_until,
)
from vmss_tui.config import Config, RefreshSettings
from vmss_tui.ui.poller import THROTTLED_MIN_BACKOFF

FAST = Config(refresh=RefreshSettings(instances=1.0, scale_sets=2.0, nat=2.0))


async def test_a_refresh_updates_changed_cells_in_place_keeping_cursor_and_marks(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, config=FAST, heartbeat=0.2, scale_set="vmss-web") as (app, pilot):
        table = instance_table(app)
        await move_to_instance(pilot, app, "2")
        await pilot.press("space")  # mark 2, cursor to 4
        cursor = table.cursor_key
        rebuilds, updates = table.rebuilds, table.cell_updates
        scale_set = await fleet.get_scale_set(None, "vmss-web")
        await fleet.run_instance_action(scale_set, "power_off", ["1"])  # someone else, elsewhere
        key = instance_key(app, "1")
        await wait_until(pilot, lambda: table.get_cell(key, "power").plain == "stopped", "instance 1 to show stopped")
        assert table.rebuilds == rebuilds  # no rebuild: the changed cells only
        # power, provisioning and health, each through at most one state in between
        assert 0 < table.cell_updates - updates <= 6
        assert table.cursor_key == cursor
        assert app.store.selected().marks == {instance_key(app, "2")}
        # the scale set row's "not running" count follows
        vmss = scale_set_table(app)
        web = scale_set_key(app, "vmss-web")
        await wait_until(pilot, lambda: vmss.get_cell(web, "down").plain == "3", "the not-running count")


async def test_rows_are_added_and_removed_as_the_scale_set_changes(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, config=FAST, heartbeat=0.2, scale_set="vmss-api") as (app, pilot):
        table = instance_table(app)
        await move_to_instance(pilot, app, "1")
        cursor = table.cursor_key
        scale_set = await fleet.get_scale_set(None, "vmss-api")
        await fleet.scale_to(scale_set, 5)
        await wait_until(pilot, lambda: table.row_count == 5, "two new rows")
        assert table.cursor_key == cursor
        await fleet.run_instance_action(scale_set, "delete", ["0"])
        await wait_until(pilot, lambda: table.row_count == 4, "the deleted row to go")
        assert table.cursor_key == cursor  # the row under the cursor stayed under it


async def test_refreshes_never_overlap_and_keys_stay_live_while_one_is_slow(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, config=FAST, heartbeat=0.1, scale_set="vmss-web") as (app, pilot):
        fleet = app.fleet
        assert fleet is not None
        concurrent = 0
        peak = 0
        calls = 0
        real_list = fleet.list_instances

        async def counted(scale_set: Any) -> Any:  # a spy around the real call
            nonlocal concurrent, peak, calls
            if scale_set.name == "vmss-web":
                calls += 1
                concurrent += 1
                peak = max(peak, concurrent)
            try:
                return await real_list(scale_set)
            finally:
                if scale_set.name == "vmss-web":
                    concurrent -= 1

        fleet.list_instances = counted  # type: ignore[method-assign]
        sim.latency = 1.5  # each request now takes longer than the 1 s interval
        table = instance_table(app)
        moved_during_refresh = 0
        start = time.monotonic()
        while time.monotonic() - start < 4.0:
            before = table.cursor_row
            request_out = calls_started = calls if concurrent else None
            await pilot.press("j" if before < table.row_count - 1 else "g")
            assert table.cursor_row != before
            # the key was handled while the same 1.5 s request was still out: not queued behind I/O
            moved_during_refresh += request_out is not None and concurrent == 1 and calls == calls_started
            await asyncio.sleep(0.2)
        assert calls >= 1 and moved_during_refresh >= 1
        assert peak == 1  # never two at once
        sim.latency = 0.0


async def test_errors_mark_data_stale_and_recovery_clears_it(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, config=FAST, heartbeat=0.1, scale_set="vmss-web") as (app, pilot):
        rows = instance_table(app).row_count
        rule = sim.add_fault(r"/virtualMachineScaleSets/vmss-web/virtualMachines$", 500, count=None,
                             code="InternalServerError", message="Something broke.")
        await wait_until(pilot, lambda: app.poller.plan["instances"].stale, "the refresh to fail")
        status = str(app.query_one("#status").render())
        assert "stale" in status and "Something broke." in status
        assert "stale" in str(app.query_one("#inst-pane").border_subtitle)
        assert instance_table(app).row_count == rows  # stale data stays on screen
        sim.faults.remove(rule)
        app.fleet_screen.action_refresh_now()
        await wait_until(pilot, lambda: not app.poller.plan["instances"].stale, "recovery")
        assert "stale" not in str(app.query_one("#inst-pane").border_subtitle)


async def test_throttling_backs_off_for_at_least_a_minute(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, config=FAST, heartbeat=0.1, scale_set="vmss-web") as (app, pilot):
        fleet = app.fleet
        assert fleet is not None
        calls = 0
        real_list = fleet.list_instances

        async def counted(scale_set: Any) -> Any:  # a spy around the real call
            nonlocal calls
            if scale_set.name == "vmss-web":
                calls += 1
            return await real_list(scale_set)

        fleet.list_instances = counted  # type: ignore[method-assign]
        sim.add_fault(r"/virtualMachines$", 429, count=None, code="TooManyRequests", retry_after=0)
        await wait_until(pilot, lambda: app.poller.plan["instances"].throttled, "throttling to be noticed")
        track = app.poller.plan["instances"]
        assert track.next_due - app.clock() >= THROTTLED_MIN_BACKOFF - 5
        assert "throttled" in str(app.query_one("#status").render())
        calls = 0
        app.fleet_screen.action_refresh_now()  # a key press does not defeat the back-off
        await pilot.pause(2.5)  # more than two instance intervals
        assert calls == 0
        assert app.poller.plan["instances"].throttled
