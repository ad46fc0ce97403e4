"""Every action through its dialog, confirmed and cancelled, checked in the simulator through
the Fleet afterwards; and read-only, where pressing every action key sends no write at all."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from textual.widgets import Footer

from tests.support.console import (
    UI_SIM_SPEED,
    WAIT_TIMEOUT,
    instance_key,
    instance_table,
    loaded_console,
    make_app,
    move_to_instance,
    record_notifications,
    scale_set_key,
    scale_set_table,
    select_scale_set,
    wait_loaded,
    wait_until,
)
from vmss_tui.config import Config, RefreshSettings
from vmss_tui.ui.dialogs import ConfirmActionScreen, ScaleScreen
from vmss_tui.ui.screens.fleet import WATCH_REFRESH
from vmss_tui.ui.store import WATCH_AFTER

HOURLY = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))

ACTION_KEYS = {
    "start": "t",
    "restart": "r",
    "power_off": "o",
    "deallocate": "D",
    "reimage": "I",
    "update": "u",
    "delete": "ctrl+d",
}


async def _instances(fleet: Any, name: str) -> dict[str, Any]:
    scale_set = await fleet.get_scale_set(None, name)
    return {i.instance_id: i for i in await fleet.list_instances(scale_set)}


async def _wait_operation(pilot: Any, app: Any, count: int = 1) -> Any:
    await wait_until(pilot, lambda: len(app.store.finished) >= count and not app.store.running,
                     "the operation to finish")
    return app.store.finished[-1]


async def _wait_power(pilot: Any, fleet: Any, name: str, instance_id: str, state: str,
                      limit: float = WAIT_TIMEOUT) -> Any:
    """Poll ARM (through the Fleet) until the instance reports `state`; bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        instance = (await _instances(fleet, name)).get(instance_id)
        if instance is not None and instance.power_state == state:
            return instance
        if loop.time() > deadline:
            seen = instance.power_state if instance is not None else "gone"
            raise AssertionError(f"instance {instance_id} still {seen} after {limit}s, expected {state}")
        await pilot.pause(0.05)


@pytest.mark.parametrize(
    ("action", "instance_id", "check"),
    [
        ("start", "5", lambda before, after: after.power_state == "running"),
        # a restart's LRO ends while the guest still boots ("starting"): checked after the wait below
        ("restart", "1", lambda before, after: after.power_state in ("starting", "running")),
        ("power_off", "1", lambda before, after: after.power_state == "stopped"),
        ("deallocate", "6", lambda before, after: after.power_state == "deallocated"),
        ("reimage", "4", lambda before, after: after.power_state == "running"),  # + a new host key, below
        ("update", "2", lambda before, after: before.latest_model is False and after.latest_model is True),
        ("delete", "6", lambda before, after: after is None),
    ],
)
async def test_instance_action_confirmed_reaches_azure(start_simulator, open_fleet, action, instance_id, check):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    before = (await _instances(fleet, "vmss-web"))[instance_id]
    token_before = sim.instance("rg-web-prod", "vmss-web", instance_id).token
    host_key_before = sim.instance("rg-web-prod", "vmss-web", instance_id).host_key_generation
    async with loaded_console(sim, scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, instance_id)
        writes = sim.write_count
        await pilot.press(ACTION_KEYS[action])
        dialog = app.screen
        assert isinstance(dialog, ConfirmActionScreen)
        assert any(line.split()[0] == instance_id for line in dialog.items)  # says which instance
        assert len(dialog.items) == 1
        if action in ("reimage", "delete"):
            # the typing goes to the name; Cancel stays the default (Enter before the name cancels)
            assert dialog.type_to_confirm == "vmss-web" and app.focused.id == "dialog-type"
            assert dialog.query_one("#confirm").disabled
            await pilot.press(*"vmss-web", "enter")
        else:
            assert app.focused.id == "cancel"  # the default is Cancel
            await pilot.press("tab", "enter")  # to the action button, press it
        outcome = await _wait_operation(pilot, app)
        assert "succeeded" in (outcome.outcome or ""), outcome.outcome
        assert sim.write_count == writes + 1  # one scale-set-level LRO
        after = (await _instances(fleet, "vmss-web")).get(instance_id)
        assert check(before, after)
        if action == "restart":  # it ran, and the guest comes back up after its boot
            assert sim.instance("rg-web-prod", "vmss-web", instance_id).token > token_before
            after = await _wait_power(pilot, fleet, "vmss-web", instance_id, "running")
        if action == "reimage":  # a new OS disk from the image: a new SSH host key
            assert sim.instance("rg-web-prod", "vmss-web", instance_id).host_key_generation > host_key_before
        # the console shows it too, after its refresh
        if after is not None:
            key = instance_key(app, instance_id)
            await wait_until(
                pilot,
                lambda: instance_table(app).get_cell(key, "power").plain == after.power_state,
                "the table to show the new state",
            )
        else:
            await wait_until(pilot, lambda: before.id not in instance_table(app).visible_keys,
                             "the deleted row to go")


async def test_every_instance_action_cancelled_sends_nothing(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, scale_set="vmss-web") as (app, pilot):
        before = await _instances(fleet, "vmss-web")
        writes = sim.write_count
        for index, (action, key) in enumerate(ACTION_KEYS.items()):
            # an instance the action means something for: 5 is stopped, 2 runs the previous model
            await move_to_instance(pilot, app, "5" if action == "start" else "2")
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmActionScreen), action
            # alternate the two ways of saying no: Enter on the default (Cancel, or the empty
            # name field of the worst ones), and Esc
            await pilot.press("enter" if index % 2 == 0 else "escape")
            assert not isinstance(app.screen, ConfirmActionScreen), action
        # typing a wrong name is no confirmation either: Enter then cancels
        await pilot.press("ctrl+d", *"vmss-we", "enter")
        assert not isinstance(app.screen, ConfirmActionScreen)
        await pilot.pause(0.2)
        assert sim.write_count == writes
        assert not app.store.running and not app.store.finished
        after = await _instances(fleet, "vmss-web")
        assert {k: (i.power_state, i.latest_model) for k, i in after.items()} == \
               {k: (i.power_state, i.latest_model) for k, i in before.items()}


async def test_an_action_that_changes_nothing_says_so_and_asks_nothing(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    notes: list[tuple[str, dict[str, Any]]] = []
    async with loaded_console(sim, scale_set="vmss-web", notes=notes) as (app, pilot):
        writes = sim.write_count
        await move_to_instance(pilot, app, "1")  # running, on the latest model
        for key, words in (("t", "Already running: instance 1"), ("u", "Already on the latest model: instance 1")):
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmActionScreen)
            assert any(text.startswith(words) for text, _ in notes), notes[-3:]
        await move_to_instance(pilot, app, "7")  # deallocated
        await pilot.press("D")
        assert any(text.startswith("Already deallocated: instance 7") for text, _ in notes)
        # marked instances: the ones it changes nothing for are left out, and the dialog says so
        await move_to_instance(pilot, app, "1")
        await pilot.press("space")
        await move_to_instance(pilot, app, "5")
        await pilot.press("space", "t")
        dialog = app.screen
        assert isinstance(dialog, ConfirmActionScreen)
        assert [line.split()[0] for line in dialog.items] == ["5"]
        assert "Left out: Already running: instance 1." in dialog.summary
        await pilot.press("escape")
        assert sim.write_count == writes


async def test_marked_instances_are_the_targets(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        await pilot.press("space")
        await move_to_instance(pilot, app, "6")
        await pilot.press("space")
        await move_to_instance(pilot, app, "2")  # the cursor is elsewhere: marks win
        await pilot.press("o")
        dialog = app.screen
        assert isinstance(dialog, ConfirmActionScreen)
        assert sorted(line.split()[0] for line in dialog.items) == ["1", "6"]
        await pilot.press("tab", "enter")
        await _wait_operation(pilot, app)
        after = await _instances(fleet, "vmss-web")
        assert after["1"].power_state == "stopped" and after["6"].power_state == "stopped"
        assert after["2"].power_state == "running"
        assert not app.store.selected().marks  # marks are spent by the action


async def test_failed_operation_shows_arm_code_and_message(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    sim.fail_action("restart", code="AllocationFailed", message="Allocation failed in this zone.")
    app = make_app(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        notes = record_notifications(app)
        await wait_loaded(pilot, app)
        await select_scale_set(pilot, app, "vmss-web")
        await move_to_instance(pilot, app, "1")
        await pilot.press("r", "tab", "enter")
        outcome = await _wait_operation(pilot, app)
        assert "AllocationFailed" in outcome.outcome and "Allocation failed in this zone." in outcome.outcome
        assert "AllocationFailed" in (app.store.last_error or "")
        # the notification says what failed where, with ARM's code and message, and stays a while
        failed = [(text, kwargs) for text, kwargs in notes if kwargs.get("severity") == "error"]
        assert len(failed) == 1, notes
        text, kwargs = failed[0]
        assert re.fullmatch(r"Restart of vmss-web instance 1: failed after \d+\.\ds: AllocationFailed: "
                            r"Allocation failed in this zone\.", text), text
        assert kwargs.get("timeout", 0) >= 30


async def test_watching_a_restart_pending_then_starting_then_running(start_simulator):
    """The affected row reads "restarting…" while the LRO runs; then the console keeps reading
    the instances every second, so the guest's boot ("starting", then "running") shows up even
    though the configured refresh is an hour. The simulator's clock only moves when told."""
    from vmss_tui.sim import ManualClock

    sim = await start_simulator(clock=ManualClock(), ssh=False)
    offset = [0.0]  # moves the app's clock past the watch window at the end
    app = make_app(sim, config=HOURLY, clock=lambda: time.time() + offset[0])
    async with app.run_test(size=(160, 45)) as pilot:
        notes = record_notifications(app)
        await wait_loaded(pilot, app)
        await select_scale_set(pilot, app, "vmss-web")
        await move_to_instance(pilot, app, "1")
        key = instance_key(app, "1")
        table = instance_table(app)
        web = scale_set_key(app, "vmss-web")
        await pilot.press("r", "tab", "enter")
        await wait_until(pilot, lambda: table.get_cell(key, "prov").plain == "restarting…", "the pending row")
        assert "yellow" in str(table.get_cell(key, "prov").style)
        assert "yellow" in str(table.get_cell(key, "id").style)  # the row's colour, not just the cell
        assert table.get_cell(key, "power").plain == "running"  # what ARM says during the reboot call
        assert scale_set_table(app).get_cell(web, "prov").plain == "restarting 1 instance…"
        other = instance_key(app, "2")
        assert table.get_cell(other, "prov").plain == "Succeeded"  # only the affected rows

        sim.advance(1.4)  # the reboot call ends; the guest boots for 8 s more
        await _wait_operation(pilot, app)
        await wait_until(pilot, lambda: table.get_cell(key, "power").plain == "starting"
                         and table.get_cell(key, "prov").plain == "Succeeded", "the booting guest")
        assert scale_set_table(app).get_cell(web, "prov").plain == "Succeeded"
        succeeded = [text for text, _ in notes if "succeeded" in text]
        assert len(succeeded) == 1 and re.fullmatch(
            r"Restart of vmss-web instance 1: succeeded in \d+\.\ds", succeeded[0]), succeeded
        assert app.poller.plan["instances"].interval == WATCH_REFRESH

        sim.advance(8.0)  # booted: only the watch's fast refresh can show it (the plan says hourly)
        await wait_until(pilot, lambda: table.get_cell(key, "power").plain == "running", "the guest up again")

        offset[0] += WATCH_AFTER + 1  # the watch ends: back to the configured interval
        await wait_until(pilot, lambda: app.poller.plan["instances"].interval == HOURLY.refresh.instances
                         and app._watch_timer is None, "the watch to end")


async def test_dialogs_footer_shows_the_dialog_keys(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        console_footer = app.query_one("#footer")
        assert console_footer.styles.visibility == "visible"
        await pilot.press("r")
        dialog = app.screen
        assert isinstance(dialog, ConfirmActionScreen)
        await pilot.pause()
        shown = {b.binding.description for b in dialog.active_bindings.values() if b.binding.show}
        assert {"Cancel", "Next"} <= shown
        assert not shown & {"Mark", "SSH", "Restart", "Help", "Cmd"}  # the console's keys are not offered
        assert dialog.query_one(Footer).display
        assert console_footer.styles.visibility == "hidden"  # under the dialog, out of sight
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert console_footer.styles.visibility == "visible"


async def test_scale_to_n_validates_strictly_against_the_capacity_read_fresh(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim) as (app, pilot):
        table = scale_set_table(app)
        table.focus()
        api = scale_set_key(app, "vmss-api")
        table.move_to_key(api)
        await pilot.pause()
        scale_set = await fleet.get_scale_set(None, "vmss-api")
        await fleet.scale_to(scale_set, 4)  # someone else scales 3 -> 4: the list still says 3
        writes = sim.write_count
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, ScaleScreen)
        await wait_until(pilot, lambda: dialog.fresh, "the dialog to read the capacity")
        assert dialog.scale_set.capacity == 4
        confirm = dialog.query_one("#confirm")
        await pilot.press(*"1001")  # over the limit: said at once, nothing to press
        assert dialog.query_one("#scale-hint").has_class("invalid") and confirm.disabled
        await pilot.press("ctrl+u", *"4")  # the current capacity: nothing to do
        assert confirm.disabled
        for typed in ("1e3", "abc", "\u0661\u0662", "-1"):  # nothing dropped, nothing read as digits
            await pilot.press("ctrl+u", *typed)
            assert dialog.query_one("#scale-input").value == typed
            assert dialog.query_one("#scale-hint").has_class("invalid") and confirm.disabled, typed
        await pilot.press("enter")  # Enter on an invalid number cancels
        assert app.screen is not dialog
        assert sim.write_count == writes
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen) and app.screen.fresh, "the dialog")
        await pilot.press(*"5", "enter")  # scale-out: no second question
        outcome = await _wait_operation(pilot, app)
        assert "succeeded" in outcome.outcome
        assert (await fleet.get_scale_set(None, "vmss-api")).capacity == 5
        await wait_until(pilot, lambda: table.get_cell(api, "capacity").plain == "5", "the new capacity")


async def test_scale_in_is_confirmed_like_delete_and_names_what_goes(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, scale_set="vmss-api") as (app, pilot):
        table = scale_set_table(app)
        table.focus()
        table.move_to_key(scale_set_key(app, "vmss-api"))
        await pilot.pause()
        writes = sim.write_count
        ids = sorted(int(i) for i in await _instances(fleet, "vmss-api"))
        for answer in ((), tuple("vmss-ap")):  # Enter with no name, then with a wrong one: Cancel
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen) and app.screen.fresh, "the dialog")
            await pilot.press(*"1", "enter")
            dialog = app.screen
            assert isinstance(dialog, ConfirmActionScreen) and dialog.type_to_confirm == "vmss-api"
            assert app.focused.id == "dialog-type"
            assert [int(line.split()[0]) for line in dialog.items] == sorted(ids[1:], reverse=True)
            assert "highest instance ids" in dialog.summary
            await pilot.press(*answer, "enter")
            assert not isinstance(app.screen, ConfirmActionScreen)
        assert sim.write_count == writes
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen) and app.screen.fresh, "the dialog")
        await pilot.press(*"1", "enter", *"vmss-api", "enter")
        outcome = await _wait_operation(pilot, app)
        assert "succeeded" in outcome.outcome
        left = await _instances(fleet, "vmss-api")
        assert [int(i) for i in left] == [ids[0]]


async def test_start_all_and_stop_all(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim) as (app, pilot):
        table = scale_set_table(app)
        table.focus()
        for name, key, expected, count in (("vmss-api", "o", "stopped", 1), ("vmss-web", "t", "running", 2)):
            target = scale_set_key(app, name)
            table.move_to_key(target)
            await pilot.pause()
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmActionScreen)
            assert app.focused.id == "cancel"
            await pilot.press("tab", "enter")
            outcome = await _wait_operation(pilot, app, count)
            assert "succeeded" in outcome.outcome, outcome.outcome
            states = {i.power_state for i in (await _instances(fleet, name)).values()}
            assert states == {expected}


async def test_read_only_sends_no_write_whatever_is_pressed(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    notes: list[tuple[str, dict[str, Any]]] = []
    async with loaded_console(sim, read_only=True, notes=notes, scale_set="vmss-web") as (app, pilot):
        # the footer and the palette offer no mutating action
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not any(a.startswith("run(") for a in shown)
        # every action key of the instance pane, with marks, then Enter/Tab in case a dialog opened
        await pilot.press("space", "space")
        for key in ACTION_KEYS.values():
            instance_table(app).focus()
            await pilot.pause()
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmActionScreen | ScaleScreen)
            await pilot.press("tab", "enter")  # would confirm, had a dialog opened
            if app.screen is not app.screen_stack[0]:
                await pilot.press("escape")  # Enter on another pane may have opened its details
        assert sum("Read-only" in text for text, _ in notes) >= len(ACTION_KEYS)
        # and of the scale set pane
        for key in ("s", "t", "o"):
            scale_set_table(app).focus()
            await pilot.pause()
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmActionScreen | ScaleScreen)
            await pilot.press(*"5", "tab", "enter")
            if app.screen is not app.screen_stack[0]:
                await pilot.press("escape")
        # the palette's actions, had they been there
        app.fleet_screen.actions.request_instance_action("delete")
        app.fleet_screen.actions.request_scale_set_action("scale", app.store.selected_id)
        await pilot.press("ctrl+p", *"restart")
        await pilot.pause(0.3)
        from textual.command import CommandPalette

        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert sim.write_count == 0
        assert app.store.actions_submitted == 0 and not app.store.finished


async def test_palette_runs_an_action_through_its_dialog(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        writes = sim.write_count
        await pilot.press("ctrl+p", *"restart: 1")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmActionScreen), "the dialog")
        assert [line.split()[0] for line in app.screen.items] == ["1"]
        await pilot.press("enter")  # Cancel has the focus
        assert sim.write_count == writes
