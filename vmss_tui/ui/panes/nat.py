"""The NAT pane: every (instance, backend port, protocol) mapping of the selected scale set, with
the frontend ip:port the rule itself names and the NSG verdict for that port.

Owns its columns and cells, its keys (Enter describes, s opens SSH to the row's instance) and
the track that reads the NICs, load balancers, public IPs and NSGs behind the mappings.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from vmss_tui.domain.models import FRONTEND_PRIVATE, FRONTEND_UNALLOCATED, KIND_POOL, Instance, NatMapping
from vmss_tui.domain.network import private_ips
from vmss_tui.ui import intents
from vmss_tui.ui.details import describe_instance, nat_sort_key, raw_json
from vmss_tui.ui.panes.base import DETAILS_NONE, FleetPane, PaneHost
from vmss_tui.ui.panes.table import BAD, DIM, GOOD, PLAIN, WARN, Cell, Column, LiveTable, RowData, subtitle
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.store import NAT, SELECTION


class NatTable(LiveTable):
    """NAT mappings of the selected scale set."""

    HELP_SECTION = "NAT"

    COLUMNS = (
        Column("instance", "Instance", "Inst"),
        Column("proto", "Proto"),
        Column("backend", "Backend", "Port"),
        Column("frontend", "Frontend ip:port", "Frontend"),
        # The verdict next to the endpoint: where the pane is narrow, the names are what gets cut.
        Column("nsg", "NSG verdict", "NSG"),
        Column("lb", "Load balancer", "LB"),
        Column("rule", "Rule", wide_only=True),
        Column("kind", "Kind", wide_only=True),
    )
    BINDINGS = [
        Binding("enter", "open", "Describe", show=False, id="nat.open"),
        Binding("s", "ssh", "SSH", id="nat.ssh"),
    ]

    def action_open(self) -> None:
        self.post_message(intents.ShowDetails("describe"))

    def action_ssh(self) -> None:
        self.post_message(intents.OpenSsh(None))


def nat_key(mapping: NatMapping) -> str:
    return f"{mapping.instance_id}/{mapping.protocol}/{mapping.backend_port}/{mapping.load_balancer}/{mapping.rule}"


def nsg_cell(mapping: NatMapping) -> Cell:
    verdict = mapping.nsg
    if verdict is None:
        return ("-", DIM)
    if verdict.allowed is None:
        return (verdict.label, WARN)
    if not verdict.allowed:
        return (verdict.label, BAD)
    return (verdict.label, BAD if verdict.open_to_any else GOOD)


def nat_cells(mapping: NatMapping) -> tuple[Cell, ...]:
    """One cell per column of NatTable."""
    if mapping.frontend_ip is None or mapping.frontend_state == FRONTEND_UNALLOCATED:
        frontend: Cell = (f"(not allocated):{mapping.frontend_port}", WARN)
    else:
        text = f"{mapping.frontend_ip}:{mapping.frontend_port}"
        frontend = (f"{text} (private)" if mapping.frontend_state == FRONTEND_PRIVATE else text, "bold")
    return (
        (mapping.instance_id, "bold"),
        (mapping.protocol.upper(), PLAIN),
        (str(mapping.backend_port), PLAIN),
        frontend,
        nsg_cell(mapping),
        (mapping.load_balancer, PLAIN),
        (mapping.rule, DIM),
        ("pool" if mapping.kind == KIND_POOL else "rule v2", DIM),
    )


class NatPane(FleetPane):
    VIEW = "nat"
    TITLE = "NAT mappings"
    TOPICS = frozenset({SELECTION, NAT})

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(host, id=id)
        self.notes = Static(id="nat-notes")
        self.table = NatTable(id="nat")

    def compose(self) -> ComposeResult:
        yield self.notes
        yield self.table

    def show(self) -> None:
        entry = self.host.store.selected()
        notes = self.notes
        if entry is None or entry.nat is None:
            self.table.set_rows([])
            notes.update(Text("loading NAT mappings…" if entry is not None else ""), layout=True)
        else:
            mappings = sorted(entry.nat.mappings, key=nat_sort_key)
            self.table.set_rows([RowData.of(nat_key(m), nat_cells(m)) for m in mappings])
            if entry.nat.notes:
                text = "; ".join(entry.nat.notes)
                notes.update(Text("no public mapping: " + text if not entry.nat.mappings else text), layout=True)
                notes.display = True
            elif not entry.nat.mappings:
                notes.update(Text("no NAT mappings"), layout=True)
                notes.display = True
            else:
                notes.display = False
        self.show_title()

    def show_title(self) -> None:
        entry = self.host.store.selected()
        if entry is None:
            self.border_title = self.TITLE
        else:
            self.border_title = Content.from_markup("NAT mappings of [b]$name[/]", name=entry.scale_set.name)
        self.border_subtitle = subtitle(self.table, self.host.poller.plan["nat"].stale)

    def cursor_instance(self) -> Instance | None:
        """The instance of the mapping under the cursor."""
        entry = self.host.store.selected()
        key = self.table.cursor_key
        if entry is None or key is None:
            return None
        return entry.instance_by_id(key.split("/", 1)[0])

    def details(self) -> tuple[str | None, str, str]:
        entry = self.host.store.selected()
        instance = self.cursor_instance()
        if entry is None or instance is None:
            return DETAILS_NONE
        return (f"instance {instance.scale_set}/{instance.instance_id}", raw_json(instance),
                describe_instance(instance, entry.scale_set, entry.nat,
                                  entry.private_ips.get(instance.instance_id), self.host.config.ssh.port))

    def tracks(self) -> list[Track]:
        host = self.host
        store = host.store

        def fetch(context: FetchContext) -> Any:
            entry = store.selected()
            if entry is None or host.selected_first():
                return None
            fleet = context.fleet
            assert fleet is not None
            scale_set = entry.scale_set

            async def read() -> tuple[str, Any, dict[str, str]]:
                nics = await fleet.list_instance_nics(scale_set)
                resolution = await fleet.nat_mappings_for(scale_set, nics)
                return scale_set.id, resolution, private_ips(nics)

            return read()

        return [Track("nat", host.config.refresh.nat, fetch, lambda result: store.apply_nat(*result),
                      visible=lambda: host.pane_visible("inst") or host.pane_visible("nat"), label="NAT")]
