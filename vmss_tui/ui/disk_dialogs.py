"""The disk actions' dialogs: add a data disk to the model, remove one, attach a managed disk to
an instance, detach one, prepare the empty disks of instances; and the words they share with the
disk pane (sizes, states).

Every dialog opens with Cancel focused (Enter there cancels) and closes on Esc without doing
anything; what is typed is checked as it is typed, and the confirm button stays disabled until
it is valid. Names, paths and messages come from Azure or a guest: shown as text, never markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from vmss_tui.domain.disk_prepare import DEFAULT_MOUNT_TEMPLATE, FILESYSTEMS, DiskPrepareError, make_plan
from vmss_tui.domain.disks import (
    KIND_DATA,
    KIND_GUEST,
    KIND_OS,
    KIND_TEMP,
    STATE_EMPTY,
    STATE_FORMATTED,
    STATE_MOUNTED,
    STATE_NOT_IN_GUEST,
    STATE_PARTITIONED,
    STATE_UNREACHABLE,
    DiskRow,
)
from vmss_tui.domain.model_change import (
    DISK_CACHING,
    DISK_SKUS,
    ModelChangeError,
    next_free_lun,
    policy_consequence,
    validate_data_disk,
    validate_lun_and_caching,
)
from vmss_tui.domain.models import Instance, ManagedDisk, ScaleSet
from vmss_tui.ui.dialogs import DIALOG_FOCUS_BINDINGS, ConfirmScreen
from vmss_tui.workflows.disk_prepare import ROUTE_CUSTOM_SCRIPT, ROUTE_RUN_COMMAND

if TYPE_CHECKING:
    from vmss_tui.workflows.guest_survey import InstanceDisks

# ---------------------------------------------------------------------- words shared with the pane

STATE_STYLES = {
    STATE_MOUNTED: "green",
    STATE_EMPTY: "bold yellow",  # the one P prepares
    STATE_FORMATTED: "yellow",
    STATE_PARTITIONED: "yellow",
    STATE_NOT_IN_GUEST: "bold red",
    STATE_UNREACHABLE: "red",
}

STATE_MEANINGS = {
    STATE_MOUNTED: "mounted",
    STATE_EMPTY: "no partition table, no filesystem: P prepares it",
    STATE_FORMATTED: "has a filesystem that is not mounted",
    STATE_PARTITIONED: "has a partition table but no filesystem (left as it is by P)",
    STATE_NOT_IN_GUEST: "ARM says it is attached; the guest has no such disk",
    STATE_UNREACHABLE: "the guest could not be read",
}


def human_bytes(size: int | None) -> str:
    """As `df -h` writes sizes: 1024-based, one decimal below 10 (`24K`, `1.6G`, `59G`)."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            if unit == "B":
                return f"{int(value)}B"
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return f"{value:.0f}P"


def gib(size_gb: int | None) -> str:
    return f"{size_gb} GiB" if size_gb is not None else "-"


def slot_of(row: DiskRow) -> str:
    """`OS`, `LUN 1`, `temp` (the resource disk) or `guest` (a disk ARM does not list)."""
    if row.kind == KIND_OS:
        return "OS"
    if row.kind == KIND_DATA and row.lun is not None:
        return f"LUN {row.lun}"
    if row.kind == KIND_TEMP:
        return "temp"
    return "guest" if row.kind == KIND_GUEST else row.kind


def row_key(row: DiskRow) -> str:
    """Stable across refreshes and instances (the cursor stays on `LUN 1` moving between them)."""
    if row.kind == KIND_OS:
        return "os"
    if row.kind == KIND_DATA and row.lun is not None:
        return f"lun{row.lun}"
    return f"{row.kind}:{row.guest_device or row.arm_name or '?'}"


def usage_text(row: DiskRow) -> str:
    if row.used_bytes is None and row.avail_bytes is None:
        return "-"
    return f"{human_bytes(row.used_bytes)} / {human_bytes(row.avail_bytes)}"


def fstab_text(row: DiskRow) -> str:
    """`yes`, `no`, `-` (not read) or `yes!`: a data disk's entry without nofail, with which a boot
    hangs when the disk is gone (the OS disk's entries need none)."""
    if row.in_fstab is None:
        return "-" if row.state in (None, STATE_UNREACHABLE, STATE_NOT_IN_GUEST) else "?"
    if not row.in_fstab:
        return "no"
    return "yes!" if row.kind == KIND_DATA and row.fstab_nofail is False else "yes"


def describe_row(row: DiskRow) -> str:
    """One paragraph about one disk (the pane's line under its table, the details view)."""
    parts = [slot_of(row)]
    if row.arm_name:
        parts.append(row.arm_name)
    arm = " ".join(x for x in (gib(row.arm_size_gb) if row.arm_size_gb else "", row.arm_sku or "",
                               f"caching {row.arm_caching}" if row.arm_caching else "") if x)
    if arm:
        parts.append(arm)
    if row.guest_device:
        guest = row.guest_device + (f" {human_bytes(row.size_bytes)}" if row.size_bytes else "")
        if row.partitions:
            guest += " (" + ", ".join(
                " ".join(x for x in (p.device.rsplit("/", 1)[-1], p.fstype or "no filesystem",
                                     f"on {p.mountpoint}" if p.mountpoint else "") if x)
                for p in row.partitions) + ")"
        parts.append(guest)
    if row.uuid:
        parts.append(f"UUID {row.uuid}")
    if row.in_fstab:
        parts.append("in fstab" + (" WITHOUT nofail" if fstab_text(row) == "yes!" else ""))
    if row.state == STATE_MOUNTED:
        parts.append("mounted at " + ", ".join(row.mountpoints or (row.mountpoint or "?",))
                     + (f" ({row.reason})" if row.reason else ""))
    elif row.state:
        parts.append(f"{row.state}: {row.reason or STATE_MEANINGS.get(row.state, '')}".rstrip(": "))
    elif row.reason:
        parts.append(row.reason)
    return " · ".join(parts)


# ---------------------------------------------------------------------- a confirmation with choices

CONFIRM = "confirm"
CONFIRM_AND_WATCH = "confirm-and-watch"  # ... and open the scale set's rollout view


class DiskConfirmScreen(ConfirmScreen):
    """Says what will happen; Cancel is focused. Dismissed with None (cancelled), CONFIRM, or
    CONFIRM_AND_WATCH when `also_label` offers a second way to confirm."""

    def answer(self, button_id: str | None) -> str | None:
        return {"confirm": CONFIRM, "confirm-also": CONFIRM_AND_WATCH}.get(button_id or "")


# ---------------------------------------------------------------------- add a data disk to the model


@dataclass(frozen=True, slots=True)
class NewModelDisk:
    size_gb: int
    sku: str
    lun: int
    caching: str
    watch_rollout: bool = False


_FORM_CSS = """
.disk-form .form-title { text-style: bold; width: 1fr; margin-top: 1; }
.disk-form .form-summary { margin: 0 0 1 0; color: $text-muted; }
.disk-form .field { height: auto; }
.disk-form .field > Label { width: 14; padding-top: 0; }
.disk-form .field > Input { width: 1fr; }
.disk-form .field > RadioSet { width: 1fr; }
.disk-form .hint { color: $text-muted; }
.disk-form .hint.invalid { color: $error; }
.disk-form #disk-list { height: auto; max-height: 8; margin-bottom: 1; }
"""


def _field(label: str, widget: Widget) -> Horizontal:
    """One row of a form: its label, then the input."""
    return Horizontal(Label(label), widget, classes="field")


class _FormScreen(ModalScreen[Any]):
    """A dialog with fields: Cancel focused, Esc cancels, Enter in a field moves to the next one
    (confirming is a button's: Tab, Enter)."""

    DEFAULT_CSS = _FORM_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"), *DIALOG_FOCUS_BINDINGS]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)



class AddDataDiskScreen(_FormScreen):
    """Size, SKU, caching and LUN of a new empty data disk of the model, checked as typed."""

    def __init__(self, scale_set: ScaleSet) -> None:
        super().__init__()
        self.scale_set = scale_set
        self.used_luns = tuple(d.lun for d in scale_set.data_disks)
        skus = [d.sku for d in scale_set.data_disks if d.sku]
        self.default_sku = skus[-1] if skus else "StandardSSD_LRS"
        self.choice: NewModelDisk | None = None

    def compose(self) -> ComposeResult:
        free = next_free_lun(self.used_luns)
        with Vertical(id="dialog", classes="disk-form"):
            yield Label(Text(f"Add an empty data disk to {self.scale_set.name}'s model"), classes="form-title")
            yield Static(Text(
                "New instances get it at once; existing instances get it only through the model update. "
                + policy_consequence(self.scale_set)
                + " Then P prepares it in the guests (partition, filesystem, mount)."), classes="form-summary")
            yield _field("Size (GiB)", Input(placeholder="1-32767", max_length=5, compact=True, id="disk-size"))
            yield _field("SKU", Input(self.default_sku, compact=True, id="disk-sku",
                                      suggester=SuggestFromList(DISK_SKUS, case_sensitive=False)))
            yield _field("Host caching", Input("None", compact=True, id="disk-caching",
                                               suggester=SuggestFromList(DISK_CACHING, case_sensitive=False)))
            yield _field("LUN", Input(placeholder=f"empty: the next free one, {free}", max_length=2, compact=True,
                                      id="disk-lun"))
            yield Static(f"Type the size. SKUs: {', '.join(DISK_SKUS)}; caching: {', '.join(DISK_CACHING)}.",
                         id="disk-hint", classes="hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Add disk", id="confirm", variant="warning", disabled=True)
                yield Button("Add + rollout view", id="confirm-also", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value

    @on(Input.Changed)
    def _changed(self) -> None:
        hint = self.query_one("#disk-hint", Static)
        buttons = list(self.query("#confirm, #confirm-also").results(Button))
        self.choice = None
        if not self._value("disk-size").strip():
            hint.update("Type the size.")
            hint.set_class(False, "invalid")
        else:
            try:
                size, sku, lun, caching = validate_data_disk(
                    size_gb=self._value("disk-size"), sku=self._value("disk-sku"), lun=self._value("disk-lun") or None,
                    caching=self._value("disk-caching"), used_luns=self.used_luns)
            except ModelChangeError as error:
                hint.update(Text("Not valid: " + "; ".join(error.problems)))
                hint.set_class(True, "invalid")
            else:
                self.choice = NewModelDisk(size, sku, lun, caching)
                hint.update(Text(f"LUN {lun}: an empty {size} GiB {sku} disk, caching {caching}."))
                hint.set_class(False, "invalid")
        for button in buttons:
            button.disabled = self.choice is None
        if self.choice is not None:
            buttons[0].label = f"Add LUN {self.choice.lun}"

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel" or self.choice is None or event.button.disabled:
            self.dismiss(None)
            return
        watch = event.button.id == "confirm-also"
        choice = self.choice
        self.dismiss(NewModelDisk(choice.size_gb, choice.sku, choice.lun, choice.caching, watch))


# ---------------------------------------------------------------------- attach a managed disk


@dataclass(frozen=True, slots=True)
class DiskToAttach:
    disk: ManagedDisk
    lun: int
    caching: str


class AttachDiskScreen(_FormScreen):
    """One of the resource group's unattached managed disks, to one instance, at a free LUN."""

    def __init__(self, scale_set: ScaleSet, instance: Instance,
                 load_disks: Callable[[], Awaitable[list[ManagedDisk]]]) -> None:
        super().__init__()
        self.scale_set = scale_set
        self.instance = instance
        self._load = load_disks
        self.used_luns = tuple(d.lun for d in instance.data_disks if d.lun is not None)
        self.candidates: list[ManagedDisk] = []
        self.choice: DiskToAttach | None = None

    def compose(self) -> ComposeResult:
        free = next_free_lun(self.used_luns)
        with Vertical(id="dialog", classes="disk-form"):
            yield Label(Text(f"Attach a managed disk to instance {self.instance.instance_id} of {self.scale_set.name}"),
                        classes="form-title")
            yield Static(Text(
                f"Disks of resource group {self.scale_set.resource_group} attached to nothing. The disk becomes this "
                "instance's only: the scale set model does not get it, and other instances do not see it."),
                classes="form-summary")
            yield OptionList(id="disk-list", compact=True)
            yield _field("LUN", Input(placeholder=f"empty: the next free one, {free}", max_length=2, compact=True,
                                      id="disk-lun"))
            yield _field("Host caching", Input("None", compact=True, id="disk-caching",
                                               suggester=SuggestFromList(DISK_CACHING, case_sensitive=False)))
            yield Static("Reading the resource group's disks…", id="disk-hint", classes="hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Attach", id="confirm", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.run_worker(self._read(), exit_on_error=False)

    async def _read(self) -> None:
        hint = self.query_one("#disk-hint", Static)
        try:
            disks = await self._load()
        except Exception as error:  # noqa: BLE001 - said in the dialog
            hint.update(Text(f"Could not list the disks: {type(error).__name__}: {error}".splitlines()[0]))
            hint.set_class(True, "invalid")
            return
        self.candidates = [d for d in disks if not d.is_attached and not d.os_type]
        options = self.query_one("#disk-list", OptionList)
        for disk in self.candidates:
            zone = f"zone {disk.zone}" if disk.zone else "no zone"
            options.add_option(Option(Text(f"{disk.name}  {gib(disk.size_gb)}  {disk.sku or '-'}  {zone}"), id=disk.id))
        if not self.candidates:
            hint.update(Text(f"No unattached data disk in {self.scale_set.resource_group}."))  # a name: text
            return
        options.highlighted = 0
        self._check()

    @on(OptionList.OptionHighlighted)
    @on(Input.Changed)
    def _check(self) -> None:
        hint = self.query_one("#disk-hint", Static)
        button = self.query_one("#confirm", Button)
        self.choice = None
        options = self.query_one("#disk-list", OptionList)
        index = options.highlighted
        if not self.candidates or index is None or not 0 <= index < len(self.candidates):
            button.disabled = True
            return
        disk = self.candidates[index]
        try:
            lun, caching = validate_lun_and_caching(lun=self.query_one("#disk-lun", Input).value or None,
                                                    caching=self.query_one("#disk-caching", Input).value,
                                                    used_luns=self.used_luns, sku=disk.sku)
        except ModelChangeError as error:
            hint.update(Text("Not valid: " + "; ".join(error.problems)))
            hint.set_class(True, "invalid")
            button.disabled = True
            return
        self.choice = DiskToAttach(disk, lun, caching)
        text = f"{disk.name} at LUN {lun}, caching {caching}."
        if disk.zone and self.instance.zone and disk.zone != self.instance.zone:
            text += f" The disk is in zone {disk.zone}, the instance in zone {self.instance.zone}: ARM will refuse it."
        hint.update(Text(text))
        hint.set_class(False, "invalid")
        button.disabled = False
        button.label = f"Attach at LUN {lun}"

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.choice if event.button.id == "confirm" and not event.button.disabled else None)


# ---------------------------------------------------------------------- prepare the empty disks


@dataclass(frozen=True, slots=True)
class PrepareChoice:
    route: str
    fstype: str
    mount_template: str
    watch_rollout: bool = False


ROUTE_WORDS = {
    ROUTE_RUN_COMMAND: "Run Command on each instance (~20 s each on Azure)",
    ROUTE_CUSTOM_SCRIPT: "Custom Script extension on the model",
}


def prepare_lines(instances: Sequence[Instance], guests: dict[str, InstanceDisks], fstype: str, template: str,
                  model_luns: Sequence[int] | None = None) -> list[str]:
    """Per instance and LUN: what the script will do as far as the last guest read tells, and the
    mount path. `model_luns`: the Custom Script route prepares the model's LUNs."""
    lines = []
    for instance in instances:
        luns = sorted(model_luns if model_luns is not None else (d.lun for d in instance.data_disks if d.lun is not None))
        if not luns:
            lines.append(f"instance {instance.instance_id}: no data disk")
            continue
        plan = make_plan(luns, fstype, template)
        entry = guests.get(instance.instance_id)
        parts = []
        for lun, path in plan.mountpoints:
            row = next((r for r in entry.rows if r.kind == KIND_DATA and r.lun == lun), None) if entry else None
            state = row.state if row is not None and entry is not None and entry.reachable else None
            if state == STATE_EMPTY:
                parts.append(f"LUN {lun} empty -> {path} ({fstype})")
            elif state == STATE_MOUNTED:
                parts.append(f"LUN {lun} mounted at {row.mountpoint if row else '?'}: left as it is")
            elif state is not None:
                parts.append(f"LUN {lun} {state}: left as it is")
            else:
                parts.append(f"LUN {lun} not read: {path} ({fstype}) if the guest finds it empty")
        lines.append(f"instance {instance.instance_id}: " + "; ".join(parts))
    return lines


class PrepareDisksScreen(_FormScreen):
    """How to prepare (route, filesystem, mount path) with what will happen per instance, updated
    as the choices change; nothing is formatted that the guest does not find empty itself."""

    DEFAULT_CSS = """
    PrepareDisksScreen #dialog { width: 100; }
    PrepareDisksScreen #prepare-fstype { layout: horizontal; }
    PrepareDisksScreen #prepare-fstype RadioButton { margin-right: 2; }
    PrepareDisksScreen #prepare-lines { height: auto; max-height: 6; margin: 1 0 0 0; }
    """
    def __init__(self, scale_set: ScaleSet, instances: Sequence[Instance], guests: dict[str, InstanceDisks],
                 waiting_note: Callable[[str], str | None]) -> None:
        super().__init__()
        self.scale_set = scale_set
        self.instances = list(instances)
        self.guests = guests
        self.waiting_note = waiting_note
        self.choice: PrepareChoice | None = None

    def compose(self) -> ComposeResult:
        count = len(self.instances)
        with Vertical(id="dialog", classes="disk-form"):
            yield Label(Text(f"Prepare the empty data disks of {count} instance{'s' if count != 1 else ''} "
                             f"of {self.scale_set.name}"), classes="form-title")
            yield Static(Text(
                "Only a disk with neither a partition table nor a filesystem is touched: one GPT partition, a "
                "filesystem, an fstab entry by UUID (nofail), mounted. Each instance checks that itself first."),
                classes="form-summary")
            yield _field("Through", RadioSet(*(RadioButton(words, value=route == ROUTE_RUN_COMMAND, id=f"route-{route}")
                                               for route, words in ROUTE_WORDS.items()),
                                             id="prepare-route", compact=True))
            yield _field("Filesystem", RadioSet(*(RadioButton(fstype, value=fstype == "ext4", id=f"fstype-{fstype}")
                                                  for fstype in FILESYSTEMS), id="prepare-fstype", compact=True))
            yield _field("Mount path", Input(DEFAULT_MOUNT_TEMPLATE, compact=True, id="prepare-path"))
            with VerticalScroll(id="prepare-lines", can_focus=False):
                yield Static(id="prepare-lines-text")
            yield Static(id="disk-hint", classes="hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Prepare", id="confirm", variant="warning", disabled=True)
                yield Button("Prepare + rollout view", id="confirm-also", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._update()

    def _selected(self, radio_set: str, prefix: str, default: str) -> str:
        pressed = self.query_one(f"#{radio_set}", RadioSet).pressed_button
        return (pressed.id or "").removeprefix(prefix) if pressed is not None else default

    @on(RadioSet.Changed)
    @on(Input.Changed)
    def _update(self) -> None:
        route = self._selected("prepare-route", "route-", ROUTE_RUN_COMMAND)
        fstype = self._selected("prepare-fstype", "fstype-", "ext4")
        template = self.query_one("#prepare-path", Input).value.strip()
        hint = self.query_one("#disk-hint", Static)
        confirm, also = self.query_one("#confirm", Button), self.query_one("#confirm-also", Button)
        model_luns = [d.lun for d in self.scale_set.data_disks] if route == ROUTE_CUSTOM_SCRIPT else None
        try:
            lines = prepare_lines(self.instances, self.guests, fstype, template, model_luns)
        except DiskPrepareError as error:
            self.choice = None
            hint.update(Text(f"Not valid: {error}"))
            hint.set_class(True, "invalid")
            confirm.disabled = also.disabled = True
            return
        self.query_one("#prepare-lines-text", Static).update(Text("\n".join(lines)))
        note = self.waiting_note(route)
        hint.update(Text(note or ("Each instance's output is kept: d on the disk pane shows it."
                                  if route == ROUTE_RUN_COMMAND else "Results come as each instance runs it.")))
        hint.set_class(False, "invalid")
        self.choice = PrepareChoice(route, fstype, template)
        if route == ROUTE_CUSTOM_SCRIPT:
            nothing = not model_luns
        else:
            nothing = not any(d.lun is not None for i in self.instances for d in i.data_disks)
        if nothing:
            hint.update("Nothing to prepare: no data disk" + (" in the model." if model_luns is not None else "."))
        confirm.disabled = nothing
        confirm.label = f"Prepare {len(self.instances)} instance{'s' if len(self.instances) != 1 else ''}"
        also.display = route == ROUTE_CUSTOM_SCRIPT
        also.disabled = nothing

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choice = self.choice
        if event.button.id == "cancel" or choice is None or event.button.disabled:
            self.dismiss(None)
            return
        watch = event.button.id == "confirm-also"
        self.dismiss(PrepareChoice(choice.route, choice.fstype, choice.mount_template, watch))
