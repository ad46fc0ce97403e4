"""The disk pane: the scale set model's data disks, and the disks of the instance under the
instances pane's cursor as ARM attached them joined by LUN with what its guest partitioned,
formatted and mounted (read over SSH with the SSH tab's settings, cached, with its age shown).

Owns its columns and cells, its keys (add or remove a model disk, attach or detach one on the
instance, prepare the empty disks of the marked instances, re-read the guest, check an unknown
host key, every instance's guest in a tab of its own) and its tracks: the cursor instance's guest
(read when the cursor comes to an instance not read yet, then every minute while on screen) and
the managed disks of the scale set's resource group (what is attached to nothing shows).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message

from vmss_tui.domain.disks import DiskRow, arm_rows
from vmss_tui.domain.models import DataDiskModel, Instance, ScaleSet
from vmss_tui.ui import intents
from vmss_tui.ui.details import describe_scale_set, raw_json
from vmss_tui.ui.disk_dialogs import (
    STATE_STYLES,
    describe_row,
    fstab_text,
    gib,
    row_key,
    slot_of,
    usage_text,
)
from vmss_tui.ui.disk_flows import DiskFlows
from vmss_tui.ui.format import format_age
from vmss_tui.ui.guest_disks_view import GuestDisks, GuestDisksView, describe_guest, short_reason, what_to_do
from vmss_tui.ui.panes.base import DETAILS_NONE, FleetPane, Line, PaneHost
from vmss_tui.ui.panes.cells import BAD, DIM, PLAIN, WARN, Cell, Column, RowData
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.store import CURSOR, INSTANCES, MARKS, NAT, SELECTION

GUEST_REFRESH = 60.0  # seconds between reads of the cursor instance's guest while the pane shows
LISTING_REFRESH = 120.0  # the resource group's managed disks
CURSOR_SETTLE = 0.25  # seconds the cursor rests on an instance before its guest is read


class DiskCommand(Message):
    """A key of one of the pane's tables, for the pane to carry out."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action


_PANE_KEYS = [
    Binding("P", "prepare", "Prepare disks", id="disks.prepare"),
    Binding("R", "reread", "Re-read guest", id="disks.reread"),
    Binding("K", "host_key", "Check host key", show=False, id="disks.host_key"),
    Binding("v", "survey", "All instances", id="disks.survey"),
    Binding("s", "ssh", "SSH", show=False, id="disks.ssh"),
]


class _DiskTable(LiveTable):
    """Each key becomes a DiskCommand the pane carries out (the mutating ones are hidden, and
    refused, in a read-only session: LiveTable.check_action)."""

    HELP_SECTION = "Disks"
    MUTATING_ACTIONS = frozenset({"prepare", "add_disk", "remove_disk", "attach", "detach"})

    def _post(self, action: str) -> None:
        self.post_message(DiskCommand(action))

    def action_prepare(self) -> None:
        self._post("prepare")

    def action_reread(self) -> None:
        self._post("reread")

    def action_host_key(self) -> None:
        self._post("host_key")

    def action_survey(self) -> None:
        self._post("survey")

    def action_ssh(self) -> None:
        self._post("ssh")


class ModelDiskTable(_DiskTable):
    """The scale set model's data disks."""

    COLUMNS = (
        Column("lun", "LUN"),
        Column("size", "Size"),
        Column("sku", "SKU"),
        Column("caching", "Caching"),
        Column("create", "Create option", "Create"),
        Column("delete", "Delete option", "Delete", wide_only=True),
        Column("name", "Name", wide_only=True),
    )
    BINDINGS = [
        Binding("a", "add_disk", "Add disk", id="disks.add"),
        Binding("X", "remove_disk", "Remove disk", id="disks.remove"),
        *_PANE_KEYS,
    ]

    def action_add_disk(self) -> None:
        self._post("add")

    def action_remove_disk(self) -> None:
        self._post("remove")


class InstanceDiskTable(_DiskTable):
    """The cursor instance's disks: ARM's side joined with the guest's."""

    COLUMNS = (
        Column("slot", "Disk"),
        # Room for the usual words (`unreachable`, `not read`, `mounted`), so a read does not move
        # the columns after it; the two long states widen it when they come.
        Column("state", "State", min_width=len("unreachable")),
        Column("device", "Device", "Dev"),
        Column("fs", "FS"),
        Column("mount", "Mount point", "Mount"),
        Column("usage", "Used / free", "Used/free"),
        Column("fstab", "fstab"),
        Column("size", "Size"),
        Column("sku", "SKU", wide_only=True),
        Column("caching", "Caching", wide_only=True),
        Column("uuid", "UUID", wide_only=True),
        Column("name", "ARM disk name", "Name"),
    )
    BINDINGS = [
        Binding("A", "attach", "Attach disk", id="disks.attach"),
        Binding("X", "detach", "Detach", id="disks.detach"),
        *_PANE_KEYS,
    ]

    def action_attach(self) -> None:
        self._post("attach")

    def action_detach(self) -> None:
        self._post("detach")


def _delete_option(scale_set: ScaleSet, lun: int) -> str:
    """The model disk's deleteOption as ARM sent it (the domain object does not keep it)."""
    raw = scale_set.raw if isinstance(scale_set.raw, dict) else {}
    profile = (raw.get("properties") or {}).get("virtualMachineProfile") or {}
    for disk in (profile.get("storageProfile") or {}).get("dataDisks") or ():
        if isinstance(disk, dict) and disk.get("lun") == lun:
            return str(disk.get("deleteOption") or "-")
    return "-"


def model_disk_cells(disk: DataDiskModel, delete_option: str = "-") -> tuple[Cell, ...]:
    """One cell per column of ModelDiskTable."""
    return (
        (str(disk.lun), "bold"),
        (gib(disk.size_gb), PLAIN),
        (disk.sku or "-", PLAIN),
        (disk.caching or "None", PLAIN),
        (disk.create_option, DIM),
        (delete_option, DIM),
        (disk.name or "-", DIM),
    )


def disk_row_cells(row: DiskRow, *, reading: bool = False) -> tuple[Cell, ...]:
    """One cell per column of InstanceDiskTable. A row the guest was not asked about reads `…`
    while it is being read, else `not read`."""
    if row.state is None:
        state: Cell = ("…" if reading else "not read", DIM)
    else:
        state = (row.state, STATE_STYLES.get(row.state, WARN))
    size = gib(row.arm_size_gb) if row.arm_size_gb is not None else (
        f"{row.size_bytes // 1024**3} GiB" if row.size_bytes else "-")
    device = row.guest_device.removeprefix("/dev/") if row.guest_device else "-"
    return (
        (slot_of(row), "bold"),
        state,
        (device, PLAIN),
        (row.fstype or "-", PLAIN),
        (row.mountpoint or "-", PLAIN),
        (usage_text(row), PLAIN),
        (fstab_text(row), BAD if fstab_text(row) == "yes!" else PLAIN),
        (size, PLAIN),
        (row.arm_sku or "-", PLAIN),
        (row.arm_caching or ("-" if row.arm_name is None else "None"), PLAIN),
        (row.uuid or "-", DIM),
        (row.arm_name or "-", DIM),
    )


class DisksPane(FleetPane):
    VIEW = "disk"
    TITLE = "Disks"
    TOPICS = frozenset({SELECTION, INSTANCES, CURSOR, NAT, MARKS})

    # Fixed heights: a line that changes (ages, every second) never lays the screen out again.
    DEFAULT_CSS = """
    DisksPane #instance-disks { min-height: 5; }
    DisksPane #disk-detail { height: 3; color: $text-muted; padding: 0 1; }
    DisksPane #disk-listing { height: 2; padding: 0 1; }
    """

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(host, id=id)
        self.guest = GuestDisks(host, self)
        self.flows = DiskFlows(host, self.guest, self)
        self.model_title = Line("Scale set model: data disks", id="model-disks-title", classes="subtitle")
        self.model_table = ModelDiskTable(id="model-disks")
        self.instance_title = Line("Instance disks", id="instance-disks-title", classes="subtitle")
        self.instance_table = InstanceDiskTable(id="instance-disks")
        self.detail = Line(id="disk-detail")
        self.listing_line = Line(id="disk-listing")
        self._rows: dict[str, DiskRow] = {}
        self._settle: Any = None
        self._shown_instance: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield self.model_title
        yield self.model_table
        yield self.instance_title
        yield self.instance_table
        yield self.detail
        yield self.listing_line

    def on_mount(self) -> None:
        self.guest.subscribe(self.show)

    def on_unmount(self) -> None:
        self.guest.unsubscribe(self.show)

    # ------------------------------------------------------------------ rendering
    def show(self) -> None:
        if not self.is_mounted:
            return
        store = self.host.store
        entry = store.selected()
        scale_set = entry.scale_set if entry else None
        disks = sorted(scale_set.data_disks, key=lambda d: d.lun) if scale_set else []
        self.model_table.set_rows([
            RowData.of(str(d.lun), model_disk_cells(d, _delete_option(scale_set, d.lun))) for d in disks
        ] if scale_set is not None else [])
        if self.model_table.display != bool(disks):
            self.model_table.display = bool(disks)
        luns = ", ".join(str(d.lun) for d in disks)
        self.model_title.set("Scale set model: " + (f"{len(disks)} data disk{'s' if len(disks) != 1 else ''} "
                                                    f"(LUN {luns})" if disks else "no data disk"))
        instance = store.cursor_instance()
        if scale_set is None or instance is None:
            self._rows = {}
            self.instance_table.set_rows([])
        else:
            rows, reading = self._instance_rows(scale_set, instance)
            self._rows = {row_key(r): r for r in rows}
            # Keyed by slot, not by disk: moving between instances updates cells in place.
            self.instance_table.set_rows([RowData.of(row_key(r), disk_row_cells(r, reading=reading)) for r in rows])
            self._cursor_moved(scale_set, instance)
        self.set_titles(self.TITLE if entry is None
                        else Content.from_markup("Disks of [b]$name[/]", name=entry.scale_set.name))
        self.show_title()

    def _instance_rows(self, scale_set: ScaleSet, instance: Instance) -> tuple[tuple[DiskRow, ...], bool]:
        found = self.guest.entry(scale_set, instance)
        reading = (scale_set.id, instance.instance_id) in self.guest.reading
        if found is None:
            return arm_rows(instance), reading
        return found.rows, reading

    def show_title(self) -> None:
        """The lines around the tables (also every heartbeat: they show ages)."""
        if not self.is_mounted:
            return
        store = self.host.store
        entry = store.selected()
        instance = store.cursor_instance()
        if entry is None or instance is None:
            self.instance_title.set("Instance disks")
            self.detail.set("")
        else:
            self.instance_title.set(self._instance_heading(entry.scale_set, instance))
            self.detail.set(self._detail_text(entry.scale_set, instance))
        self.listing_line.set(self._listing_text(entry.scale_set if entry else None))

    def _instance_heading(self, scale_set: ScaleSet, instance: Instance) -> Text:
        text = Text.assemble((f"Instance {instance.instance_id}", "bold"),
                             f" ({instance.computer_name or instance.name})")
        found = self.guest.entry(scale_set, instance)
        reading = (scale_set.id, instance.instance_id) in self.guest.reading
        now = self.host.clock()
        if not _readable(scale_set):
            text.append(f" · {scale_set.os_type} guest: disks are read over SSH on Linux only", style="dim")
        elif found is None:
            text.append(" · reading the guest…" if reading else " · guest not read yet (R reads it)", style="dim")
        elif not found.reachable:
            # One line: the reason's head and, for an unknown key, the key to press (the line
            # under the table has both in full).
            from vmss_tui.ssh.session import FailureKind  # loaded by the read that failed

            text.append(f" · unreachable: {short_reason(found)}", style="red")
            if found.kind == FailureKind.HOST_KEY_UNKNOWN:
                text.append(": press K", style="bold")
        else:
            mounted = found.all_data_mounted
            text.append(f" · {found.summary()}", style="green" if mounted else ("yellow" if mounted is False else ""))
            text.append(f" · read {format_age(found.age(now))} ago" + (" · reading…" if reading else ""), style="dim")
        record = self.guest.last_prepare(scale_set, instance.instance_id)
        if record is not None:
            style = "red" if record.result.error else ""
            text.append(f" · last preparation: {record.result.summary()}", style=style)
        return text

    def _detail_text(self, scale_set: ScaleSet, instance: Instance) -> Text:
        """Why the guest could not be read, else the disk under the cursor, in full."""
        found = self.guest.entry(scale_set, instance)
        if found is not None and not found.reachable:
            hint = what_to_do(found)
            return Text((found.reason or "the guest could not be read") + (f" ({hint})" if hint else ""), style="red")
        row = self._rows.get(self.instance_table.cursor_key or "")
        return Text(describe_row(row)) if row is not None else Text("")

    def _listing_text(self, scale_set: ScaleSet | None) -> Text:
        if scale_set is None:
            return Text("")
        listing = self.guest.listing(scale_set.resource_group)
        if listing is None:
            return Text(f"Managed disks of {scale_set.resource_group}: reading…", style="dim")
        loose = listing.unattached
        if not loose:
            return Text(f"{scale_set.resource_group}: {len(listing.disks)} managed disks, each attached · "
                        "v every instance", style="dim")
        text = Text(f"{scale_set.resource_group}: {len(loose)} managed disk{'s' if len(loose) != 1 else ''} "
                    "attached to nothing (still billed): ", style="yellow")
        text.append(", ".join(f"{d.name} {gib(d.size_gb)} {d.sku or ''}".rstrip() for d in loose))
        text.append(" · A attaches one · v every instance", style="dim")
        return text

    @on(LiveTable.RowHighlighted, "#instance-disks")
    def _disk_highlighted(self) -> None:
        self.show_title()

    # ------------------------------------------------------------------ tracks
    def _cursor_target(self) -> tuple[ScaleSet, Instance] | None:
        entry = self.host.store.selected()
        instance = self.host.store.cursor_instance()
        if entry is None or instance is None or not _readable(entry.scale_set):
            return None
        return entry.scale_set, instance

    def _needs_read(self) -> bool:
        target = self._cursor_target()
        if target is None:
            return False
        scale_set, instance = target
        return self.guest.entry(scale_set, instance) is None and (scale_set.id, instance.instance_id) not in self.guest.reading

    def _cursor_moved(self, scale_set: ScaleSet, instance: Instance) -> None:
        """A guest not read yet is read once the cursor rests on its instance; a read of the
        instance left behind gives way."""
        shown = (scale_set.id, instance.instance_id)
        if shown == self._shown_instance:
            return
        self._shown_instance = shown
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(CURSOR_SETTLE, self._read_cursor_now, name="guest-settle")

    def _read_cursor_now(self) -> None:
        self._settle = None
        poller = self.host.poller
        if not self._needs_read() or "disk_guest" not in poller:
            return
        poller.cancel("disk_guest")
        poller.tick()

    def tracks(self) -> list[Track]:
        host = self.host

        def fetch_guest(context: FetchContext) -> Any:
            target = self._cursor_target()
            if target is None:
                return None
            return self.guest.read(*target)

        def fetch_listing(context: FetchContext) -> Any:
            entry = host.store.selected()
            return self.guest.list_disks(entry.scale_set.resource_group) if entry is not None else None

        def listing_missing() -> bool:
            entry = host.store.selected()
            return entry is not None and self.guest.listing(entry.scale_set.resource_group) is None

        return [
            Track("disk_guest", GUEST_REFRESH, fetch_guest, lambda _entry: self.show(),
                  visible=lambda: host.pane_visible("disk"), urgent=self._needs_read, label="guest disks"),
            Track("disk_listing", LISTING_REFRESH, fetch_listing, self.guest.apply_listing,
                  visible=lambda: host.pane_visible("disk"), urgent=listing_missing, label="managed disks"),
        ]

    # ------------------------------------------------------------------ details (y, d)
    def details(self) -> tuple[str | None, str, str]:
        store = self.host.store
        entry = store.selected()
        if entry is None:
            return DETAILS_NONE
        instance = store.cursor_instance()
        if instance is not None and self.screen.focused is not self.model_table:
            return (f"disks of instance {instance.scale_set}/{instance.instance_id}", raw_json(instance),
                    describe_guest(self.guest, entry.scale_set, instance))
        return (f"scale set {entry.scale_set.name}", raw_json(entry.scale_set),
                describe_scale_set(entry.scale_set, entry.counts, entry.open_ports, entry.nat, entry.error))

    # ------------------------------------------------------------------ keys
    @on(DiskCommand)
    def _command(self, message: DiskCommand) -> None:
        message.stop()
        entry = self.host.store.selected()
        if entry is None:
            self.host.notify("No scale set selected", severity="warning")
            return
        handler = getattr(self, f"_do_{message.action}", None)
        if handler is not None:
            handler(entry.scale_set)

    def _cursor_instance(self) -> Instance | None:
        instance = self.host.store.cursor_instance()
        if instance is None:
            self.host.notify("No instance selected: move to one in the instances pane (2)", severity="warning")
        return instance

    def _do_reread(self, scale_set: ScaleSet) -> None:
        instance = self._cursor_instance()
        if instance is None:
            return
        if not _readable(scale_set):
            self.host.notify(f"{scale_set.name} runs {scale_set.os_type}: guest disks are read on Linux only",
                             severity="warning")
            return
        self.guest.read_later(scale_set, instance)

    def _do_host_key(self, scale_set: ScaleSet) -> None:
        instance = self._cursor_instance()
        if instance is not None and _readable(scale_set):
            self.guest.read_later(scale_set, instance, ask=True)

    def _do_survey(self, scale_set: ScaleSet) -> None:
        # Focus left on this pane would bring the Fleet tab straight back (TabbedContent follows
        # the focus); the view takes it once mounted.
        self.screen.set_focus(None)
        shown = next((v for v in self.screen.query(GuestDisksView) if v.scale_set_id == scale_set.id), None)
        self.host.open_tab(f"disks {scale_set.id}", f"Disks · {scale_set.name}",
                           shown or GuestDisksView(self.guest, self.flows, scale_set))
        if shown is not None:  # its tab, already open, comes to the front: its table takes the keys
            self.call_after_refresh(shown.focus)

    def _do_ssh(self, scale_set: ScaleSet) -> None:
        self.post_message(intents.OpenSsh(self.host.store.instance_cursor))

    def _do_prepare(self, scale_set: ScaleSet) -> None:
        self.flows.prepare(scale_set, self.host.store.target_instances())

    def _do_add(self, scale_set: ScaleSet) -> None:
        self.flows.add_model_disk(scale_set)

    def _do_remove(self, scale_set: ScaleSet) -> None:
        key = self.model_table.cursor_key
        if key is None:
            self.host.notify(f"{scale_set.name}'s model has no data disk to remove", severity="warning")
            return
        self.flows.remove_model_disk(scale_set, int(key))

    def _do_attach(self, scale_set: ScaleSet) -> None:
        instance = self._cursor_instance()
        if instance is not None:
            self.flows.attach(scale_set, instance)

    def _do_detach(self, scale_set: ScaleSet) -> None:
        instance = self._cursor_instance()
        if instance is not None:
            self.flows.detach(scale_set, instance, self._rows.get(self.instance_table.cursor_key or ""))


def _readable(scale_set: ScaleSet) -> bool:
    return (scale_set.os_type or "Linux").casefold() != "windows"
