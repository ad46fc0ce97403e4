"""The config file in the running console: remapped keys, and problems shown while the app
starts with defaults."""

from __future__ import annotations

from typing import Any

from tests.support.console import (
    UI_SIM_SPEED,
    instance_table,
    make_app,
    scale_set_table,
    select_scale_set,
    wait_loaded,
    wait_until,
)
from vmss_tui.config import load_config
from vmss_tui.ui.app import VmssConsoleApp
from vmss_tui.ui.bindings import all_binding_ids
from vmss_tui.ui.dialogs import ConfirmActionScreen
from vmss_tui.ui.help import HelpScreen


def _recording(app: Any) -> list[str]:
    notes: list[str] = []
    original = app.notify

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        notes.append(message)
        original(message, *args, **kwargs)

    app.notify = record
    return notes


def test_every_binding_has_an_id_that_the_config_can_name():
    from textual.binding import Binding

    from vmss_tui.ui import app as app_module
    from vmss_tui.ui import details, dialogs, help, prompt
    from vmss_tui.ui.panes import disks, instances, nat, scale_sets, table
    from vmss_tui.ui.screens import fleet

    ids = all_binding_ids(VmssConsoleApp)
    for module in (app_module, details, dialogs, help, prompt, disks, instances, nat, scale_sets, table, fleet):
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__module__ == module.__name__:
                for binding in vars(obj).get("BINDINGS", ()) or ():
                    if isinstance(binding, Binding) and binding.key not in ("left", "right"):
                        assert binding.id, f"{obj.__name__}: {binding.key} -> {binding.action} has no id"
                        assert binding.id in ids


async def test_remapped_keys_work_and_the_old_ones_do_not(start_simulator, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"nav.down" = "n"\n"instances.restart" = "R"\n"app.help" = "f1"\n')
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    app = make_app(sim, config=load_config(path))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_loaded(pilot, app)
        table = scale_set_table(app)
        await pilot.press("n")
        assert table.cursor_row == 1
        await pilot.press("j")  # no longer bound
        assert table.cursor_row == 1
        await pilot.press("down")  # the arrow keys stay
        assert table.cursor_row == 2
        await select_scale_set(pilot, app, "vmss-web")
        assert app.focused is instance_table(app)
        await pilot.press("r")
        assert not isinstance(app.screen, ConfirmActionScreen)
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmActionScreen)
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = {row.binding_id: row.key for row in app.screen.rows}
        assert keys["instances.restart"] == "R" and keys["nav.down"] == "n" and keys["app.help"] == "f1"


async def test_a_broken_config_is_reported_and_the_app_runs_with_defaults(start_simulator, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[refresh]\ninstances = 5\n[keys\n"nav.down" = "n"\n')
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    app = make_app(sim, config=load_config(path))
    notes = _recording(app)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_loaded(pilot, app)
        assert any(f"{path} line 3:" in note for note in notes), notes
        await pilot.press("j")  # the default keys
        assert scale_set_table(app).cursor_row == 1


async def test_unknown_binding_ids_and_themes_are_reported(start_simulator, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('theme = "no-such-theme"\n[keys]\n"instance.restart" = "R"\n"nav.up" = "p"\n'
                    '"instances.start" = "x"\n"instances.stop" = "x"\n')
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    app = make_app(sim, config=load_config(path))
    notes = _recording(app)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_loaded(pilot, app)
        # [keys] is checked in a thread after the first frame
        await wait_until(pilot, lambda: any("unknown binding id" in n for n in notes), "the [keys] check")
        assert any("unknown binding id 'instance.restart'" in n and "instances.restart" in n for n in notes)
        assert any(f"{path} line 5, {path} line 6: key 'x' is bound to 'instances.start' and 'instances.stop'" in n
                   for n in notes), notes
        assert any("theme 'no-such-theme' is not known" in n for n in notes)
        await pilot.press("j", "p")  # the valid entry still applies
        assert scale_set_table(app).cursor_row == 0


async def test_a_known_theme_is_applied(start_simulator, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n')
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    app = make_app(sim, config=load_config(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "nord"
