"""The disk pane against the simulator's demo fleet, through Pilot, as a person uses it.

`vmss-disks` (Uniform, Automatic) has LUN 0 prepared on instances 0 and 1 and LUN 1 empty
everywhere, behind a load balancer with an SSH NAT pool; `disk-orphaned` is attached to nothing.
The console reads ARM through the real SDK over HTTP and the guests over real SSH (the simulator's
servers), with its own known_hosts in a temporary folder and the simulator's client key, exactly
as `vmss-tui --demo` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, Input, RadioButton

from tests.support.console import (
    UI_SIM_SPEED,
    cell_text,
    instance_table,
    move_to_instance,
    record_notifications,
    scale_set_table,
)
from tests.support.console import wait_until as _wait_until
from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.config import Config
from vmss_tui.config import SshSettings as SshConfig
from vmss_tui.sim import demo_topology
from vmss_tui.ssh.known_hosts import KnownHosts
from vmss_tui.ui.app import VmssConsoleApp
from vmss_tui.ui.disk_dialogs import (
    AddDataDiskScreen,
    AttachDiskScreen,
    DiskConfirmScreen,
    PrepareDisksScreen,
)
from vmss_tui.ui.guest_disks_view import GuestDisksView
from vmss_tui.ui.panes.disks import DisksPane
from vmss_tui.ui.ssh_dialogs import HostKeyDialog

RG = "rg-batch-dev"
SCALE_SET = "vmss-disks"

StartSimulator = Callable[..., Awaitable[Any]]
# Generous: a wait costs time only when it fails, and two cores run several suites at once.
WAIT_LIMIT = 60.0


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], what: str) -> None:
    await _wait_until(pilot, predicate, what, limit=WAIT_LIMIT)


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Any:
    return await start_simulator(topology=demo_topology(), speed=UI_SIM_SPEED, ssh=True)


def console_config(tmp_path: Path) -> Config:
    # The app's own known_hosts in a temporary folder; no ssh-agent (the person's keys stay out).
    return Config(ssh=SshConfig(extra={"known_hosts": str(tmp_path / "known_hosts"), "use_agent": False}))


@asynccontextmanager
async def disk_console(sim: Any, tmp_path: Path, *, read_only: bool = False, size: tuple[int, int] = (160, 45),
                       notes: list[tuple[str, dict[str, Any]]] | None = None,
                       ) -> AsyncIterator[tuple[VmssConsoleApp, Pilot[Any]]]:
    """The console on vmss-disks, its disk view showing, instance 0 under the cursor."""
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, read_only=read_only, polling_interval=0.05)
    app = VmssConsoleApp(settings, config=console_config(tmp_path), ssh_identity_file=str(sim.ssh_client_key_path))
    async with app.run_test(size=size) as pilot:
        if notes is not None:
            record_notifications(app, notes)
        await wait_until(pilot, lambda: app.store.loaded_once and scale_set_table(app).row_count == len(
            app.store.entries) > 0, "the scale sets")
        table = scale_set_table(app)
        table.focus()
        names = [app.store.entries[key].scale_set.name for key in table.visible_keys]
        await pilot.press(*["down"] * (names.index(SCALE_SET) - table.cursor_row), "enter")

        def loaded() -> bool:
            entry = app.store.selected()
            return (entry is not None and entry.scale_set.name == SCALE_SET and entry.instances is not None
                    and instance_table(app).row_count == len(entry.instances) == 3)

        await wait_until(pilot, loaded, f"{SCALE_SET} to load")
        await move_to_instance(pilot, app, "0")
        await pilot.press("4")
        yield app, pilot


def pane(app: VmssConsoleApp) -> DisksPane:
    return app.fleet_screen.query_one(DisksPane)


def disk_state(app: VmssConsoleApp, key: str) -> str:
    table = pane(app).instance_table
    return cell_text(table, key, "state") if key in table.visible_keys else ""


def text_of(line: Any) -> str:
    content = line.content
    return content.plain if isinstance(content, Text) else str(content)


def heading(app: VmssConsoleApp) -> str:
    return text_of(pane(app).instance_title)


def trust_all(sim: Any, tmp_path: Path) -> Callable[[], Awaitable[None]]:
    """Save the host keys of vmss-disks' instances (what pressing K and y on each would do)."""

    async def trust() -> None:
        known = KnownHosts(tmp_path / "known_hosts")
        for target in sim.ssh_targets():
            if target["scale_set"] == SCALE_SET:
                key = await asyncssh.get_server_host_key(target["host"], target["port"])
                assert key is not None
                known.add(target["host"], target["port"], key)

    return trust


async def trusted_instance_zero(app: VmssConsoleApp, pilot: Pilot[Any]) -> None:
    """K on instance 0, then y in the host-key dialog: the guest shows."""
    await wait_until(pilot, lambda: "host key not known yet" in heading(app), "the unknown host key said")
    await pilot.press("K")
    await wait_until(pilot, lambda: isinstance(app.screen, HostKeyDialog), "the host-key dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: disk_state(app, "lun1") == "empty", "the guest's disks")


def writes(sim: Any, start: int = 0) -> list[tuple[str, str, Any]]:
    return list(sim.write_log[start:])


# ---------------------------------------------------------------------- what it shows


async def test_the_model_disks_and_full_arm_names(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        model = pane(app).model_table
        await wait_until(pilot, lambda: model.row_count == 2, "the model's two data disks")
        assert [cell_text(model, "0", c) for c in ("lun", "size", "sku", "caching", "create")] == [
            "0", "64 GiB", "Premium_LRS", "ReadOnly", "Empty"]
        assert [cell_text(model, "1", c) for c in ("size", "sku", "caching")] == ["32 GiB", "StandardSSD_LRS", "None"]
        instance = app.store.cursor_instance()
        assert instance is not None
        names = {d.lun: d.name for d in instance.data_disks}
        table = pane(app).instance_table
        # Whole names (they differ only in the middle: `..._0_disk2_<id>` and `..._0_disk3_<id>`).
        assert cell_text(table, "lun0", "name") == names[0]
        assert cell_text(table, "lun1", "name") == names[1]
        assert names[0] != names[1] and "…" not in names[0]
        # Attached to nothing, still billed: said under the tables.
        await wait_until(pilot, lambda: "disk-orphaned" in text_of(pane(app).listing_line), "the orphaned disk")
        assert "attached to nothing (still billed)" in text_of(pane(app).listing_line)


async def test_an_unknown_host_key_is_said_and_asked_only_on_k(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        await wait_until(pilot, lambda: "host key not known yet" in heading(app), "the unknown host key said")
        assert heading(app).endswith("unreachable: host key not known yet: press K")
        detail = text_of(pane(app).detail)  # the reason in full, under the table
        assert "SHA256:" in detail and "K shows its fingerprint to check and trust" in detail
        assert disk_state(app, "lun0") == "unreachable"
        assert not (tmp_path / "known_hosts").exists()  # nothing trusted silently
        assert not isinstance(app.screen, HostKeyDialog)  # and nobody asked unprompted

        await pilot.press("K")
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyDialog), "the host-key dialog")
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"  # Cancel is the default
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, HostKeyDialog), "the dialog to close")
        await wait_until(pilot, lambda: "host key not" in heading(app), "still not trusted")
        assert not (tmp_path / "known_hosts").exists()

        await pilot.press("K")
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyDialog), "the host-key dialog again")
        await pilot.press("y")
        await wait_until(pilot, lambda: disk_state(app, "lun1") == "empty", "the guest's disks")
        assert disk_state(app, "lun0") == "mounted"
        table = pane(app).instance_table
        assert cell_text(table, "lun0", "mount") == "/datadisks/lun0"
        assert cell_text(table, "lun0", "fstab") == "yes"
        assert cell_text(table, "lun1", "fstab") == "no"
        assert cell_text(table, "lun1", "mount") == "-"
        assert "1 of 2 data disks mounted (LUN 1 empty)" in heading(app)
        assert (tmp_path / "known_hosts").read_text().count("ssh-ed25519") == 1


async def test_prepare_the_empty_disk_with_one_confirmed_action(sim: Any, tmp_path: Path) -> None:
    """Issue 10's "done when": LUN 0 mounted, LUN 1 empty; one confirmed prepare; LUN 1 mounted."""
    async with disk_console(sim, tmp_path) as (app, pilot):
        await trusted_instance_zero(app, pilot)
        before = len(sim.write_log)

        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, PrepareDisksScreen), "the prepare dialog")
        dialog = app.screen
        preview = str(dialog.query_one("#prepare-lines-text").render())
        assert "LUN 1 empty -> /datadisks/lun1 (ext4)" in preview  # the mount path, before confirming
        assert "LUN 0 mounted at /datadisks/lun0: left as it is" in preview
        assert dialog.focused is not None and dialog.focused.id == "cancel"
        await pilot.press("enter")  # Enter on the default: cancelled
        await wait_until(pilot, lambda: not isinstance(app.screen, PrepareDisksScreen), "the dialog to close")
        assert writes(sim, before) == []

        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, PrepareDisksScreen), "the prepare dialog again")
        await pilot.press("tab", "enter")  # Cancel -> Prepare 1 instance
        await wait_until(pilot, lambda: disk_state(app, "lun1") == "mounted", "LUN 1 to turn mounted")
        table = pane(app).instance_table
        assert cell_text(table, "lun1", "mount") == "/datadisks/lun1"
        assert cell_text(table, "lun1", "fs") == "ext4"
        assert cell_text(table, "lun1", "fstab") == "yes"
        assert disk_state(app, "lun0") == "mounted"
        assert [path for method, path, _body in writes(sim, before)] == [
            next(p for m, p, _b in writes(sim, before) if p.endswith("/runCommand"))]
        # The guest itself (what `df -h` in the SSH tab shows): mounted where the dialog said.
        guest = sim.guest(RG, SCALE_SET, "0")
        assert "/datadisks/lun1" in guest.exec("df -h", user="azureuser").stdout
        # The instance's output is kept for the details view.
        await wait_until(pilot, lambda: "last preparation: prepared LUN 1" in heading(app), "the result line")
        await pilot.press("d")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "DetailsScreen", "the details view")
        text = app.screen.description  # type: ignore[attr-defined]
        assert "Last disk preparation (Run Command" in text
        assert "result=prepared" in text and "lun=1" in text
        assert "LUN 0: " in text  # each LUN's result line, in words


async def test_removing_a_model_disk_names_the_lun_wants_the_name_and_defaults_to_cancel(
        sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        model = pane(app).model_table
        await wait_until(pilot, lambda: model.row_count == 2, "the model's disks")
        model.focus()
        model.move_to_key("1")
        await pilot.pause()
        before = len(sim.write_log)
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the removal dialog")
        dialog = app.screen
        assert "LUN 1" in dialog.title_text and "ALL THE DATA" in dialog.summary  # type: ignore[attr-defined]
        assert "only through the model update" in dialog.summary  # type: ignore[attr-defined]
        assert dialog.query_one("#confirm", Button).disabled  # until the name is typed
        assert dialog.focused is dialog.query_one("#dialog-type", Input)
        await pilot.press("enter")  # nothing typed: Enter cancels
        await wait_until(pilot, lambda: not isinstance(app.screen, DiskConfirmScreen), "the dialog to close")
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the removal dialog again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, DiskConfirmScreen), "the dialog to close")
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the removal dialog again")
        await pilot.press(*"vmss-disk")  # one letter short
        assert app.screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # a wrong name and Enter: cancelled
        await wait_until(pilot, lambda: not isinstance(app.screen, DiskConfirmScreen), "the dialog to close")
        assert writes(sim, before) == []

        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the removal dialog, third time")
        await pilot.press(*SCALE_SET, "enter")
        await wait_until(pilot, lambda: any(m == "PATCH" for m, _p, _b in writes(sim, before)), "the model PATCH")
        method, path, body = next(w for w in writes(sim, before) if w[0] == "PATCH")
        assert path.endswith(f"/virtualMachineScaleSets/{SCALE_SET}")
        disks = body["properties"]["virtualMachineProfile"]["storageProfile"]["dataDisks"]
        assert [d["lun"] for d in disks] == [0]


async def test_detach_defaults_to_cancel_then_detaches_the_disk_under_the_cursor(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        await trust_all(sim, tmp_path)()
        await pilot.press("R")
        await wait_until(pilot, lambda: disk_state(app, "lun1") == "empty", "the guest's disks")
        table = pane(app).instance_table
        table.focus()
        table.move_to_key("lun1")
        await pilot.pause()
        before = len(sim.write_log)
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the detach dialog")
        assert "LUN 1" in app.screen.title_text  # type: ignore[attr-defined]
        assert "data not yet written to the disk is lost" in app.screen.summary  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, DiskConfirmScreen), "the dialog to close")
        assert writes(sim, before) == []

        instance = app.store.cursor_instance()
        assert instance is not None
        disk_id = next(d.managed_disk_id for d in instance.data_disks if d.lun == 1)
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the detach dialog again")
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: any(p.endswith("/attachDetachDataDisks") for _m, p, _b in writes(sim, before)),
                         "the detach call")
        body = next(b for _m, p, b in writes(sim, before) if p.endswith("/attachDetachDataDisks"))
        assert body == {"dataDisksToDetach": [{"diskId": disk_id}]}
        await wait_until(pilot, lambda: "lun1" not in table.visible_keys, "LUN 1 to leave the instance")


async def test_attach_the_orphaned_disk_at_the_next_free_lun(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        before = len(sim.write_log)
        pane(app).instance_table.focus()
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, AttachDiskScreen), "the attach dialog")
        dialog = app.screen
        await wait_until(pilot, lambda: bool(dialog.candidates), "the resource group's unattached disks")  # type: ignore[attr-defined]
        assert [d.name for d in dialog.candidates] == ["disk-orphaned"]  # type: ignore[attr-defined]
        assert dialog.query_one("#confirm", Button).label.plain == "Attach at LUN 2"
        assert dialog.focused is not None and dialog.focused.id == "cancel"
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: any(p.endswith("/attachDetachDataDisks") for _m, p, _b in writes(sim, before)),
                         "the attach call")
        body = next(b for _m, p, b in writes(sim, before) if p.endswith("/attachDetachDataDisks"))
        (item,) = body["dataDisksToAttach"]
        assert item["lun"] == 2 and item["diskId"].endswith("/disks/disk-orphaned") and item["caching"] == "None"
        table = pane(app).instance_table
        await wait_until(pilot, lambda: "lun2" in table.visible_keys, "LUN 2 on the instance")
        assert cell_text(table, "lun2", "name") == "disk-orphaned"


async def test_adding_a_model_disk_is_checked_as_typed(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        model = pane(app).model_table
        await wait_until(pilot, lambda: model.row_count == 2, "the model's disks")
        model.focus()
        before = len(sim.write_log)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AddDataDiskScreen), "the add dialog")
        dialog = app.screen
        confirm = dialog.query_one("#confirm", Button)
        size = dialog.query_one("#disk-size", Input)
        size.focus()
        await pilot.press(*"12x")
        hint = dialog.query_one("#disk-hint")
        assert confirm.disabled and "not a whole number" in str(hint.render())
        await pilot.press("backspace", "8")
        sku = dialog.query_one("#disk-sku", Input)
        sku.value = "premium_lrs"  # any case; the canonical name is sent
        await pilot.pause()
        assert not confirm.disabled and confirm.label.plain == "Add LUN 2"
        dialog.query_one("#disk-lun", Input).value = "1"
        await pilot.pause()
        assert confirm.disabled and "lun: 1 is taken" in str(hint.render())
        dialog.query_one("#disk-lun", Input).value = ""
        await pilot.pause()
        assert writes(sim, before) == []
        confirm.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(m == "PATCH" for m, _p, _b in writes(sim, before)), "the model PATCH")
        body = next(b for m, _p, b in writes(sim, before) if m == "PATCH")
        disks = body["properties"]["virtualMachineProfile"]["storageProfile"]["dataDisks"]
        assert disks[-1] == {"lun": 2, "createOption": "Empty", "diskSizeGB": 128, "caching": "None",
                             "managedDisk": {"storageAccountType": "Premium_LRS"}}
        await wait_until(pilot, lambda: model.row_count == 3, "LUN 2 in the model")


async def test_read_only_offers_no_disk_action_and_sends_nothing(sim: Any, tmp_path: Path) -> None:
    notes: list[tuple[str, dict[str, Any]]] = []
    async with disk_console(sim, tmp_path, read_only=True, notes=notes) as (app, pilot):
        await trust_all(sim, tmp_path)()
        await pilot.press("R")  # reading a guest is no write: it still works
        await wait_until(pilot, lambda: disk_state(app, "lun1") == "empty", "the guest's disks")
        before = (sim.write_count, len(sim.write_log))
        assert app.screen.focused is pane(app).instance_table
        assert not {"P", "A", "X"} & set(app.screen.active_bindings)  # hidden, footer included
        assert {"R", "v"} <= set(app.screen.active_bindings)
        for key in ("P", "A", "X"):
            await pilot.press(key)
        pane(app).model_table.focus()
        for key in ("a", "X"):
            await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, (DiskConfirmScreen, PrepareDisksScreen, AttachDiskScreen, AddDataDiskScreen))
        assert (sim.write_count, len(sim.write_log)) == before
        assert any("Read-only session" in message for message, _ in notes)


async def test_the_survey_tab_says_why_each_instance_is_unreachable(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        await pilot.press("v")
        await wait_until(pilot, lambda: bool(app.fleet_screen.query(GuestDisksView)), "the survey tab")
        view = app.fleet_screen.query_one(GuestDisksView)
        await wait_until(pilot, lambda: view.table.row_count == 3 and all(
            cell_text(view.table, i, "guest").startswith("unreachable") for i in ("0", "1", "2")), "every instance read")
        assert "host key of" in cell_text(view.table, "2", "guest")
        await wait_until(pilot, lambda: "disk-orphaned" in view.disks_table.visible_keys[0], "the RG's disks")
        assert cell_text(view.disks_table, view.disks_table.visible_keys[0], "attached") == "nothing (still billed)"

        await trust_all(sim, tmp_path)()
        view.table.focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: cell_text(view.table, "2", "guest").startswith("0 of 2"), "a second read")
        assert cell_text(view.table, "0", "guest") == "1 of 2 data disks mounted (LUN 1 empty)"
        assert cell_text(view.table, "2", "mounted") == "0/2"
        assert "0 of 3 instances have every data disk mounted" in text_of(view.heading)


async def test_prepare_through_custom_script_from_the_survey_tab(sim: Any, tmp_path: Path) -> None:
    async with disk_console(sim, tmp_path) as (app, pilot):
        await trust_all(sim, tmp_path)()
        pane(app).flows.custom_script_poll = 0.2
        await pilot.press("v")
        await wait_until(pilot, lambda: bool(app.fleet_screen.query(GuestDisksView)), "the survey tab")
        view = app.fleet_screen.query_one(GuestDisksView)
        await wait_until(pilot, lambda: cell_text(view.table, "2", "mounted") == "0/2", "every instance read")
        before = len(sim.write_log)
        view.table.focus()
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, PrepareDisksScreen), "the prepare dialog")
        dialog = app.screen
        assert [i.instance_id for i in dialog.instances] == ["0", "1", "2"]  # type: ignore[attr-defined]
        dialog.query_one("#route-custom-script", RadioButton).value = True
        await pilot.pause()
        preview = str(dialog.query_one("#prepare-lines-text").render())
        assert "instance 2: LUN 0 empty -> /datadisks/lun0 (ext4); LUN 1 empty -> /datadisks/lun1 (ext4)" in preview
        dialog.query_one("#confirm", Button).press()
        # Each instance runs the script when it gets the model (Automatic: at once); the survey
        # keeps each one's result as its extension status reports it.
        await wait_until(pilot, lambda: all(cell_text(view.table, i, "prepare") != "-" and "waiting" not in
                                            cell_text(view.table, i, "prepare") for i in ("0", "1", "2")),
                         "every instance's result")
        assert cell_text(view.table, "2", "prepare") == "prepared LUN 0, 1"
        assert cell_text(view.table, "0", "prepare") == "prepared LUN 1; already prepared LUN 0"
        for instance_id in ("0", "1", "2"):
            df = sim.guest(RG, SCALE_SET, instance_id).exec("df -h", user="azureuser").stdout
            assert "/datadisks/lun0" in df and "/datadisks/lun1" in df
        puts = [p for m, p, _b in writes(sim, before) if m == "PUT"]
        assert puts and puts[0].endswith("/extensions/vmss-tui-prepare-disks")
        assert all(not p.endswith("/runCommand") for _m, p, _b in writes(sim, before))


async def test_removing_a_model_disk_can_open_the_rollout_view(sim: Any, tmp_path: Path) -> None:
    from vmss_tui.ui.rollout_view import RolloutView

    async with disk_console(sim, tmp_path) as (app, pilot):
        model = pane(app).model_table
        await wait_until(pilot, lambda: model.row_count == 2, "the model's disks")
        model.focus()
        model.move_to_key("1")
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskConfirmScreen), "the removal dialog")
        also = app.screen.query_one("#confirm-also", Button)
        assert also.disabled
        await pilot.press(*SCALE_SET)
        assert not also.disabled
        also.press()
        await wait_until(pilot, lambda: any(v.scale_set.id == app.store.selected_id
                                            for v in app.fleet_screen.query(RolloutView)), "the rollout view")
        await wait_until(pilot, lambda: any(m == "PATCH" for m, _p, _b in sim.write_log), "the model PATCH")
