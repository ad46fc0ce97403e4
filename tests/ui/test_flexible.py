"""Flexible scale sets in the console, beside Uniform ones, on the simulator's demo topology: the
mode in the scale-set pane, VM names as instance ids, NAT rules V2 endpoints, an action on a VM
watched to its end, SSH through the NAT V2 port, and a scale set whose list fails shown on its row
while the others are listed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.console import (
    UI_SIM_SPEED,
    cell_text,
    instance_table,
    loaded_console,
    move_to_instance,
    scale_set_key,
    scale_set_table,
    wait_until,
)
from vmss_tui.sim import demo_topology
from vmss_tui.ui.dialogs import ConfirmActionScreen

FLEX = "vmss-flex"


async def test_uniform_and_flexible_side_by_side(start_simulator) -> None:
    sim = await start_simulator(topology=demo_topology(), speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(200, 50), scale_set=FLEX) as (app, pilot):
        vmss = scale_set_table(app)
        modes = {app.store.entries[key].scale_set.name: cell_text(vmss, key, "mode") for key in vmss.visible_keys}
        assert modes[FLEX] == "Flexible" and modes["vmss-web"] == "Uniform"
        entry = app.store.selected()
        assert entry is not None and entry.instances
        table = instance_table(app)
        for instance in entry.instances:
            assert instance.instance_id == instance.name and instance.instance_id.startswith(f"{FLEX}_")
            assert cell_text(table, instance.id, "id") == instance.instance_id
            assert cell_text(table, instance.id, "latest") == "unknown"  # ARM does not say for a VM
        await wait_until(pilot, lambda: entry.nat is not None, "the NAT mappings")
        mapping = next(m for m in entry.nat.mappings if m.backend_port == 22)  # type: ignore[union-attr]
        assert mapping.kind == "rule-v2"
        first = entry.instance_by_id(mapping.instance_id)
        assert first is not None
        assert cell_text(table, first.id, "ssh") == mapping.endpoint
        await pilot.press("d")  # describe says the mode and that the latest model is not known
        text = app.screen.description  # type: ignore[attr-defined]
        assert re.search(r"Orchestration +Flexible", text) and "unknown (ARM does not say" in text


async def test_a_flexible_vm_is_restarted_and_watched_to_running(start_simulator) -> None:
    sim = await start_simulator(topology=demo_topology(), speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(200, 50), scale_set=FLEX) as (app, pilot):
        entry = app.store.selected()
        assert entry is not None and entry.instances
        target = next(i for i in entry.instances if i.is_running)
        await move_to_instance(pilot, app, target.instance_id)
        writes = sim.write_count
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmActionScreen)
        await pilot.press("tab", "enter")
        table = instance_table(app)
        def watched_to_running() -> bool:
            current = app.store.selected().instance(target.id)  # type: ignore[union-attr]
            return bool(app.store.finished) and current is not None and current.power_state == "running"

        await wait_until(pilot, watched_to_running, "the restart to be watched to running")
        assert cell_text(table, target.id, "power") == "running" and cell_text(table, target.id, "prov") != "restarting…"
        run = app.store.finished[-1]
        assert "succeeded" in (run.outcome or "") and run.instance_keys == {target.id} and run.pending == "restarting…"
        assert sim.write_count == writes + 1  # one POST to the VM itself
        method, path, _status = next(r for r in reversed(sim.arm.request_log) if r[0] == "POST")
        assert f"/virtualMachines/{target.instance_id}/restart" in path


async def test_ssh_to_a_flexible_vm_through_its_nat_v2_port(start_simulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    sim = await start_simulator(topology=demo_topology(), speed=UI_SIM_SPEED)
    async with loaded_console(sim, size=(160, 45), scale_set=FLEX,
                              ssh_identity_file=str(sim.ssh_client_key_path)) as (app, pilot):
        entry = app.store.selected()
        assert entry is not None
        await wait_until(pilot, lambda: entry.nat is not None, "the NAT mappings")
        mapping = next(m for m in entry.nat.mappings if m.backend_port == 22)  # type: ignore[union-attr]
        await move_to_instance(pilot, app, mapping.instance_id)
        await pilot.press("s")
        pane = app.query_one("SshSessionPane")
        assert (pane.target.host, pane.target.port) == (mapping.frontend_ip, mapping.frontend_port)
        await wait_until(pilot, lambda: isinstance(app.screen, _host_key_dialog()) or pane.state == "connected",
                         "the host key question")
        if isinstance(app.screen, _host_key_dialog()):
            await pilot.press("y")
        await wait_until(pilot, lambda: pane.state == "connected", "the session", limit=20)
        computer = entry.instance_by_id(mapping.instance_id).computer_name  # type: ignore[union-attr]
        await pilot.press(*"hostname", "enter")
        await wait_until(pilot, lambda: any(computer in line for line in pane.terminal.emulator.display()[1:]),
                         "the guest's hostname")


def _host_key_dialog() -> Any:
    from vmss_tui.ui.ssh_dialogs import HostKeyDialog

    return HostKeyDialog


async def test_a_scale_set_that_cannot_be_listed_says_so_on_its_row(start_simulator) -> None:
    sim = await start_simulator(topology=demo_topology(), speed=UI_SIM_SPEED, ssh=False)
    sim.add_fault(r"/virtualMachineScaleSets/vmss-api/virtualMachines$", 400, count=None,
                  code="OperationNotAllowed", message="Operation '[parameters(vmName)]' is not allowed [/x].")
    async with loaded_console(sim, size=(200, 50)) as (app, pilot):
        vmss = scale_set_table(app)
        api = scale_set_key(app, "vmss-api")
        await wait_until(pilot, lambda: app.store.entries[api].error is not None, "the failure on its row")
        assert cell_text(vmss, api, "prov").startswith("unlisted: OperationNotAllowed")
        others = [key for key in vmss.visible_keys if key != api]
        await wait_until(pilot, lambda: all(app.store.entries[k].counts is not None for k in others
                                            if k in vmss.keys_in_view()), "the other rows' counts")
        vmss.focus()
        vmss.move_to_key(api)
        await pilot.pause()
        await pilot.press("d")
        assert "[parameters(vmName)]" in app.screen.description  # type: ignore[attr-defined]
