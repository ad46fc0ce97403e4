"""Guest disks in the console: what the disk pane and the survey tabs share (`GuestDisks`), and the
survey tab itself (`GuestDisksView`: every instance of one scale set, and the managed disks of its
resource group with what each is attached to).

`GuestDisks` holds one `GuestSurvey` (the cache of every guest read, whoever asked for it), the
disk preparations of this session with each instance's output, and the resource groups' managed
disk listings. Guests are read over SSH with the SSH tab's settings, keys and known_hosts; a read
nobody asked for never asks anything (a host key never seen is refused and said), and `K` reads
one instance again asking for its host key the way the SSH tab does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import TabbedContent, TabPane

from vmss_tui.domain.arm_ids import id_key, name_of, segment_after
from vmss_tui.ui.disk_dialogs import gib
from vmss_tui.ui.format import format_age, format_clock
from vmss_tui.ui.panes.base import Line
from vmss_tui.ui.panes.cells import BAD, DIM, GOOD, PLAIN, WARN, Cell, Column, RowData
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import FetchContext, Track

if TYPE_CHECKING:
    from textual.screen import Screen

    from vmss_tui.domain.models import Instance, ManagedDisk, NatResolution, ScaleSet
    from vmss_tui.ssh.guest import GuestInspection
    from vmss_tui.ssh.session import SshPrompts
    from vmss_tui.ssh.settings import SshSettings
    from vmss_tui.ui.disk_flows import DiskFlows
    from vmss_tui.ui.panes.base import PaneHost
    from vmss_tui.workflows.disk_prepare import InstancePrepare
    from vmss_tui.workflows.guest_survey import GuestSurvey, InstanceDisks, Survey

SURVEY_REFRESH = 120.0  # seconds between reads of every instance while a survey tab shows


@dataclass(frozen=True, slots=True)
class DiskListing:
    """The managed disks of one resource group, as last read."""

    resource_group: str
    disks: tuple[ManagedDisk, ...]
    fetched_at: float

    @property
    def unattached(self) -> tuple[ManagedDisk, ...]:
        return tuple(d for d in self.disks if not d.is_attached)


def attached_to(disk: ManagedDisk) -> str:
    """`vmss-disks/0` for a scale-set VM, the VM's name for a VM, `nothing` when unattached."""
    if not disk.managed_by:
        return "nothing"
    scale_set = segment_after(disk.managed_by, "virtualMachineScaleSets")
    if scale_set:
        return f"{scale_set}/{name_of(disk.managed_by)}"
    return name_of(disk.managed_by) or disk.managed_by


@dataclass(slots=True)
class PrepareRecord:
    """One instance's last disk preparation in this session (kept for the details view)."""

    scale_set: str
    route: str
    result: InstancePrepare


class GuestDisks:
    """See the module docstring. `runner` is the widget whose workers do the follow-up reads (the
    disk pane: it lives as long as the console)."""

    def __init__(self, host: PaneHost, runner: Any) -> None:
        self.host = host
        self.runner = runner
        self._survey: GuestSurvey | None = None
        self._survey_fleet: Any = None
        self._settings: SshSettings | None = None
        self._interactive: dict[tuple[str, str], SshPrompts] = {}
        self.reading: set[tuple[str, str]] = set()  # (scale set id, instance id) being read now
        self.prepares: dict[tuple[str, str], PrepareRecord] = {}
        self.listings: dict[str, DiskListing] = {}  # resource group (case-folded) -> listing
        self._listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ change signal
    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ------------------------------------------------------------------ the survey
    def settings(self) -> SshSettings:
        """The SSH tab's settings: the config's [ssh] table and the identity file it was given."""
        if self._settings is None:
            from vmss_tui.ssh.settings import SshSettings

            self._settings = SshSettings.from_config(self.host.config.ssh, identity_file=self.host.ssh_identity_file)
        return self._settings

    def survey(self) -> GuestSurvey | None:
        """The cache of guest reads, for the fleet connected now (None: not connected)."""
        fleet = self.host.fleet
        if fleet is None:
            return None
        if self._survey is None or self._survey_fleet is not fleet:
            from vmss_tui.workflows.guest_survey import GuestSurvey

            self._survey = GuestSurvey(fleet, self.settings(), clock=self.host.clock, inspect=self._inspect)
            self._survey_fleet = fleet
        return self._survey

    async def _inspect(self, scale_set: ScaleSet, instance: Instance, resolution: NatResolution,
                       settings: SshSettings, accept_new: bool, private_ip: str | None) -> GuestInspection:
        from vmss_tui.ssh.guest import inspect_instance

        prompts = self._interactive.pop((scale_set.id, instance.instance_id), None)
        return await inspect_instance(scale_set, instance, resolution, settings, accept_new=accept_new,
                                      private_ip=private_ip, prompts=prompts)

    def entries(self, scale_set: ScaleSet) -> dict[str, InstanceDisks]:
        survey = self._survey.cached(scale_set) if self._survey is not None else None
        return {e.instance_id: e for e in survey.instances} if survey is not None else {}

    def survey_of(self, scale_set: ScaleSet) -> Survey | None:
        return self._survey.cached(scale_set) if self._survey is not None else None

    def entry(self, scale_set: ScaleSet, instance: Instance) -> InstanceDisks | None:
        """The last read of this instance's guest, if ARM still lists the same disks on it and
        the same power state (a read from before an attach says nothing about the new disk; one
        from before a start, only that it was stopped)."""
        found = self.entries(scale_set).get(instance.instance_id)
        if (found is None or disk_signature(found.instance) != disk_signature(instance)
                or found.instance.power_state != instance.power_state):
            return None
        return found

    async def read(self, scale_set: ScaleSet, instance: Instance, *, ask: bool = False) -> InstanceDisks | None:
        """Read one guest now (its NAT mapping from the store when loaded). `ask`: a host key never
        seen, a key passphrase or a password is asked in a dialog, as the SSH tab does."""
        survey = self.survey()
        if survey is None:
            return None
        key = (scale_set.id, instance.instance_id)
        if ask:
            self._interactive[key] = self._interactive_prompts()
        entry = self.host.store.entries.get(scale_set.id)
        resolution = entry.nat if entry is not None else None
        private_ip = entry.private_ips.get(instance.instance_id) if entry is not None else None
        self.reading.add(key)
        self.changed()
        try:
            return await survey.inspect(scale_set, instance, resolution=resolution, private_ip=private_ip)
        finally:
            self._interactive.pop(key, None)
            self.reading.discard(key)
            self.changed()

    def read_later(self, scale_set: ScaleSet, instance: Instance, *, ask: bool = False) -> None:
        """`read` in a worker of the runner (the result arrives through the change signal)."""
        self.runner.run_worker(self.read(scale_set, instance, ask=ask), group="guest-read", exit_on_error=False)

    def _interactive_prompts(self) -> SshPrompts:
        from vmss_tui.ssh.session import SshPrompts
        from vmss_tui.ui.ssh_dialogs import HostKeyDialog, SecretDialog

        async def host_key(check: Any) -> bool:
            return bool(await self._ask(HostKeyDialog(check)))

        async def passphrase(label: str, attempt: int) -> str | None:
            return await self._ask(SecretDialog(f"Passphrase for {label}", f"The key {label} is encrypted.", attempt))

        async def password(prompt: str, attempt: int) -> str | None:
            return await self._ask(SecretDialog("Password", prompt, attempt))

        return SshPrompts(host_key, passphrase, password)

    async def _ask(self, dialog: Screen[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        self.host.push_screen(dialog, done)
        try:
            return await future
        finally:
            if not future.done() and dialog.is_current:  # the read was cancelled: take the question away
                dialog.dismiss(None)

    # ------------------------------------------------------------------ managed disks
    def listing(self, resource_group: str) -> DiskListing | None:
        return self.listings.get(resource_group.casefold())

    async def list_disks(self, resource_group: str) -> DiskListing:
        fleet = self.host.fleet
        if fleet is None:
            raise RuntimeError("not connected to Azure yet")
        disks = await fleet.list_managed_disks(resource_group)
        return DiskListing(resource_group, tuple(disks), self.host.clock())

    def apply_listing(self, listing: DiskListing) -> None:
        self.listings[listing.resource_group.casefold()] = listing
        self.changed()

    # ------------------------------------------------------------------ preparing disks
    def last_prepare(self, scale_set: ScaleSet, instance_id: str) -> PrepareRecord | None:
        return self.prepares.get((scale_set.id, instance_id))


def disk_signature(instance: Instance) -> tuple[tuple[int | None, str], ...]:
    """What ARM attaches to an instance, to tell whether a guest read still matches it."""
    return tuple(sorted(((d.lun, id_key(d.managed_disk_id or d.name)) for d in instance.data_disks),
                        key=lambda item: (item[0] is None, item[0] or 0, item[1])))


def describe_prepare(record: PrepareRecord) -> list[str]:
    """The details view's lines about one instance's last preparation, output included."""
    from vmss_tui.workflows.disk_prepare import ROUTE_CUSTOM_SCRIPT

    result = record.result
    how = "Custom Script extension" if record.route == ROUTE_CUSTOM_SCRIPT else "Run Command"
    when = f" at {format_clock(result.started_at)}" if result.started_at else ""
    took = (f", {format_age(result.ended_at - result.started_at)}"
            if result.started_at is not None and result.ended_at is not None else "")
    out = [f"Last disk preparation ({how}{when}{took}): {result.summary()}"]
    if result.report is not None:
        out += [f"  {lun.describe()}" for lun in result.report.results]
    if result.plan is not None:
        out.append("  mount paths: " + ", ".join(f"LUN {lun} -> {path}" for lun, path in result.plan.mountpoints)
                   + f" ({result.plan.fstype})")
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            out += ["", f"  {name}:"] + [f"    {line}" for line in text.rstrip().splitlines()]
    return out


def short_reason(found: InstanceDisks) -> str:
    """The heading's words; the line under the table has the reason in full."""
    # Imported here: asyncssh loads with the first guest read, not with the console.
    from vmss_tui.ssh.guest import NO_TARGET, NOT_RUNNING
    from vmss_tui.ssh.session import FailureKind

    words = {
        FailureKind.HOST_KEY_UNKNOWN: "host key not known yet",
        FailureKind.HOST_KEY_CHANGED: "host key CHANGED",
        FailureKind.HOST_KEY_REJECTED: "host key not trusted",
        FailureKind.AUTH: "authentication failed",
        FailureKind.REFUSED: "connection refused",
        FailureKind.TIMEOUT: "timed out",
        NOT_RUNNING: "not running",
        NO_TARGET: "no SSH endpoint",
    }
    return words.get(found.kind or "", (found.reason or "").split(":", 1)[0])


def what_to_do(found: InstanceDisks) -> str:
    """The key that helps, in a few words ("" when only the reason itself can say: no endpoint)."""
    from vmss_tui.ssh.guest import NO_TARGET, NOT_RUNNING
    from vmss_tui.ssh.session import FailureKind

    if found.kind == NO_TARGET:
        return ""
    if found.kind == FailureKind.HOST_KEY_UNKNOWN:
        return "K shows its fingerprint to check and trust"
    if found.kind == FailureKind.HOST_KEY_CHANGED:
        return "if it was reimaged, s opens its SSH tab, where K replaces the key"
    if found.kind == NOT_RUNNING:
        return "start it: t in the instances pane"
    return "R tries again"


# ---------------------------------------------------------------------- the survey tab


def guest_cell(entry: InstanceDisks | None, reading: bool) -> Cell:
    if entry is None:
        return ("reading…" if reading else "not read", DIM)
    if not entry.reachable:
        return (entry.summary(), BAD)
    mounted = entry.all_data_mounted
    return (entry.summary(), GOOD if mounted else (WARN if mounted is False else PLAIN))


def survey_cells(instance: Instance, entry: InstanceDisks | None, *, reading: bool, now: float,
                 prepare: PrepareRecord | None) -> tuple[Cell, ...]:
    data = entry.data_rows if entry is not None and entry.reachable else ()
    mounted = sum(1 for r in data if r.is_mounted)
    count: Cell = (f"{mounted}/{len(data)}", GOOD if mounted == len(data) else WARN) if data else ("-", DIM)
    age: Cell = ("…", DIM) if reading else ((format_age(entry.age(now)), DIM) if entry else ("-", DIM))
    last: Cell = (prepare.result.summary(), BAD if prepare.result.error else PLAIN) if prepare else ("-", DIM)
    return (
        (instance.instance_id, "bold"),
        (instance.computer_name or instance.name, PLAIN),
        (instance.power_state or "-", GOOD if instance.is_running else BAD),
        count,
        age,
        last,
        guest_cell(entry, reading),  # last: the longest, an unreachable instance's reason in full
    )


def managed_disk_cells(disk: ManagedDisk) -> tuple[Cell, ...]:
    where = attached_to(disk)
    return (
        (disk.state or "-", WARN if not disk.is_attached else DIM),
        ("nothing (still billed)" if not disk.is_attached else where, WARN if not disk.is_attached else PLAIN),
        (gib(disk.size_gb), PLAIN),
        (disk.sku or "-", PLAIN),
        (disk.zone or "-", DIM),
        (disk.name, "bold" if not disk.is_attached else PLAIN),
    )


class SurveyTable(LiveTable):
    """Every instance of the scale set: does the guest have every data disk mounted?"""

    HELP_SECTION = "Guest disks"
    COLUMNS = (
        Column("id", "ID"),
        Column("computer", "Computer name", "Computer"),
        Column("power", "Power"),
        Column("mounted", "Mounted"),
        Column("age", "Read", min_width=len("59m59s")),
        Column("prepare", "Last preparation", "Prepared"),
        Column("guest", "Data disks in the guest", "Guest"),
    )
    MUTATING_ACTIONS = frozenset({"prepare"})
    BINDINGS = [
        Binding("R", "reread", "Re-read all", id="survey.reread"),
        Binding("K", "host_key", "Check host key", id="survey.host_key"),
        Binding("P", "prepare", "Prepare not mounted", id="survey.prepare"),
        Binding("enter", "describe", "Describe", id="survey.describe"),
    ]

    def action_reread(self) -> None:
        self._view().reread()

    def action_host_key(self) -> None:
        self._view().check_host_key()

    def action_prepare(self) -> None:
        self._view().prepare_not_mounted()

    def action_describe(self) -> None:
        self._view().describe()

    def _view(self) -> GuestDisksView:
        node = self.parent
        while not isinstance(node, GuestDisksView):
            assert node is not None
            node = node.parent
        return node


class ManagedDiskTable(LiveTable):
    """The resource group's managed disks, unattached ones first."""

    HELP_SECTION = "Guest disks"
    COLUMNS = (
        Column("state", "State"),
        Column("attached", "Attached to"),
        Column("size", "Size"),
        Column("sku", "SKU"),
        Column("zone", "Zone", wide_only=True),
        Column("name", "Name"),
    )


class GuestDisksView(Vertical):
    """One scale set's guests and its resource group's managed disks, in a tab of its own."""

    DEFAULT_CSS = """
    GuestDisksView { height: 1fr; }
    GuestDisksView .subtitle { height: auto; max-height: 3; padding: 0 1; }
    GuestDisksView #survey-table { height: auto; max-height: 60%; }
    GuestDisksView #survey-disks { height: 1fr; }
    """

    def __init__(self, guest: GuestDisks, flows: DiskFlows, scale_set: ScaleSet) -> None:
        super().__init__()
        self.guest = guest
        self.flows = flows
        self.scale_set_id = scale_set.id
        self._scale_set = scale_set
        self.track_name = f"disk_survey:{id_key(scale_set.id)}"
        self.heading = Line(id="survey-heading", classes="subtitle")
        self.table = SurveyTable(id="survey-table")
        self.disks_heading = Line(id="survey-disks-heading", classes="subtitle")
        self.disks_table = ManagedDiskTable(id="survey-disks")

    @property
    def scale_set(self) -> ScaleSet:
        entry = self.guest.host.store.entries.get(self.scale_set_id)
        return entry.scale_set if entry is not None else self._scale_set

    def compose(self) -> ComposeResult:
        yield self.heading
        yield self.table
        yield self.disks_heading
        yield self.disks_table

    def on_mount(self) -> None:
        poller = self.guest.host.poller
        poller.register(Track(self.track_name, SURVEY_REFRESH, self._fetch, self._apply,
                              visible=self._showing,
                              apply_partial=lambda _part: self.show(), label=f"guest disks of {self.scale_set.name}"))
        self.guest.subscribe(self.show)
        self.set_interval(1.0, self.show_heading, name="ages")
        self.call_after_refresh(self.show)  # the tables have their columns by then
        self.call_after_refresh(self._come_forward)

    def _tab(self) -> tuple[TabPane | None, TabbedContent | None]:
        tab = next((node for node in self.ancestors if isinstance(node, TabPane)), None)
        tabs = next((node for node in self.ancestors if isinstance(node, TabbedContent)), None)
        return tab, tabs

    def _showing(self) -> bool:
        """Its tab is the one in front (the survey reads nothing while another tab shows)."""
        tab, tabs = self._tab()
        return self.is_mounted and tab is not None and tabs is not None and tabs.active == tab.id

    def _come_forward(self) -> None:
        """Opened in a tab: that tab to the front and the table focused (the tab it was added to
        is not active until it is mounted), then read every instance."""
        # Columns as narrow as the console's other tables (the screen sets them on resizes).
        narrow = any(t.narrow for t in self.screen.query(LiveTable) if t not in (self.table, self.disks_table))
        self.table.set_narrow(narrow)
        self.disks_table.set_narrow(narrow)
        tab, tabs = self._tab()
        if tab is not None and tabs is not None and tab.id and tabs.active != tab.id:
            tabs.active = tab.id
        self.table.focus()
        self.guest.host.poller.tick()

    def focus(self, scroll_visible: bool = True) -> GuestDisksView:
        # The table takes the focus, and with it the tab comes to the front.
        self.table.focus(scroll_visible)
        return self

    def on_unmount(self) -> None:
        self.guest.unsubscribe(self.show)
        self.guest.host.poller.unregister(self.track_name)

    def _fetch(self, context: FetchContext) -> Any:
        survey = self.guest.survey()
        if survey is None:
            return None
        scale_set = self.scale_set

        async def read() -> DiskListing:
            refresh = survey.refresh(scale_set, on_instance=context.emit)
            _survey, listing = await asyncio.gather(refresh, self.guest.list_disks(scale_set.resource_group))
            return listing

        return read()

    def _apply(self, listing: DiskListing) -> None:
        self.guest.apply_listing(listing)  # its change signal renders

    # ------------------------------------------------------------------ rendering
    def _instances(self) -> list[Instance]:
        entry = self.guest.host.store.entries.get(self.scale_set_id)
        if entry is not None and entry.instances is not None:
            return list(entry.instances)
        survey = self.guest.survey_of(self.scale_set)
        return [e.instance for e in survey.instances] if survey is not None else []

    def show(self) -> None:
        if not self.is_mounted:
            return
        scale_set = self.scale_set
        entries = self.guest.entries(scale_set)
        now = self.guest.host.clock()
        rows = []
        for instance in self._instances():
            key = (scale_set.id, instance.instance_id)
            entry = entries.get(instance.instance_id)
            reading = key in self.guest.reading or (entry is None and self._refreshing())
            rows.append(RowData.of(instance.instance_id, survey_cells(
                instance, entry, reading=reading, now=now, prepare=self.guest.prepares.get(key))))
        self.table.set_rows(rows)
        listing = self.guest.listing(scale_set.resource_group)
        disks = sorted(listing.disks, key=lambda d: (d.is_attached, d.name.casefold())) if listing else []
        self.disks_table.set_rows([RowData.of(d.id, managed_disk_cells(d)) for d in disks])
        self.show_heading()

    def _refreshing(self) -> bool:
        state = self.guest.host.poller.plan.tracks.get(self.track_name)
        return bool(state and state.in_flight)

    def show_heading(self) -> None:
        if not self.is_mounted:
            return
        scale_set = self.scale_set
        survey = self.guest.survey_of(scale_set)
        now = self.guest.host.clock()
        text = Text.assemble(("Guest disks of ", ""), (scale_set.name, "bold"), (f" ({scale_set.resource_group})", "dim"))
        if survey is None:
            text.append(" · reading every instance…" if self._refreshing() else " · not read yet")
        else:
            text.append(f" · {survey.summary()} · read {format_age(survey.age(now))} ago")
            if self._refreshing():
                text.append(" · reading…", style="dim")
        self.heading.set(text)
        listing = self.guest.listing(scale_set.resource_group)
        if listing is None:
            self.disks_heading.set(f"Managed disks of {scale_set.resource_group}: reading…")
        else:
            loose = listing.unattached
            words = Text(f"Managed disks of {listing.resource_group}: {len(listing.disks)}")
            if loose:
                words.append(f" · {len(loose)} attached to nothing (still billed): "
                             + ", ".join(f"{d.name} {gib(d.size_gb)}" for d in loose), style="yellow")
            words.append(f" · read {format_age(now - listing.fetched_at)} ago", style="dim")
            self.disks_heading.set(words)

    # ------------------------------------------------------------------ keys
    def _cursor_instance(self) -> Instance | None:
        key = self.table.cursor_key
        return next((i for i in self._instances() if i.instance_id == key), None)

    def reread(self) -> None:
        poller = self.guest.host.poller
        poller.request_now(self.track_name)
        poller.tick()

    def check_host_key(self) -> None:
        instance = self._cursor_instance()
        if instance is None:
            return
        self.guest.read_later(self.scale_set, instance, ask=True)

    def prepare_not_mounted(self) -> None:
        entries = self.guest.entries(self.scale_set)
        targets = [i for i in self._instances()
                   if (e := entries.get(i.instance_id)) is not None and e.reachable and e.all_data_mounted is False]
        if not targets:
            self.guest.host.notify("Every instance read has its data disks mounted (or could not be read)",
                                   timeout=5)
            return
        self.flows.prepare(self.scale_set, targets)

    def describe(self) -> None:
        from vmss_tui.ui.details import DetailsScreen, raw_json

        instance = self._cursor_instance()
        if instance is None:
            return
        text = describe_guest(self.guest, self.scale_set, instance)
        self.guest.host.push_screen(DetailsScreen(f"disks of instance {self.scale_set.name}/{instance.instance_id}",
                                                  raw_json(instance), text, "describe"))


def describe_guest(guest: GuestDisks, scale_set: ScaleSet, instance: Instance) -> str:
    """The details view of one instance's disks: each row, the guest's notes, the last preparation."""
    from vmss_tui.domain.disks import arm_rows
    from vmss_tui.ui.disk_dialogs import describe_row

    entry = guest.entry(scale_set, instance)
    now = guest.host.clock()
    out = [f"Disks of instance {instance.instance_id} of {scale_set.name} ({instance.computer_name or instance.name})", ""]
    if entry is None:
        out.append("The guest has not been read since ARM last changed its disks (R reads it).")
        rows = arm_rows(instance)
    else:
        rows = entry.rows
        if entry.reachable:
            out.append(f"Guest read {format_age(entry.age(now))} ago: {entry.summary()}")
        else:
            hint = what_to_do(entry)
            out.append(f"Guest unreachable: {entry.reason}" + (f" ({hint})" if hint else ""))
        out += [f"  note: {note}" for note in entry.notes]
    out.append("")
    out += [f"  {describe_row(row)}" for row in rows]
    record = guest.last_prepare(scale_set, instance.instance_id)
    if record is not None:
        out += ["", *describe_prepare(record)]
    return "\n".join(out)
