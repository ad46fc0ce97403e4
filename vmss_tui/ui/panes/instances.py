"""The instances pane: the instances of the selected scale set, live.

Owns its columns and cells (power, provisioning, latest model, health, private IP, the SSH
endpoint `s` opens or why there is none), its keys (marks, SSH, every instance action) and the
track that reads the selected scale set's instances: every few seconds, every second while an
action of this session is being watched, and less often for very large scale sets.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content

from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_UNALLOCATED,
    POWER_DEALLOCATED,
    POWER_DEALLOCATING,
    POWER_RUNNING,
    POWER_STARTING,
    POWER_STOPPED,
    POWER_STOPPING,
    Instance,
    NatResolution,
)
from vmss_tui.ui import intents
from vmss_tui.ui.details import nat_sort_key, ssh_mapping_of
from vmss_tui.ui.panes.base import FleetPane, PaneHost
from vmss_tui.ui.panes.cells import (
    BAD,
    BLOCKED,
    DIM,
    GOOD,
    MARKED,
    OPEN,
    PENDING,
    PENDING_ROW,
    PLAIN,
    WARN,
    Cell,
    Column,
    RowData,
    provisioning_style,
    short_vm_name,
    subtitle,
)
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.store import ACTIONS, INSTANCES, MARKS, NAT, SELECTION

MARK_SYMBOL = "●"
INSTANCES_PER_BASE_INTERVAL = 500  # above this, the refresh interval grows in proportion
WATCH_REFRESH = 1.0  # while an action of this session is watched


class InstanceTable(LiveTable):
    """The instances of the selected scale set."""

    HELP_SECTION = "Instances"

    COLUMNS = (
        Column("mark", " "),
        Column("id", "ID", narrow_text=short_vm_name),
        Column("computer", "Computer name", "Computer"),
        Column("power", "Power", min_width=len("deallocating")),
        Column("prov", "Provisioning", "State", min_width=len("deallocating…")),
        Column("latest", "Latest", "Latest", min_width=len("unknown")),
        Column("zone", "Zone", wide_only=True),
        Column("fd", "FD", wide_only=True),
        Column("health", "Health", wide_only=True, min_width=len("initializing")),
        Column("ip", "Private IP", wide_only=True),
        Column("ssh", "SSH endpoint", "SSH"),
    )
    MUTATING_ACTIONS = frozenset({"run"})
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="instances.mark"),
        Binding("ctrl+a", "mark_all", "Mark all", show=False, id="instances.mark_all"),
        Binding("ctrl+backslash", "clear_marks", "Unmark all", show=False, id="instances.clear_marks"),
        Binding("enter", "open", "Describe", show=False, id="instances.open"),
        Binding("s", "ssh", "SSH", id="instances.ssh"),
        Binding("S", "ssh(True)", "New SSH session", show=False, id="instances.ssh_new"),
        Binding("r", "run('restart')", "Restart", id="instances.restart"),
        Binding("t", "run('start')", "Start", id="instances.start"),
        Binding("o", "run('power_off')", "Stop", id="instances.stop"),
        Binding("D", "run('deallocate')", "Deallocate", show=False, id="instances.deallocate"),
        Binding("I", "run('reimage')", "Reimage", show=False, id="instances.reimage"),
        Binding("u", "run('update')", "Update model", show=False, id="instances.update"),
        Binding("ctrl+d", "run('delete')", "Delete", show=False, id="instances.delete"),
    ]

    def action_toggle_mark(self) -> None:
        self.post_message(intents.ToggleMark(self.cursor_key))
        self.action_cursor_down()

    def action_mark_all(self) -> None:
        self.post_message(intents.MarkInstances(self.visible_keys))

    def action_clear_marks(self) -> None:
        self.post_message(intents.ClearMarks())

    def action_open(self) -> None:
        self.post_message(intents.ShowDetails("describe"))

    def action_ssh(self, new: bool = False) -> None:
        self.post_message(intents.OpenSsh(self.cursor_key, new=new))

    def action_run(self, action: str) -> None:
        self.post_message(intents.RunInstanceAction(action))


POWER_LABELS = {
    POWER_RUNNING: ("running", GOOD),
    POWER_STARTING: ("starting", WARN),
    POWER_STOPPING: ("stopping", WARN),
    POWER_STOPPED: ("stopped", BAD),
    POWER_DEALLOCATING: ("deallocating", WARN),
    POWER_DEALLOCATED: ("deallocated", BAD),
}


def power_cell(power_state: str) -> Cell:
    return POWER_LABELS.get(power_state, (power_state or "unknown", WARN))


def latest_cell(latest: bool | None) -> Cell:
    if latest is None:
        return ("unknown", DIM)  # a Flexible VM: ARM does not say, and the console does not guess
    return ("yes", DIM) if latest else ("no", "bold yellow")


def ssh_endpoint_cell(resolution: NatResolution | None, instance: Instance, port: int = 22) -> Cell:
    """`ip:port` of the mapping `s` opens, coloured by the NSG verdict, or why there is none."""
    if resolution is None:
        return ("…", DIM)
    mapping = ssh_mapping_of(resolution, instance, port)
    if mapping is None:
        others = sorted((m for m in resolution.mappings if m.instance_id == instance.instance_id), key=nat_sort_key)
        if others:
            other = others[0]
            where = other.endpoint or "IP not allocated"
            name = {3389: "RDP"}.get(other.backend_port, f"port {other.backend_port}")
            return (f"no NAT to {port} ({name}: {where})", DIM)
        if resolution.notes:
            # The notes are sentences ("no load balancer: vmss-data is not ..."); the pane and
            # the description show them whole, the cell their head.
            return (resolution.notes[0].split(":", 1)[0], DIM)
        return (f"no NAT to port {port}", DIM)
    if mapping.frontend_state == FRONTEND_UNALLOCATED or mapping.frontend_ip is None:
        return (f"IP not allocated (:{mapping.frontend_port})", WARN)
    text = f"{mapping.frontend_ip}:{mapping.frontend_port}"
    if mapping.frontend_state == FRONTEND_PRIVATE:
        text = f"private {text}"
    verdict = mapping.nsg
    if verdict is None or verdict.allowed is None:
        return (text, PLAIN)
    if verdict.allowed:
        return (text, OPEN if verdict.open_to_any else GOOD)
    return (f"{text} blocked", BLOCKED)


def instance_cells(
    instance: Instance,
    *,
    marked: bool,
    private_ip: str | None,
    resolution: NatResolution | None,
    ssh_port: int = 22,
    pending: str | None = None,
) -> tuple[Cell, ...]:
    """One cell per column of InstanceTable.

    `pending`: what an action of this session is doing to the instance ("restarting…"), shown
    in the provisioning cell, and the row's id and name in the pending colour, until its
    operation ends. The power cell keeps showing what ARM says (running -> starting -> running)."""
    id_style = MARKED if marked else (PENDING if pending else "bold")
    health = instance.health or ""
    # A guest that is not running reports no health: "unknown" then says nothing new (the power
    # cell is already red), so it is dim rather than yellow.
    quiet = health in ("", "healthy") or (health == "unknown" and instance.power_state != POWER_RUNNING)
    health_style = BAD if health == "unhealthy" else (DIM if quiet else WARN)
    if pending:
        provisioning: Cell = (pending, PENDING)
    else:
        provisioning = (instance.provisioning_state, provisioning_style(instance.provisioning_state))
    return (
        (MARK_SYMBOL if marked else " ", MARKED),
        (instance.instance_id, id_style),
        (instance.computer_name or instance.name, MARKED if marked else (PENDING_ROW if pending else PLAIN)),
        power_cell(instance.power_state),
        provisioning,
        latest_cell(instance.latest_model),
        (instance.zone or "-", DIM),
        (str(instance.fault_domain) if instance.fault_domain is not None else "-", DIM),
        (health or "-", health_style),
        (private_ip or "…" if resolution is None else private_ip or "-", PLAIN),
        ssh_endpoint_cell(resolution, instance, ssh_port),
    )


class InstancesPane(FleetPane):
    VIEW = "inst"
    TITLE = "Instances"
    TOPICS = frozenset({SELECTION, INSTANCES, NAT, MARKS, ACTIONS})

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(host, id=id)
        self.table = InstanceTable(id="instances")

    def compose(self) -> ComposeResult:
        yield self.table

    def show(self) -> None:
        store = self.host.store
        entry = store.selected()
        if entry is None or entry.instances is None:
            self.table.set_rows([])
        else:
            pending = store.pending_instances(entry.scale_set.id)
            port = self.host.config.ssh.port
            self.table.set_rows([
                RowData.of(i.id, instance_cells(
                    i, marked=i.id in entry.marks, private_ip=entry.private_ips.get(i.instance_id),
                    resolution=entry.nat, ssh_port=port, pending=pending.get(i.id),
                ))
                for i in entry.instances
            ])
        self.show_title()

    def show_title(self) -> None:
        entry = self.host.store.selected()
        title: object = self.TITLE
        if entry is not None:
            count = str(len(entry.instances)) if entry.instances is not None else "loading…"
            template = "Instances of [b]$name[/] [dim]($group)[/] [dim]$count[/]"
            if entry.marks:
                template += " · [b magenta]$marked marked[/]"
            title = Content.from_markup(template, name=entry.scale_set.name, group=entry.scale_set.resource_group,
                                        count=count, marked=len(entry.marks))
        sub = subtitle(self.table, self.host.poller.plan["instances"].stale)
        if entry is not None and entry.error is not None:
            sub = Text.assemble(("cannot list: ", "bold red"), entry.error, " · " if sub else "", sub)
        self.set_titles(title, sub)

    def cursor_instance(self) -> Instance | None:
        entry = self.host.store.selected()
        return entry.instance(self.table.cursor_key) if entry is not None else None

    def details(self) -> tuple[str | None, str, str]:
        return self.instance_details(self.cursor_instance())

    # ------------------------------------------------------------------ track
    def tracks(self) -> list[Track]:
        host = self.host
        store = host.store

        def fetch(context: FetchContext) -> Any:
            entry = store.selected()
            if entry is None:
                return None
            fleet = context.fleet
            assert fleet is not None
            scale_set = entry.scale_set

            async def read() -> tuple[str, Any, float]:
                return scale_set.id, await fleet.list_instances(scale_set), host.clock()

            return read()

        def apply(result: tuple[str, Any, float]) -> None:
            scale_set_id, instances, fetched_at = result
            store.apply_instances(scale_set_id, instances, fetched_at)
            if scale_set_id == store.selected_id:
                # Big scale sets poll less often: each page of 100 instances is one more call
                # against the subscription's read budget (High Cost Get in Compute's terms).
                pages_factor = max(1.0, len(instances) / INSTANCES_PER_BASE_INTERVAL)
                watching = scale_set_id in store.watched(host.clock())
                base = WATCH_REFRESH if watching else host.config.refresh.instances
                host.poller.set_interval("instances", base * pages_factor)

        return [Track("instances", host.config.refresh.instances, fetch, apply,
                      visible=host.showing_instances, label="instances")]
