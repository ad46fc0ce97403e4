"""The NAT pane: every (instance, backend port, protocol) mapping of the selected scale set, with
the frontend ip:port the rule itself names and the NSG verdict for that port.

Owns its columns and cells, its keys (Enter describes, s opens SSH to the row's instance) and
the track that reads the NICs, load balancers, public IPs and NSGs behind the mappings.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from vmss_tui.domain.models import FRONTEND_PRIVATE, FRONTEND_UNALLOCATED, KIND_POOL, Instance, NatMapping
from vmss_tui.domain.network import private_ips
from vmss_tui.ssh.probe import ProbeResult, ProbeState, probe_tcp
from vmss_tui.ui import intents
from vmss_tui.ui.details import nat_sort_key
from vmss_tui.ui.panes.base import FleetPane, PaneHost
from vmss_tui.ui.panes.cells import (
    BLOCKED,
    DIM,
    GOOD,
    OPEN,
    PLAIN,
    WARN,
    Cell,
    Column,
    RowData,
    short_vm_name,
    subtitle,
)
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.store import NAT, SELECTION, ScaleSetEntry


class NatTable(LiveTable):
    """NAT mappings of the selected scale set."""

    HELP_SECTION = "NAT"

    COLUMNS = (
        Column("instance", "Instance", "Inst", narrow_text=short_vm_name),
        Column("proto", "Proto"),
        Column("backend", "Backend", "Port"),
        Column("frontend", "Frontend ip:port", "Frontend"),
        # The verdict next to the endpoint: where the pane is narrow, the names are what gets cut.
        Column("nsg", "NSG verdict", "NSG"),
        Column("probe", "Probe", min_width=len("listening")),
        Column("lb", "Load balancer", "LB"),
        Column("rule", "Rule", wide_only=True),
        Column("kind", "Kind", wide_only=True),
    )
    BINDINGS = [
        Binding("enter", "open", "Describe", show=False, id="nat.open"),
        Binding("s", "ssh", "SSH", id="nat.ssh"),
        Binding("p", "probe", "Probe", id="nat.probe"),
        Binding("c", "copy", "Copy ip:port", show=False, id="nat.copy"),
        Binding("w", "rdp_file", "Write .rdp", show=False, id="nat.rdp_file"),
        Binding("o", "rdp_open", "Open RDP", show=False, id="nat.rdp_open"),
    ]

    def action_open(self) -> None:
        self.post_message(intents.ShowDetails("describe"))

    def action_ssh(self) -> None:
        self.post_message(intents.OpenSsh(None))

    def action_probe(self) -> None:
        self.post_message(NatPane.RowAction("probe", self.cursor_key))

    def action_copy(self) -> None:
        self.post_message(NatPane.RowAction("copy", self.cursor_key))

    def action_rdp_file(self) -> None:
        self.post_message(NatPane.RowAction("rdp_file", self.cursor_key))

    def action_rdp_open(self) -> None:
        self.post_message(NatPane.RowAction("rdp_open", self.cursor_key))


RDP_PORT = 3389


def write_rdp_file(mapping: NatMapping, entry: ScaleSetEntry | None) -> Path:
    """A .rdp file for the mapping's frontend, in the user data directory; its path."""
    from platformdirs import user_data_dir

    folder = Path(user_data_dir("vmss-tui", appauthor=False)) / "rdp"
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{mapping.scale_set}_{mapping.instance_id}")
    user = entry.scale_set.admin_username if entry is not None and entry.scale_set.admin_username else ""
    lines = [f"full address:s:{mapping.endpoint}", "prompt for credentials:i:1", "administrative session:i:0"]
    if user:
        lines.append(f"username:s:{user}")
    path = folder / f"{name}.rdp"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def rdp_client_command(path: Path) -> list[str] | None:
    """The system's RDP client opening `path`, where one exists."""
    for program, argv in (("xfreerdp", ["xfreerdp", str(path)]), ("remmina", ["remmina", "-c", str(path)]),
                          ("mstsc", ["mstsc", str(path)]), ("open", ["open", str(path)])):
        if shutil.which(program):
            return argv
    return None


def nat_key(mapping: NatMapping) -> str:
    return f"{mapping.instance_id}/{mapping.protocol}/{mapping.backend_port}/{mapping.load_balancer}/{mapping.rule}"


def nsg_cell(mapping: NatMapping) -> Cell:
    verdict = mapping.nsg
    if verdict is None:
        return ("-", DIM)
    if verdict.allowed is None:
        return (verdict.label, WARN)
    if not verdict.allowed:
        return (verdict.label, BLOCKED)
    return (verdict.label, OPEN if verdict.open_to_any else GOOD)


def probe_cell(probe: ProbeResult | None) -> Cell:
    if probe is None:
        return ("-", DIM)
    return (probe.label, GOOD if probe.state is ProbeState.LISTENING else BLOCKED)


def nat_cells(mapping: NatMapping, probe: ProbeResult | None = None) -> tuple[Cell, ...]:
    """One cell per column of NatTable (`probe`: what `p` found at the frontend, if it was probed)."""
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
        probe_cell(probe),
        (mapping.load_balancer, PLAIN),
        (mapping.rule, DIM),
        ("pool" if mapping.kind == KIND_POOL else "rule v2", DIM),
    )


class NatPane(FleetPane):
    VIEW = "nat"
    TITLE = "NAT mappings"
    TOPICS = frozenset({SELECTION, NAT})

    class RowAction(Message):
        """A key on a NAT row: probe, copy, rdp_file, rdp_open (handled by the pane itself)."""

        def __init__(self, action: str, key: str | None) -> None:
            super().__init__()
            self.action = action
            self.key = key

    class Probed(Message):
        def __init__(self, key: str, result: ProbeResult) -> None:
            super().__init__()
            self.key = key
            self.result = result

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(host, id=id)
        self.notes = Static(id="nat-notes")
        self.table = NatTable(id="nat")
        self.probes: dict[str, ProbeResult] = {}  # NAT row key -> what `p` found there
        self._notes_shown: str | None = ""

    def compose(self) -> ComposeResult:
        yield self.notes
        yield self.table

    def show(self) -> None:
        entry = self.host.store.selected()
        if entry is None or entry.nat is None:
            self.table.set_rows([])
            self._show_notes("loading NAT mappings…" if entry is not None else "")
        else:
            mappings = sorted(entry.nat.mappings, key=nat_sort_key)
            self.table.set_rows([RowData.of(nat_key(m), nat_cells(m, self.probes.get(nat_key(m)))) for m in mappings])
            if entry.nat.notes:
                text = "; ".join(entry.nat.notes)
                self._show_notes("no public mapping: " + text if not entry.nat.mappings else text)
            elif not entry.nat.mappings:
                self._show_notes("no NAT mappings")
            else:
                self._show_notes(None)
        self.show_title()

    def _show_notes(self, text: str | None) -> None:
        """The line above the table (why there is no mapping); laid out again only when it changed."""
        if text == self._notes_shown:
            return
        self._notes_shown = text
        if text is None:
            self.notes.display = False
        else:
            self.notes.update(Text(text), layout=True)
            self.notes.display = True

    def show_title(self) -> None:
        entry = self.host.store.selected()
        title: object = self.TITLE
        if entry is not None:
            title = Content.from_markup("NAT mappings of [b]$name[/]", name=entry.scale_set.name)
        self.set_titles(title, subtitle(self.table, self.host.poller.plan["nat"].stale))

    def mapping(self, key: str | None) -> NatMapping | None:
        entry = self.host.store.selected()
        if entry is None or entry.nat is None or key is None:
            return None
        return next((m for m in entry.nat.mappings if nat_key(m) == key), None)

    @on(RowAction)
    def _row_action(self, message: RowAction) -> None:
        mapping = self.mapping(message.key)
        if mapping is None or message.key is None:
            self.host.notify("No NAT mapping under the cursor", severity="warning")
            return
        if mapping.endpoint is None or mapping.frontend_ip is None:
            self.host.notify(f"{mapping.rule}: the frontend has no address yet", severity="warning")
            return
        if message.action == "probe":
            key, host, port = message.key, mapping.frontend_ip, mapping.frontend_port

            async def probe() -> None:
                self.post_message(NatPane.Probed(key, await probe_tcp(host, port)))

            self.run_worker(probe(), group=f"probe-{key}", exclusive=True, exit_on_error=False)
        elif message.action == "copy":
            self.app.copy_to_clipboard(mapping.endpoint)
            self.host.notify(f"Copied {mapping.endpoint}", timeout=3)
        elif mapping.backend_port != RDP_PORT:
            self.host.notify(f"{mapping.endpoint} maps to port {mapping.backend_port}, not RDP ({RDP_PORT})",
                             severity="warning")
        elif message.action == "rdp_file":
            path = write_rdp_file(mapping, self.host.store.selected())
            self.host.notify(f"Wrote {path}", timeout=8)
        else:
            self._open_rdp(mapping)

    @on(Probed)
    def _probed(self, message: Probed) -> None:
        self.probes[message.key] = message.result
        self.show()

    def _open_rdp(self, mapping: NatMapping) -> None:
        path = write_rdp_file(mapping, self.host.store.selected())
        client = rdp_client_command(path)
        if client is None:
            self.host.notify(f"No RDP client found (xfreerdp, remmina, open, mstsc); wrote {path}",
                             severity="warning", timeout=10)
            return

        async def run() -> None:
            await asyncio.create_subprocess_exec(*client, stdin=asyncio.subprocess.DEVNULL,
                                                 stdout=asyncio.subprocess.DEVNULL,
                                                 stderr=asyncio.subprocess.DEVNULL, start_new_session=True)

        self.run_worker(run(), exit_on_error=False)
        self.host.notify(f"Opening {mapping.endpoint} with {client[0]}", timeout=5)

    def cursor_instance(self) -> Instance | None:
        """The instance of the mapping under the cursor."""
        entry = self.host.store.selected()
        key = self.table.cursor_key
        if entry is None or key is None:
            return None
        return entry.instance_by_id(key.split("/", 1)[0])

    def details(self) -> tuple[str | None, str, str]:
        return self.instance_details(self.cursor_instance())

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
