"""The console against a real simulator: loading, navigation, filter, marks, views, help,
details, command mode, palette, layout."""

from __future__ import annotations

import json
from typing import Any

from tests.support.console import (
    UI_SIM_SPEED,
    instance_key,
    instance_table,
    loaded_console,
    make_app,
    move_to_instance,
    nat_table,
    scale_set_key,
    scale_set_table,
    select_scale_set,
    shown_instance_ids,
    wait_loaded,
    wait_until,
)
from vmss_tui.ui.details import DetailsScreen
from vmss_tui.ui.help import HelpScreen


async def test_first_load_shows_every_scale_set_grouped_and_the_selected_instances(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, size=(200, 50)) as (app, pilot):
        table = scale_set_table(app)
        expected = await fleet.list_scale_sets()
        shown = [app.store.entries[k].scale_set for k in table.visible_keys]
        assert sorted(s.id for s in shown) == sorted(s.id for s in expected)
        # grouped: sorted by resource group, the group label only on its first row
        groups = [s.resource_group for s in shown]
        assert groups == sorted(groups, key=str.casefold)
        labels = [table.get_cell(k, "rg").plain for k in table.visible_keys]
        assert labels.count("") == len(labels) - len(set(groups))
        # the selected scale set's instances are those ARM lists
        view = app.store.selected()
        assert view is not None
        listed = await fleet.list_instances(view.scale_set)
        assert sorted(shown_instance_ids(app), key=int) == sorted((i.instance_id for i in listed), key=int)


async def test_counts_nsg_mark_and_ssh_endpoints_come_from_arm(start_simulator, open_fleet):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    fleet = await open_fleet(sim)
    async with loaded_console(sim, size=(200, 50)) as (app, pilot):
        table = scale_set_table(app)
        web = scale_set_key(app, "vmss-web")
        await wait_until(pilot, lambda: table.get_cell(web, "outdated").plain != "·", "counts of vmss-web")
        instances = await fleet.list_instances(app.store.entries[web].scale_set)
        assert table.get_cell(web, "outdated").plain == str(sum(1 for i in instances if i.latest_model is False))
        assert table.get_cell(web, "down").plain == str(sum(1 for i in instances if i.power_state != "running"))
        assert "SSH open" in table.get_cell(web, "nsg").plain  # nsg-web opens 22 to *
        batch = scale_set_key(app, "vmss-batch")
        assert "open" not in table.get_cell(batch, "nsg").plain  # SSH only from 10/8

        await select_scale_set(pilot, app, "vmss-web")
        resolution = await fleet.nat_mappings_for(app.store.entries[web].scale_set)
        for instance in instances:
            mapping = next(m for m in resolution.mappings
                           if m.instance_id == instance.instance_id and m.backend_port == 22)
            cell = instance_table(app).get_cell(instance.id, "ssh").plain
            assert cell == f"{mapping.frontend_ip}:{mapping.frontend_port}"

        await select_scale_set(pilot, app, "vmss-data")  # no load balancer: says why
        key = instance_table(app).visible_keys[0]
        assert instance_table(app).get_cell(key, "ssh").plain == "no load balancer"
        assert "no load balancer" in str(app.query_one("#nat-notes").render())


async def test_j_k_enter_escape_and_number_keys_move_between_views(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    app = make_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:  # compact: one pane at a time
        await wait_loaded(pilot, app)
        table = scale_set_table(app)
        assert app.focused is table and app.fleet_screen.view == "vmss"
        assert not app.query_one("#inst-pane").display
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("down")
        assert table.cursor_row == 2
        key = table.cursor_key
        await pilot.press("enter")
        assert app.fleet_screen.view == "inst" and app.focused is instance_table(app)
        assert app.store.selected_id == key
        assert app.query_one("#inst-pane").display and not app.query_one("#vmss-pane").display
        await pilot.press("3")
        assert app.fleet_screen.view == "nat" and app.focused is nat_table(app)
        await pilot.press("escape")
        assert app.fleet_screen.view == "inst"
        await pilot.press("4")
        assert app.fleet_screen.view == "disk" and app.query_one("#disk-pane").display
        await pilot.press("escape", "escape")
        assert app.fleet_screen.view == "vmss" and app.focused is table
        await pilot.press("2")
        assert app.fleet_screen.view == "inst"


async def test_filter_regex_invert_and_escape(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(200, 50)) as (app, pilot):
        table = scale_set_table(app)
        names = lambda: [app.store.entries[k].scale_set.name for k in table.visible_keys]  # noqa: E731
        all_names = names()
        await pilot.press("slash", *"web|api")
        assert sorted(names()) == ["vmss-api", "vmss-web"]
        await pilot.press("enter")
        assert app.focused is table and table.row_filter.active
        await pilot.press("slash", "ctrl+u", *"!web|api")  # ctrl+u clears the input
        assert sorted(names()) == sorted(n for n in all_names if n not in ("vmss-api", "vmss-web"))
        await pilot.press("left_square_bracket")  # "!web|api[" is no regex: the last valid filter stays
        assert app.query_one("#prompt").has_class("-invalid")
        assert "vmss-web" not in names() and len(names()) == len(all_names) - 2
        await pilot.press("escape")  # Esc in the prompt clears the filter
        assert names() == all_names and not table.row_filter.active
        # Esc on a filtered table clears the filter before it goes back anywhere
        await pilot.press("slash", *"vmss-batch", "enter")
        assert names() == ["vmss-batch"]
        await pilot.press("escape")
        assert names() == all_names and app.fleet_screen.view == "vmss"


async def test_instance_filter_and_marks(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(200, 50), scale_set="vmss-web") as (app, pilot):
        assert app.focused is instance_table(app)
        await pilot.press("slash", *"stopped|deallocated", "enter")
        assert shown_instance_ids(app) == ["5", "7"]
        await pilot.press("escape")
        await move_to_instance(pilot, app, "2")
        await pilot.press("space")  # marks and moves down
        assert instance_table(app).cursor_key == instance_key(app, "4")
        await move_to_instance(pilot, app, "6")
        await pilot.press("space")
        view = app.store.selected()
        assert view is not None
        assert view.marks == {instance_key(app, "2"), instance_key(app, "6")}
        assert [i.instance_id for i in app.store.target_instances()] == ["2", "6"]
        assert instance_table(app).get_cell(instance_key(app, "2"), "mark").plain == "●"
        assert "2 marked" in str(app.query_one("#inst-pane").border_title)
        await move_to_instance(pilot, app, "2")
        await pilot.press("space")  # unmark
        assert view.marks == {instance_key(app, "6")}
        await pilot.press("ctrl+backslash")
        assert not view.marks
        # without marks, actions target the cursor row
        await move_to_instance(pilot, app, "4")
        assert [i.instance_id for i in app.store.target_instances()] == ["4"]
        await pilot.press("ctrl+a")
        assert len(view.marks) == 6


async def test_help_lists_every_binding_of_the_focused_pane_with_ids(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(200, 50), scale_set="vmss-web") as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {row.binding_id for row in app.screen.rows}
        for expected in ("instances.mark", "instances.restart", "instances.start", "instances.stop",
                         "instances.deallocate", "instances.reimage", "instances.update", "instances.delete",
                         "instances.ssh", "nav.down", "nav.up", "app.filter", "app.command", "app.refresh",
                         "app.json", "app.describe", "app.back", "app.palette"):
            assert expected in ids, expected
        assert "vmss.scale" not in ids  # another pane's
        keys = {row.binding_id: row.key for row in app.screen.rows}
        assert keys["instances.restart"] == "r" and keys["nav.down"] == "j"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("1", "question_mark")
        ids = {row.binding_id for row in app.screen.rows}
        assert {"vmss.scale", "vmss.start_all", "vmss.stop_all", "vmss.open"} <= ids
        assert "instances.restart" not in ids


async def test_details_json_is_what_arm_returned_and_describe_is_readable(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(120, 40), scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "4")
        await pilot.press("y")
        screen = app.screen
        assert isinstance(screen, DetailsScreen) and screen.mode == "json"
        document = json.loads(screen.json_text)
        assert document["name"] == "vmss-web_4" and document["instanceId"] == "4"
        assert document["properties"]["latestModelApplied"] is False
        await pilot.press("d")
        assert screen.mode == "describe"
        assert "Instance 4 of vmss-web" in screen.description
        assert "ssh -p " in screen.description and "nsg-web" in screen.description
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailsScreen)
        await pilot.press("1", "d")  # on the scale set table: the scale set
        assert isinstance(app.screen, DetailsScreen)
        assert app.screen.subject.startswith("scale set ")
        await pilot.press("escape")


async def test_command_mode_aliases(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(80, 24)) as (app, pilot):

        async def command(text: str) -> None:
            await pilot.press("colon", *text, "enter")

        await command("inst")
        assert app.fleet_screen.view == "inst"
        await command("nat")
        assert app.fleet_screen.view == "nat"
        await command("disk")
        assert app.fleet_screen.view == "disk"
        await command("vmss")
        assert app.fleet_screen.view == "vmss"
        await command("vmss vmss-api")
        await wait_until(pilot, lambda: app.store.selected() is not None
                         and app.store.selected().scale_set.name == "vmss-api", "vmss-api")  # type: ignore[union-attr]
        assert app.fleet_screen.view == "inst"
        await wait_until(pilot, lambda: instance_table(app).row_count == 3, "vmss-api instances")
        await command("inst 2")
        assert instance_table(app).cursor_key == instance_key(app, "2")
        await command("nonsense")
        assert app.fleet_screen.view == "inst"  # unknown: a notification, nothing else
        await command("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_sub_command_lists_subscriptions_and_keeps_the_current_one(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(120, 40)) as (app, pilot):
        await pilot.press("colon", *"sub", "enter")
        from vmss_tui.ui.dialogs import SubscriptionScreen

        await wait_until(pilot, lambda: isinstance(app.screen, SubscriptionScreen), "the subscription picker")
        assert [s for s, _ in app.screen.subscriptions] == [sim.subscription_id]
        await pilot.press("enter")  # the current one: nothing to switch
        assert app.fleet is not None and app.store.subscription_id == sim.subscription_id


async def test_palette_jumps_to_a_scale_set_and_an_instance(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(120, 40)) as (app, pilot):
        await pilot.press("ctrl+p", *"scale set rg-web-prod/vmss-api")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.store.selected() is not None
                         and app.store.selected().scale_set.name == "vmss-api"  # type: ignore[union-attr]
                         and app.store.selected().instances is not None, "vmss-api")  # type: ignore[union-attr]
        assert app.fleet_screen.view == "inst"
        await pilot.press("ctrl+p", *"instance vmss-api/2")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert instance_table(app).cursor_key == instance_key(app, "2")


async def test_layout_wide_shows_every_pane_compact_shows_one(start_simulator):
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=(200, 50)) as (app, pilot):
        assert app.fleet_screen.wide
        assert all(app.query_one(s).display for s in ("#vmss-pane", "#inst-pane", "#nat-pane", "#disk-pane"))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.fleet_screen.wide
        shown = [s for s in ("#vmss-pane", "#inst-pane", "#nat-pane", "#disk-pane") if app.query_one(s).display]
        assert shown == ["#vmss-pane"]
        assert scale_set_table(app).narrow  # fewer columns
        assert "sku" not in [c.key.value for c in scale_set_table(app).ordered_columns]


async def test_ssh_key_opens_a_session_tab_for_the_cursor_instance(start_simulator, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # the session's known_hosts goes there
    monkeypatch.setenv("HOME", str(tmp_path))
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    notes: list[tuple[str, dict[str, Any]]] = []
    async with loaded_console(sim, size=(120, 40), notes=notes, scale_set="vmss-web") as (app, pilot):
        tabs_before = app.query_one("#tabs").tab_count
        await pilot.press("s")
        await pilot.pause()
        tabs = app.query_one("#tabs")
        assert tabs.tab_count == tabs_before + 1
        pane = app.query_one("SshSessionPane")
        assert pane.target.scale_set == "vmss-web" and pane.target.instance_id == "1"
        mapping = app.store.selected().nat  # the NAT mapping of port 22 is the target
        ssh = next(m for m in mapping.mappings if m.instance_id == "1" and m.backend_port == 22)
        assert (pane.target.host, pane.target.port) == (ssh.frontend_ip, ssh.frontend_port)
        await pilot.press("ctrl+right_square_bracket")  # leave the terminal, if it took the focus
        app.fleet_screen.action_close_tab()
        await pilot.pause(0.2)
        assert tabs.tab_count == tabs_before


async def test_ssh_target_from_the_command_line_opens_that_session(start_simulator, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    from vmss_tui.azure.fleet import ConnectionSettings
    from vmss_tui.config import Config
    from vmss_tui.ui.app import VmssConsoleApp

    settings = ConnectionSettings(
        arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token, subscription_id=sim.subscription_id,
                                  polling_interval=0.05)
    app = VmssConsoleApp(settings, config=Config(), ssh_target=("vmss-api", "2", "rg-web-prod"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.query_one("#tabs").tab_count == 2 and bool(app.query("SshSessionPane")),
                         "the SSH tab")
        pane = app.query_one("SshSessionPane")
        assert (pane.target.scale_set, pane.target.instance_id) == ("vmss-api", "2")
        assert app.store.selected().scale_set.name == "vmss-api"
