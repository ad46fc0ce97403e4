"""The SSH tabs and the NAT pane as an operator uses them: a tab brought to the front takes the
keys, `s` returns to an open session (`S` opens another), SSH to a stopped instance offers to start
it, a NAT row is probed, copied and written as an .rdp file, `:` takes a prefix, and the NSG
verdict's three colours mean three things."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.console import (
    UI_SIM_SPEED,
    loaded_console,
    move_to_instance,
    nat_table,
    wait_until,
)
from vmss_tui.domain.models import NatMapping, NsgVerdict
from vmss_tui.ui.dialogs import ConfirmActionScreen
from vmss_tui.ui.panes import cells as styles
from vmss_tui.ui.panes.nat import nat_key, nsg_cell


def _sessions(app: Any) -> list[Any]:
    return list(app.query("SshSessionPane"))


async def test_s_returns_to_the_open_session_and_S_opens_another(start_simulator, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(120, 40), scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        await pilot.press("s")
        await wait_until(pilot, lambda: len(_sessions(app)) == 1, "the first session")
        tabs = app.query_one("#tabs")
        first = tabs.active
        await pilot.press("ctrl+right_square_bracket")  # leave the terminal if it took the keys
        app.fleet_screen.show_view("inst")  # back to the fleet tab
        await pilot.pause()
        await move_to_instance(pilot, app, "1")
        await pilot.press("s")
        await pilot.pause()
        assert len(_sessions(app)) == 1 and tabs.active == first, "the open session, not a second one"
        app.fleet_screen.show_view("inst")
        await pilot.pause()
        await move_to_instance(pilot, app, "1")
        await pilot.press("S")
        await wait_until(pilot, lambda: len(_sessions(app)) == 2, "a second session on request")
        assert tabs.active != first
        assert "tab 3/3" in app.fleet_screen.status.render().plain  # the tab strip may not show them all


async def test_switching_to_a_tab_gives_its_content_the_keys(start_simulator, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(120, 40), scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        await pilot.press("s")
        await wait_until(pilot, lambda: len(_sessions(app)) == 1, "the session tab")
        pane = _sessions(app)[0]
        await pilot.press("ctrl+right_square_bracket")
        app.fleet_screen.show_view("inst")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "instances"
        await pilot.press("right_square_bracket")  # to the SSH tab
        await wait_until(pilot, lambda: app.focused is pane or app.focused is pane.terminal,
                         "the tab's content to have the keys")


async def test_ssh_to_a_deallocated_instance_offers_to_start_it(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(120, 40), scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "7")  # deallocated in the classic fleet
        writes = sim.write_count
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, ConfirmActionScreen) and "deallocated" in dialog.title_text
        assert app.focused.id == "cancel" and not _sessions(app)
        await pilot.press("enter")  # Cancel
        assert sim.write_count == writes
        await pilot.press("s")
        await pilot.press("tab", "enter")  # Start instance
        await wait_until(pilot, lambda: bool(app.store.finished), "the start")
        assert "Start of vmss-web instance 7: succeeded" in (app.store.finished[-1].outcome or "")
        assert sim.write_count == writes + 1


async def test_a_nat_row_is_probed_copied_and_written_as_an_rdp_file(start_simulator, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    sim = await start_simulator(speed=UI_SIM_SPEED)  # SSH servers listen on the NAT ports
    async with loaded_console(sim, size=(200, 50), scale_set="vmss-web") as (app, pilot):
        table = nat_table(app)
        table.focus()
        entry = app.store.selected()
        ssh = next(m for m in entry.nat.mappings if m.instance_id == "1" and m.backend_port == 22)
        rdp = next(m for m in entry.nat.mappings if m.instance_id == "1" and m.backend_port == 3389)
        table.move_to_key(nat_key(ssh))
        await pilot.pause()
        await pilot.press("p")
        await wait_until(pilot, lambda: table.get_cell(nat_key(ssh), "probe").plain.startswith("listening"),
                         "the probe of the SSH mapping")
        table.move_to_key(nat_key(rdp))
        await pilot.pause()
        await pilot.press("p")  # nothing listens on the simulated RDP port
        await wait_until(pilot, lambda: table.get_cell(nat_key(rdp), "probe").plain not in ("-", ""), "the probe")
        assert not table.get_cell(nat_key(rdp), "probe").plain.startswith("listening")
        await pilot.press("c")
        assert app.clipboard == rdp.endpoint
        await pilot.press("w")
        written = list((tmp_path / "vmss-tui" / "rdp").glob("*.rdp"))
        assert len(written) == 1
        assert f"full address:s:{rdp.endpoint}" in written[0].read_text()


async def test_a_command_prefix_takes_the_suggestion(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(80, 24)) as (app, pilot):
        await pilot.press("colon", *"na", "enter")
        assert app.fleet_screen.view == "nat"
        await pilot.press("colon", *"di", "enter")
        assert app.fleet_screen.view == "disk"


def test_the_nsg_verdicts_three_colours() -> None:
    def mapping(verdict: NsgVerdict) -> NatMapping:
        return NatMapping(scale_set="s", resource_group="g", instance_id="1", protocol="Tcp", backend_port=22,
                          frontend_ip="127.0.0.1", frontend_port=50000, load_balancer="lb", rule="r", kind="pool",
                          nsg=verdict)

    open_ = nsg_cell(mapping(NsgVerdict(22, "Tcp", True, "nsg", "ssh", ("*",), open_to_any=True)))
    restricted = nsg_cell(mapping(NsgVerdict(22, "Tcp", True, "nsg", "ssh", ("10.0.0.0/8",))))
    blocked = nsg_cell(mapping(NsgVerdict(22, "Tcp", False, "nsg", "DenyAll")))
    assert (open_[1], restricted[1], blocked[1]) == (styles.OPEN, styles.GOOD, styles.BLOCKED)
    assert len({open_[1], restricted[1], blocked[1]}) == 3
