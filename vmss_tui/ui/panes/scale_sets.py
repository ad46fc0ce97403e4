"""The scale-set pane: every scale set of the subscription, grouped by resource group.

Owns its columns and cells, its keys (Enter opens, s scales, t/o start/stop all) and the
tracks that keep it live: the scale set list, the instance counts of the rows in view, the NSG
warning marks, and the rows of scale sets being watched after an action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content

from vmss_tui.domain.instances import InstanceCounts
from vmss_tui.domain.models import ScaleSet
from vmss_tui.ui import intents
from vmss_tui.ui.details import describe_scale_set, raw_json
from vmss_tui.ui.panes.base import DETAILS_NONE, FleetPane, PaneHost
from vmss_tui.ui.panes.table import (
    BAD,
    DIM,
    PENDING,
    PLAIN,
    WARN,
    Cell,
    Column,
    LiveTable,
    RowData,
    provisioning_style,
    subtitle,
)
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.store import ACTIONS, SCALE_SETS, STATUS

NSG_REFRESH = 300.0  # seconds between reads of the NSGs behind the warning marks
WATCH_REFRESH = 1.0  # watched scale sets' rows, while an action runs and a little after
COUNT_CONCURRENCY = 4  # instance lists fetched at once for the counts


class ScaleSetTable(LiveTable):
    """All scale sets of the subscription, grouped by resource group."""

    HELP_SECTION = "Scale sets"

    COLUMNS = (
        Column("rg", "Resource group", "RG"),
        Column("name", "Scale set", "Name"),
        Column("capacity", "Capacity", "Cap"),
        Column("sku", "SKU", wide_only=True),
        Column("upgrade", "Upgrade", "Upgr", narrow_text=lambda t: "Auto" if t == "Automatic" else t),
        Column("outdated", "Outdated", "Old"),
        Column("down", "Not running", "Down"),
        Column("prov", "Provisioning", "State"),
        Column("nsg", "NSG", wide_only=False),
    )
    MUTATING_ACTIONS = frozenset({"scale", "start_all", "stop_all"})
    BINDINGS = [
        Binding("enter", "open", "Instances", id="vmss.open"),
        Binding("s", "scale", "Scale", id="vmss.scale"),
        Binding("t", "start_all", "Start all", id="vmss.start_all"),
        Binding("o", "stop_all", "Stop all", id="vmss.stop_all"),
    ]

    def decorate(self, rows: list[RowData]) -> list[tuple[str, tuple[Cell, ...]]]:
        """The resource group is said once, on the first row of its group."""
        result: list[tuple[str, tuple[Cell, ...]]] = []
        previous: str | None = None
        for row in rows:
            group = row.cells[0][0]
            cells = row.cells if group != previous else (("", ""), *row.cells[1:])
            previous = group
            result.append((row.key, cells))
        return result

    def action_open(self) -> None:
        self.post_message(intents.ShowView("inst"))

    def action_scale(self) -> None:
        self.post_message(intents.RunScaleSetAction("scale", self.cursor_key))

    def action_start_all(self) -> None:
        self.post_message(intents.RunScaleSetAction("start_all", self.cursor_key))

    def action_stop_all(self) -> None:
        self.post_message(intents.RunScaleSetAction("stop_all", self.cursor_key))


def scale_set_cells(
    scale_set: ScaleSet,
    counts: InstanceCounts | None,
    open_ports: Sequence[int] | None,
    pending: str | None = None,
) -> tuple[Cell, ...]:
    """One cell per column of ScaleSetTable.

    `pending`: what an action of this session is doing to the scale set ("scaling 3 → 5…"),
    shown instead of the provisioning state until its operation ends."""
    if counts is None:
        outdated: Cell = ("·", DIM)
        down: Cell = ("·", DIM)
    else:
        outdated = (str(counts.outdated), WARN if counts.outdated else DIM)
        down = (str(counts.not_running), BAD if counts.not_running else DIM)
    if open_ports:
        names = ",".join({22: "SSH", 3389: "RDP"}.get(p, str(p)) for p in open_ports)
        nsg: Cell = (f"⚠ {names} open", BAD)
    elif open_ports is None:
        nsg = ("", PLAIN)
    else:
        nsg = ("ok", DIM)
    if pending:
        provisioning: Cell = (pending, PENDING)
    else:
        provisioning = (scale_set.provisioning_state, provisioning_style(scale_set.provisioning_state))
    return (
        (scale_set.resource_group, DIM),
        (scale_set.name, PENDING if pending else "bold"),
        (str(scale_set.capacity), PLAIN),
        (scale_set.sku, PLAIN),
        (scale_set.upgrade_mode, PLAIN),
        outdated,
        down,
        provisioning,
        nsg,
    )


class ScaleSetsPane(FleetPane):
    VIEW = "vmss"
    TITLE = "Scale sets"
    TOPICS = frozenset({SCALE_SETS, ACTIONS, STATUS})

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(host, id=id)
        self.table = ScaleSetTable(id="vmss")

    def compose(self) -> ComposeResult:
        yield self.table

    def show(self) -> None:
        store = self.host.store
        pending = store.pending_scale_sets()
        self.table.set_rows([
            RowData.of(e.scale_set.id, scale_set_cells(e.scale_set, e.counts, e.open_ports,
                                                       pending.get(e.scale_set.id)))
            for e in store.ordered()
        ])
        self.show_title()

    def show_title(self) -> None:
        store = self.host.store
        if store.loaded_once:
            self.border_title = Content.from_markup("Scale sets [dim]$count[/]", count=len(store.entries))
        else:
            self.border_title = self.TITLE
        self.border_subtitle = subtitle(self.table, self.host.poller.plan["scale_sets"].stale)

    def details(self) -> tuple[str | None, str, str]:
        entry = self.host.store.entries.get(self.table.cursor_key or "")
        if entry is None:
            return DETAILS_NONE
        return (f"scale set {entry.scale_set.name}", raw_json(entry.scale_set),
                describe_scale_set(entry.scale_set, entry.counts, entry.open_ports, entry.nat))

    # ------------------------------------------------------------------ tracks
    def tracks(self) -> list[Track]:
        host = self.host
        store = host.store
        refresh = host.config.refresh
        visible = lambda: host.pane_visible("vmss")  # noqa: E731

        def fetch_scale_sets(context: FetchContext) -> Any:
            assert context.fleet is not None
            return context.fleet.list_scale_sets()

        def fetch_nsg_marks(context: FetchContext) -> Any:
            if not store.loaded_once or host.selected_first():
                return None
            assert context.fleet is not None
            scale_sets = [e.scale_set for e in store.entries.values()]
            # SSH/RDP open to any source, per scale set; None where that cannot be known. The
            # Fleet reads a subnet or NSG shared by fifty scale sets once.
            return context.fleet.management_ports_open_many(scale_sets, unknown_as_none=True)

        def fetch_counts(context: FetchContext) -> Any:
            if not store.loaded_once or host.selected_first():
                return None
            fleet = context.fleet
            assert fleet is not None
            wanted = self._scale_sets_needing_counts()
            if not context.due:  # early, for rows that came into view without counts
                wanted = [s for s in wanted if store.entries[s.id].counts is None]
            if not wanted:
                return None
            gate = asyncio.Semaphore(COUNT_CONCURRENCY)

            async def one(scale_set: ScaleSet) -> None:
                async with gate:
                    instances = await fleet.list_instances(scale_set)
                context.emit((scale_set.id, instances, host.clock()))

            async def all_of_them() -> None:
                await asyncio.gather(*(one(s) for s in wanted))

            return all_of_them()

        def counts_missing() -> bool:
            return store.loaded_once and any(store.entries[s.id].counts is None
                                             for s in self._scale_sets_needing_counts())

        def fetch_watched(context: FetchContext) -> Any:
            watched = store.watched(host.clock())
            if not watched:
                return None
            in_view = set(self.table.keys_in_view())
            showing = host.showing_instances()
            others = [store.entries[key].scale_set for key in sorted(watched & in_view)
                      if key in store.entries and (key != store.selected_id or not showing)]
            if not others:
                return None
            fleet = context.fleet
            assert fleet is not None

            async def read() -> list[tuple[str, Any, float]]:
                per_scale_set = await fleet.map_bounded(fleet.list_instances, others)
                now = host.clock()
                return [(s.id, instances, now) for s, instances in zip(others, per_scale_set, strict=True)]

            return read()

        def apply_instances(part: tuple[str, Any, float]) -> None:
            store.apply_instances(*part)

        return [
            Track("scale_sets", refresh.scale_sets, fetch_scale_sets, store.apply_scale_sets,
                  visible=lambda: visible() or not store.loaded_once, label="scale sets"),
            Track("nsgs", NSG_REFRESH, fetch_nsg_marks, store.apply_open_ports, visible=visible,
                  label="NSG marks"),
            Track("counts", refresh.scale_sets, fetch_counts, lambda _: None, visible=visible,
                  urgent=counts_missing, apply_partial=apply_instances, label="counts"),
            Track("watch", WATCH_REFRESH, fetch_watched,
                  lambda parts: [apply_instances(part) for part in parts],
                  visible=lambda: visible() and bool(store.watched(host.clock())), label="watched scale sets"),
        ]

    def _scale_sets_needing_counts(self) -> list[ScaleSet]:
        """The scale sets whose rows are on screen (the selected one refreshes on its own)."""
        store = self.host.store
        selected_refreshes = self.host.showing_instances()
        result = []
        for key in self.table.keys_in_view():
            entry = store.entries.get(key)
            if entry is not None and (key != store.selected_id or not selected_refreshes):
                result.append(entry.scale_set)
        return result
