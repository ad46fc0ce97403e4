"""The rollout view and the model-change dialog through the console (Pilot), against the simulator
over HTTP with the real SDK: each upgrade policy end to end, cancel, faults with ARM's code shown,
stale polls, read-only, two views at once."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Button, Input, TextArea

from tests.support.console import (
    loaded_console,
    record_notifications,
    scale_set_key,
    scale_set_table,
    wait_until,
)
from vmss_tui.sim import (
    InstanceStateSpec,
    ManualClock,
    RollingPolicySpec,
    ScaleSetSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
)
from vmss_tui.ui import rollout_actions, rollout_view
from vmss_tui.ui.dialogs import ConfirmActionScreen
from vmss_tui.ui.model_dialog import ModelChangeScreen
from vmss_tui.ui.rollout_view import RolloutOnStart, RolloutTable, RolloutView

GROUP = "rg-roll"
SPEED = 50  # simulated seconds per real second: an instance upgrade (20 s) takes 0.4 s
PINNED = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202507010"
NEXT_VERSION = "22.04.209901010"


def spec(name: str, mode: str, *, capacity: int = 6, outdated: bool = True, health: bool = True,
         pause: str = "PT10S") -> ScaleSetSpec:
    return ScaleSetSpec(
        name, GROUP, capacity=capacity, upgrade_mode=mode, health_probe=health, vnet="vnet-roll", subnet="default",
        overprovision=False,
        rolling_policy=RollingPolicySpec(max_batch_instance_percent=34, pause_time_between_batches=pause),
        instance_states={i: InstanceStateSpec(latest_model=not outdated) for i in range(capacity)},
    )


def topology(*specs: ScaleSetSpec) -> Topology:
    return Topology(scale_sets=list(specs),
                    vnets=[VnetSpec("vnet-roll", GROUP, "10.42.0.0/16", [SubnetSpec("default", "10.42.0.0/24")])])


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Polls at a pace that sees each batch of a simulator running 50x; journals in a temporary
    state directory."""
    monkeypatch.setattr(rollout_view, "ROLLOUT_REFRESH", 0.2)
    monkeypatch.setattr(rollout_view, "IDLE_REFRESH", 0.5)
    monkeypatch.setattr(rollout_actions, "GUARDED_POLL", 0.1)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


async def start(start_simulator: Any, *specs: ScaleSetSpec, **kwargs: Any) -> Any:
    return await start_simulator(topology=topology(*specs), speed=SPEED, ssh=False, **kwargs)


def the_view(app: Any, name: str) -> RolloutView:
    return next(v for v in app.screen_stack[0].query(RolloutView) if v.scale_set.name == name)


async def on_row(pilot: Any, app: Any, name: str) -> None:
    """The scale-set pane focused, its cursor on `name`."""
    app.fleet_screen.show_view("vmss")
    table = scale_set_table(app)
    table.focus()
    assert table.move_to_key(scale_set_key(app, name))
    await pilot.pause()


async def open_view(pilot: Any, app: Any, name: str) -> RolloutView:
    """`u` on the scale set's row: its rollout tab opens, and its first poll is shown."""
    await on_row(pilot, app, name)
    await pilot.press("u")
    await wait_until(pilot, lambda: any(v.scale_set.name == name for v in app.screen_stack[0].query(RolloutView)),
                     f"the rollout view of {name}")
    view = the_view(app, name)
    await wait_until(pilot, lambda: view.tracker.view.observed_at is not None and app.focused is view.table,
                     "the first poll")
    return view


async def confirm(pilot: Any, app: Any) -> ConfirmActionScreen:
    """The confirmation asks with Cancel focused (the default); Tab to the action and Enter."""
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmActionScreen), "the confirmation")
    dialog = app.screen
    assert isinstance(dialog, ConfirmActionScreen)
    assert app.focused is dialog.query_one("#cancel", Button)
    await pilot.press("tab")
    if dialog.type_to_confirm:
        await pilot.press(*dialog.type_to_confirm, "tab")
    assert app.focused is dialog.query_one("#confirm", Button)
    await pilot.press("enter")
    await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmActionScreen), "the dialog to close")
    return dialog


def shown(widget: Any) -> str:
    """The text a line of the view shows now."""
    return str(widget.render())


def cells(view: RolloutView, column: str) -> dict[str, str]:
    table = view.table
    return {key: table.get_cell(key, column).plain for key in table.visible_keys}


def code_of(view: RolloutView) -> str | None:
    status = view.tracker.view.status
    return status.code if status is not None else None


async def step(pilot: Any, view: RolloutView, sim: Any, seconds: float = 10.0) -> None:
    """Simulated time moves on (a manual clock), then the view polls twice: the second poll
    started after the step, so it saw what the step did."""
    sim.advance(seconds)
    seen = view.polls
    await wait_until(pilot, lambda: view.polls >= seen + 2, "the view to poll")


async def roll_until(pilot: Any, view: RolloutView, sim: Any, done: Any, what: str, limit: int = 60) -> None:
    for _ in range(limit):
        if done():
            return
        await step(pilot, view, sim)
    raise AssertionError(f"{what}: not after {limit} steps; last view {view.tracker.view}")


def writes(sim: Any, suffix: str) -> list[Any]:
    return [body for method, path, body in list(sim.write_log) if path.casefold().endswith(suffix.casefold())]


# ---------------------------------------------------------------------- Rolling


async def test_rolling_upgrade_is_watched_live_batch_by_batch_to_completed(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-roll", "Rolling"), clock=ManualClock())
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        view = await open_view(pilot, app, "vmss-roll")
        assert shown(view.status).startswith("Rolling · no rolling upgrade has run")
        assert set(cells(view, "state").values()) == {"pending"}
        assert shown(view.policy) == ("policy: batches 34% · pause PT10S · unhealthy ≤ 20% · upgraded unhealthy ≤ 20%"
                                      " · unhealthy first no · surge no")
        await pilot.press("S")
        dialog = await confirm(pilot, app)
        assert "rolling upgrade of the 6 instances not on the latest model" in dialog.summary
        # Live with no key pressed: the batch in flight is marked.
        await roll_until(pilot, view, sim, lambda: view.tracker.view.current_batch is not None, "a batch in flight")
        current = view.tracker.view.current_batch
        assert current is not None and len(current.instance_ids) == 2
        assert {k for k, v in cells(view, "batch").items() if v.startswith("▶")} == set(current.instance_ids)
        assert {cells(view, "state")[i] for i in current.instance_ids} == {"upgrading"}
        assert code_of(view) == "RollingForward" and "RollingForward · started " in shown(view.status)
        assert "0 done · 0 failed · 2 in progress · 4 pending  (ARM)" in shown(view.bar)
        await roll_until(pilot, view, sim, lambda: code_of(view) == "Completed", "Completed")
        await roll_until(pilot, view, sim, lambda: set(cells(view, "state").values()) == {"done"}, "all done")
        assert "6 done · 0 failed · 0 in progress · 0 pending  (ARM)" in shown(view.bar)
        assert "ETA 0 s" in shown(view.timing) and "per min" in shown(view.timing)
        timeline = str(view.events.render())
        assert "rolling upgrade Completed" in timeline
        assert [line.split(" ", 1)[1] for line in timeline.splitlines() if "started:" in line] == [
            "batch 1 started: 0, 1", "batch 2 started: 2, 3", "batch 3 started: 4, 5"]
        assert cells(view, "batch") == {"0": "1", "1": "1", "2": "2", "3": "2", "4": "3", "5": "3"}
        assert not view.error.has_class("-shown")


async def test_a_rolling_upgrade_that_faults_shows_the_code_in_full_and_marks_the_failed_instance(
        start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-roll", "Rolling"), clock=ManualClock())
    sim.inject_unhealthy(GROUP, "vmss-roll", [0], after_upgrade=True)  # a bad image on instance 0
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        view = await open_view(pilot, app, "vmss-roll")
        await pilot.press("S")
        await confirm(pilot, app)
        await roll_until(pilot, view, sim, lambda: code_of(view) == "Faulted", "Faulted")
        await roll_until(pilot, view, sim, lambda: cells(view, "state").get("0") == "failed", "instance 0 failed")
        assert cells(view, "health")["0"] == "unhealthy" and cells(view, "note")["0"] == "unhealthy"
        assert [cells(view, "state")[i] for i in "12345"] == ["done", "pending", "pending", "pending", "pending"]
        code = "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
        assert view.error.has_class("-shown") and view.error.read_only
        assert view.error.text.startswith(f"{code}: Rolling Upgrade failed after exceeding the "
                                          "MaxUnhealthyUpgradedInstancePercent value")
        # Selectable: the whole message can be copied.
        view.error.select_all()
        assert view.error.selected_text == view.error.text
        assert "Faulted" in shown(view.status)
        assert f"rolling upgrade Faulted: {code}" in str(view.events.render())
        assert "1 done · 1 failed · 0 in progress · 4 pending  (ARM)" in shown(view.bar)


async def test_cancel_mid_rollout_asks_first_and_the_batch_in_flight_finishes(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-roll", "Rolling"), clock=ManualClock())
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        view = await open_view(pilot, app, "vmss-roll")
        assert not view.offers("cancel")  # nothing runs: not offered
        await pilot.press("S")
        await confirm(pilot, app)
        await roll_until(pilot, view, sim, lambda: view.tracker.view.current_batch is not None and view.offers("cancel"),
                         "a batch in flight")
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmActionScreen), "the cancel dialog")
        await pilot.press("escape")  # Esc: nothing is sent
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmActionScreen), "the dialog gone")
        assert writes(sim, "/rollingUpgrades/cancel") == []
        await pilot.press("C")
        await confirm(pilot, app)
        await wait_until(pilot, lambda: len(writes(sim, "/rollingUpgrades/cancel")) == 1, "the cancel request")
        await roll_until(pilot, view, sim, lambda: code_of(view) == "Cancelled", "Cancelled")
        status = view.tracker.view.status
        assert status is not None and (status.successful, status.pending) == (2, 4) and status.last_action == "Cancel"
        assert "Cancelled" in shown(view.status) and "last action Cancel" in shown(view.status)
        assert view.error.text.startswith("RollingUpgradeCanceled: The Rolling Upgrade was canceled.")
        assert view.error.text.count("vmss-roll/virtualMachines/") == 4  # each instance it left behind
        assert sorted(cells(view, "state").values()) == ["done", "done", "pending", "pending", "pending", "pending"]


# ---------------------------------------------------------------------- the model-change dialog


async def test_model_change_dialog_checks_each_field_shows_the_diff_and_sends_only_what_changed(
        start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-auto", "Automatic", capacity=3, outdated=False))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        await on_row(pilot, app, "vmss-auto")
        writes_before = sim.write_count
        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelChangeScreen), "the model dialog")
        dialog = app.screen
        image = dialog.query_one("#model-image", Input)
        apply = dialog.query_one("#confirm", Button)
        assert app.focused is image and image.value == PINNED and apply.disabled  # nothing changed yet
        # A version that is not one: said under the field, nothing can be applied.
        image.value = PINNED.rsplit(":", 1)[0] + ":soon"
        await pilot.pause()
        problem = dialog.query_one("#model-image-problem")
        assert problem.display and "version 'soon' is not major.minor.build" in str(problem.render())
        assert apply.disabled
        image.value = PINNED.rsplit(":", 1)[0] + ":" + NEXT_VERSION
        dialog.query_one("#model-tags", TextArea).load_text("owner=ops")
        await pilot.pause()
        assert not problem.display and not apply.disabled
        diff = str(dialog.query_one("#model-diff").render())
        assert diff.splitlines() == [f"image      {PINNED}", f"        →  {PINNED.rsplit(':', 1)[0]}:{NEXT_VERSION}",
                                     "tag owner  (none)", "        →  ops"]
        consequence = str(dialog.query_one("#model-consequence").render())
        assert consequence == "Automatic policy: Azure updates all 3 instances at once, now."
        # Esc leaves the model as it is.
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ModelChangeScreen) and sim.write_count == writes_before

        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelChangeScreen), "the model dialog again")
        dialog = app.screen
        dialog.query_one("#model-image", Input).value = PINNED.rsplit(":", 1)[0] + ":" + NEXT_VERSION
        dialog.query_one("#model-size", Input).value = "Standard_D4s_v5"
        await pilot.pause()
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: len(writes(sim, "/virtualMachineScaleSets/vmss-auto")) == 1, "the PATCH")
        method, _, body = next(w for w in list(sim.write_log) if w[1].casefold().endswith("/vmss-auto"))
        assert method == "PATCH"
        assert body == {
            "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {
                "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
                "version": NEXT_VERSION}}}},
            "sku": {"name": "Standard_D4s_v5", "tier": "Standard"},
        }

        # Automatic: Azure updates every instance at once; the rollout view shows them converge.
        view = await open_view(pilot, app, "vmss-auto")
        await wait_until(pilot, lambda: set(cells(view, "state").values()) == {"done"}
                         and all(i.latest_model for i in view.instances.values())
                         and sim.instance(GROUP, "vmss-auto", 0).model_version > 0, "the instances converge", limit=30)
        assert shown(view.status).startswith("Automatic · Azure updates every instance at once")


# ---------------------------------------------------------------------- Manual


async def test_manual_update_of_the_marked_instances_only(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-man", "Manual", capacity=4))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        view = await open_view(pilot, app, "vmss-man")
        assert view.offers("guarded") and not view.offers("cancel")
        await pilot.press("down", "space", "space")  # marks 1 and 2
        assert view.marks == {"1", "2"} and cells(view, "mark")["1"] == "●"
        await pilot.press("U")
        dialog = await confirm(pilot, app)
        assert dialog.title_text == "Update 2 instances of vmss-man?"
        await wait_until(pilot, lambda: [cells(view, "state")[i] for i in "0123"] == ["pending", "done", "done", "pending"]
                         and not app.store.running, "the marked instances updated", limit=30)
        assert [b["instanceIds"] for b in writes(sim, "/manualupgrade")] == [["1", "2"]]
        assert view.marks == set()


# ---------------------------------------------------------------------- resilience and shape


async def test_failed_polls_keep_the_last_state_marked_stale_and_recover(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-roll", "Rolling", capacity=2))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        view = await open_view(pilot, app, "vmss-roll")
        rows_before = cells(view, "state")
        rule = sim.add_fault(r"/rollingUpgrades/latest", 503, count=None, code="ServiceUnavailable",
                             message="The service is unavailable.")
        await wait_until(pilot, lambda: view.tracker.view.stale, "a stale view", limit=20)
        assert "stale: " in shown(view.timing) and cells(view, "state") == rows_before
        assert "stale" in str(view.border_subtitle)
        sim.faults.remove(rule)
        view.poll_soon()
        await wait_until(pilot, lambda: not view.tracker.view.stale, "the view live again", limit=60)
        assert "stale" not in shown(view.timing)


async def test_several_scale_sets_are_watched_at_once_and_the_fleet_stays_usable(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-a", "Rolling", capacity=2), spec("vmss-b", "Manual", capacity=2))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        first = await open_view(pilot, app, "vmss-a")
        await pilot.press("escape")  # back to the fleet
        await wait_until(pilot, lambda: app.fleet_screen.tabs.active == "fleet-tab", "the fleet tab")
        second = await open_view(pilot, app, "vmss-b")
        assert {first.track_name, second.track_name} <= set(app.poller.plan.tracks)
        # The hidden one keeps its track while its scale set rolls; pressing u again switches to it.
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.fleet_screen.tabs.active == "fleet-tab", "the fleet tab again")
        scale_set_table(app).focus()
        scale_set_table(app).move_to_key(scale_set_key(app, "vmss-a"))
        await pilot.pause()
        await pilot.press("u")
        await wait_until(pilot, lambda: first.parent is not None and first.parent.display, "the first tab again")
        assert len(list(app.screen_stack[0].query(RolloutView))) == 2
        await pilot.press("ctrl+w")
        await wait_until(pilot, lambda: first.track_name not in app.poller.plan.tracks, "its track gone")
        assert second.track_name in app.poller.plan.tracks


async def test_read_only_offers_no_write_and_sends_none(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-roll", "Rolling", capacity=2), spec("vmss-man", "Manual", capacity=2))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1, read_only=True) as (app, pilot):
        notes = record_notifications(app)
        await on_row(pilot, app, "vmss-roll")
        await pilot.press("M")
        await pilot.pause()
        assert not isinstance(app.screen, ModelChangeScreen)
        assert any("Read-only session" in n for n, _ in notes)
        view = await open_view(pilot, app, "vmss-roll")
        offered = {key for key, active in app.screen.active_bindings.items() if active.enabled}
        assert not offered & {"S", "U", "B", "C", "I", "p", "r", "A"}
        for key in ("S", "U", "C", "I", "space", "U"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmActionScreen)
        assert sim.write_count == 0 and view.is_mounted


async def test_rollout_on_start_opens_the_named_scale_set(start_simulator) -> None:
    sim = await start(start_simulator, spec("vmss-roll", "Rolling", capacity=2))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        notes = record_notifications(app)
        missing = RolloutOnStart(("vmss-none", None))
        missing.fleet_changed(app.fleet_screen)
        assert notes[-1][0] == "Scale set vmss-none not found"
        opening = RolloutOnStart(("VMSS-ROLL", GROUP))
        opening.fleet_changed(app.fleet_screen)
        await wait_until(pilot, lambda: any(True for _ in app.screen_stack[0].query(RolloutView)), "the view")
        assert the_view(app, "vmss-roll").scale_set.resource_group == GROUP
        assert isinstance(the_view(app, "vmss-roll").table, RolloutTable)
