"""The disk pane: the scale set model's data disks, and the OS and data disks of the instance
under the instances pane's cursor, as ARM reports them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content

from vmss_tui.domain.instances import instance_disks
from vmss_tui.domain.models import DataDiskModel, DiskInfo
from vmss_tui.ui.details import describe_instance, describe_scale_set, raw_json
from vmss_tui.ui.format import shorten
from vmss_tui.ui.panes.base import DETAILS_NONE, FleetPane, Line, PaneHost
from vmss_tui.ui.panes.table import BAD, DIM, PLAIN, Cell, Column, LiveTable, RowData
from vmss_tui.ui.store import CURSOR, INSTANCES, SELECTION


class ModelDiskTable(LiveTable):
    """The scale set model's data disks."""

    HELP_SECTION = "Disks"

    COLUMNS = (
        Column("lun", "LUN"),
        Column("size", "Size"),
        Column("sku", "SKU"),
        Column("caching", "Caching"),
        Column("create", "Create option", "Create"),
        Column("name", "Name", wide_only=True),
    )


class InstanceDiskTable(LiveTable):
    """The selected instance's OS and data disks."""

    HELP_SECTION = "Disks"

    COLUMNS = (
        Column("slot", "Disk"),
        Column("size", "Size"),
        Column("sku", "SKU"),
        Column("caching", "Caching"),
        Column("state", "State", narrow_text=lambda t: t.removeprefix("Provisioning ")),
        Column("name", "Name", wide_only=True),
    )


def _size(size_gb: int | None) -> str:
    return f"{size_gb} GiB" if size_gb is not None else "-"


def model_disk_cells(disk: DataDiskModel) -> tuple[Cell, ...]:
    """One cell per column of ModelDiskTable."""
    return (
        (str(disk.lun), "bold"),
        (_size(disk.size_gb), PLAIN),
        (disk.sku or "-", PLAIN),
        (disk.caching or "None", PLAIN),
        (disk.create_option, DIM),
        (disk.name or "-", DIM),
    )


def instance_disk_cells(disk: DiskInfo) -> tuple[Cell, ...]:
    """One cell per column of InstanceDiskTable."""
    state = disk.state or "-"
    state_style = BAD if "fail" in state.casefold() else PLAIN
    return (
        ("OS" if disk.is_os_disk or disk.lun is None else f"LUN {disk.lun}", "bold"),
        (_size(disk.size_gb), PLAIN),
        (disk.sku or "-", PLAIN),
        (disk.caching or "None", PLAIN),
        (state, state_style),
        (shorten(disk.name, 36), DIM),
    )


class DisksPane(FleetPane):
    VIEW = "disk"
    TITLE = "Disks"
    TOPICS = frozenset({SELECTION, INSTANCES, CURSOR})

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(host, id=id)
        self.model_title = Line("Scale set model: data disks", id="model-disks-title", classes="subtitle")
        self.model_table = ModelDiskTable(id="model-disks")
        self.instance_title = Line("Instance disks", id="instance-disks-title", classes="subtitle")
        self.instance_table = InstanceDiskTable(id="instance-disks")

    def compose(self) -> ComposeResult:
        yield self.model_title
        yield self.model_table
        yield self.instance_title
        yield self.instance_table

    def show(self) -> None:
        store = self.host.store
        entry = store.selected()
        disks = entry.scale_set.data_disks if entry else ()
        self.model_table.set_rows(
            [RowData.of(str(d.lun), model_disk_cells(d)) for d in sorted(disks, key=lambda d: d.lun)]
        )
        self.model_title.set("Scale set model: data disks" + ("" if disks else " (none)"))
        instance = store.cursor_instance()
        table = self.instance_table
        if instance is None:
            table.set_rows([])
            self.instance_title.set("Instance disks")
        else:
            # Keyed by slot, not by disk: moving the cursor between instances then updates cells
            # instead of rebuilding the table.
            table.set_rows([
                RowData.of("os" if d.is_os_disk or d.lun is None else f"lun{d.lun}", instance_disk_cells(d))
                for d in instance_disks(instance)
            ])
            self.instance_title.set(
                f"Instance {instance.instance_id} ({instance.computer_name or instance.name}): OS and data disks")
        if entry is None:
            self.border_title = self.TITLE
        else:
            self.border_title = Content.from_markup("Disks of [b]$name[/]", name=entry.scale_set.name)

    def details(self) -> tuple[str | None, str, str]:
        store = self.host.store
        entry = store.selected()
        if entry is None:
            return DETAILS_NONE
        instance = store.cursor_instance()
        if instance is not None:
            return (f"instance {instance.scale_set}/{instance.instance_id}", raw_json(instance),
                    describe_instance(instance, entry.scale_set, entry.nat,
                                      entry.private_ips.get(instance.instance_id), self.host.config.ssh.port))
        return (f"scale set {entry.scale_set.name}", raw_json(entry.scale_set),
                describe_scale_set(entry.scale_set, entry.counts, entry.open_ports, entry.nat))
