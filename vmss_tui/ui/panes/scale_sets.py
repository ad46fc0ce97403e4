"""The scale-set pane: every scale set of the subscription, grouped by resource group (with
--all-subscriptions: of every subscription, through Resource Graph, grouped by subscription).

Owns its columns and cells, its keys (Enter opens, s scales, t/o start/stop all) and the
tracks that keep it live: the scale set list, the instance counts of the rows in view, the NSG
warning marks, and the rows of scale sets being watched after an action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content

from vmss_tui.azure.errors import FleetError, is_throttled
from vmss_tui.domain.instances import InstanceCounts
from vmss_tui.domain.models import SOURCE_RESOURCE_GRAPH, ScaleSet
from vmss_tui.ui import intents
from vmss_tui.ui.details import describe_scale_set, raw_json
from vmss_tui.ui.panes.base import DETAILS_NONE, FleetPane, PaneHost
from vmss_tui.ui.panes.cells import (
    BAD,
    DIM,
    OPEN,
    PENDING,
    PLAIN,
    WARN,
    Cell,
    Column,
    RowData,
    provisioning_style,
    subtitle,
)
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.store import ACTIONS, SCALE_SETS, STATUS, FleetListing
from vmss_tui.ui.subscriptions import (
    SubscriptionFleets,
    list_every_subscription,
    listing_title,
    same_subscription,
    source_cell,
    source_legend,
    subscription_cell,
)

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet

NSG_REFRESH = 300.0  # seconds between reads of the NSGs behind the warning marks
WATCH_REFRESH = 1.0  # watched scale sets' rows, while an action runs and a little after
COUNT_CONCURRENCY = 4  # instance lists fetched at once for the counts


class ScaleSetTable(LiveTable):
    """All scale sets of the subscription, grouped by resource group."""

    HELP_SECTION = "Scale sets"

    COLUMNS = (
        Column("rg", "Resource group", "RG"),
        Column("name", "Scale set", "Name"),
        Column("mode", "Mode", narrow_text=lambda t: {"Uniform": "Uni", "Flexible": "Flex"}.get(t, t)),
        Column("capacity", "Capacity", "Cap"),
        Column("sku", "SKU", wide_only=True),
        Column("upgrade", "Upgrade", "Upgr", narrow_text=lambda t: "Auto" if t == "Automatic" else t),
        Column("outdated", "Outdated", "Old"),
        Column("down", "Not running", "Down"),
        Column("prov", "Provisioning", "State"),
        Column("nsg", "NSG", wide_only=False),
    )
    MUTATING_ACTIONS = frozenset({"scale", "start_all", "stop_all", "change_model"})
    BINDINGS = [
        Binding("enter", "open", "Instances", id="vmss.open"),
        Binding("s", "scale", "Scale", id="vmss.scale"),
        Binding("t", "start_all", "Start all", id="vmss.start_all"),
        Binding("o", "stop_all", "Stop all", id="vmss.stop_all"),
        Binding("u", "rollout", "Rollout", id="vmss.rollout"),
        Binding("M", "change_model", "Change model", show=False, id="vmss.change_model"),
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

    def action_rollout(self) -> None:
        self.post_message(intents.ShowRollout(self.cursor_key))

    def action_change_model(self) -> None:
        self.post_message(intents.ChangeModel(self.cursor_key))


def scale_set_cells(
    scale_set: ScaleSet,
    counts: InstanceCounts | None,
    open_ports: Sequence[int] | None,
    pending: str | None = None,
    error: str | None = None,
) -> tuple[Cell, ...]:
    """One cell per column of ScaleSetTable.

    `pending`: what an action of this session is doing to the scale set ("scaling 3 → 5…"),
    shown instead of the provisioning state until its operation ends. `error`: why its
    instances cannot be listed (the counts then say so; `d` shows the whole message)."""
    if error is not None:
        outdated = down = ("!", BAD)
    elif counts is None:
        outdated: Cell = ("·", DIM)
        down: Cell = ("·", DIM)
    else:
        outdated = (str(counts.outdated), WARN if counts.outdated else DIM)
        down = (str(counts.not_running), BAD if counts.not_running else DIM)
    if open_ports:
        names = ",".join({22: "SSH", 3389: "RDP"}.get(p, str(p)) for p in open_ports)
        nsg: Cell = (f"⚠ {names} open", OPEN)
    elif open_ports is None:
        nsg = ("", PLAIN)
    else:
        nsg = ("ok", DIM)
    if pending:
        provisioning: Cell = (pending, PENDING)
    elif error is not None:
        provisioning = (f"unlisted: {error.split(':', 1)[0]}", BAD)
    else:
        provisioning = (scale_set.provisioning_state, provisioning_style(scale_set.provisioning_state))
    return (
        (scale_set.resource_group, DIM),
        (scale_set.name, PENDING if pending else "bold"),
        (scale_set.orchestration_mode, PLAIN if scale_set.orchestration_mode == "Flexible" else DIM),
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
        self.table = AllSubscriptionsTable(id="vmss") if host.store.all_subscriptions else ScaleSetTable(id="vmss")
        # --all-subscriptions: a Fleet per subscription (the app hands it over once connected),
        # where the list comes from, and a scale-set action waiting for its subscription's Fleet.
        self.fleets: SubscriptionFleets | None = None
        self.listing_via = SOURCE_RESOURCE_GRAPH
        self._listing_note: str | None = None
        self._deferred: intents.RunScaleSetAction | None = None

    def compose(self) -> ComposeResult:
        yield self.table

    def show(self) -> None:
        store = self.host.store
        pending = store.pending_scale_sets()
        if store.all_subscriptions:
            totals = store.subscription_totals()
            self.table.set_rows([
                RowData.of(e.scale_set.id, every_subscription_cells(
                    subscription_cell(store.subscription_label(e.scale_set.subscription_id),
                                      totals[e.scale_set.subscription_id.casefold()]),
                    scale_set_cells(e.scale_set, e.counts, e.open_ports, pending.get(e.scale_set.id), e.error),
                    source_cell(e.scale_set),
                ))
                for e in store.ordered()
            ])
            self.show_title()
            return
        self.table.set_rows([
            RowData.of(e.scale_set.id, scale_set_cells(e.scale_set, e.counts, e.open_ports,
                                                       pending.get(e.scale_set.id), e.error))
            for e in store.ordered()
        ])
        self.show_title()

    def show_title(self) -> None:
        store = self.host.store
        if store.all_subscriptions:
            below = subtitle(self.table, self.host.poller.plan["scale_sets"].stale)
            if below:
                below.append(" · ")
            below.append(source_legend(store), style="dim")
            self.set_titles(listing_title(store, self.host.clock()), below)
            return
        if store.loaded_once:
            title: object = Content.from_markup("Scale sets [dim]$count[/]", count=len(store.entries))
        else:
            title = self.TITLE
        self.set_titles(title, subtitle(self.table, self.host.poller.plan["scale_sets"].stale))

    def details(self) -> tuple[str | None, str, str]:
        entry = self.host.store.entries.get(self.table.cursor_key or "")
        if entry is None:
            return DETAILS_NONE
        return (f"scale set {entry.scale_set.name}", raw_json(entry.scale_set),
                describe_scale_set(entry.scale_set, entry.counts, entry.open_ports, entry.nat, entry.error))

    # ------------------------------------------------------------------ tracks
    def tracks(self) -> list[Track]:
        host = self.host
        store = host.store
        refresh = host.config.refresh
        visible = lambda: host.pane_visible("vmss")  # noqa: E731

        def fetch_scale_sets(context: FetchContext) -> Any:
            assert context.fleet is not None
            if store.all_subscriptions:
                if self.fleets is None:
                    return None
                return list_every_subscription(self.fleets, via=self.listing_via, now=host.clock)
            return context.fleet.list_scale_sets()

        def apply_scale_sets(result: Any) -> None:
            if isinstance(result, FleetListing):
                self._listing_applied(result)
            else:
                store.apply_scale_sets(result)

        def fetch_nsg_marks(context: FetchContext) -> Any:
            if not store.loaded_once or host.selected_first():
                return None
            assert context.fleet is not None
            if store.all_subscriptions:
                return self._nsg_marks_in_view(context.fleet)
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
                    try:
                        instances = await (await self._fleet_of(fleet, scale_set)).list_instances(scale_set)
                    except FleetError as error:
                        if is_throttled(error):
                            raise  # the whole track backs off
                        context.emit((scale_set.id, error.one_line()))  # this row says why; the others go on
                        return
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

            async def list_instances(scale_set: ScaleSet) -> Any:
                return await (await self._fleet_of(fleet, scale_set)).list_instances(scale_set)

            async def read() -> list[tuple[str, Any, float]]:
                per_scale_set = await fleet.map_bounded(list_instances, others)
                now = host.clock()
                return [(s.id, instances, now) for s, instances in zip(others, per_scale_set, strict=True)]

            return read()

        def apply_instances(part: tuple[Any, ...]) -> None:
            if len(part) == 2:
                store.apply_instances_failure(*part)
            else:
                store.apply_instances(*part)

        return [
            Track("scale_sets", refresh.scale_sets, fetch_scale_sets, apply_scale_sets,
                  visible=lambda: visible() or not store.loaded_once, label="scale sets"),
            Track("nsgs", NSG_REFRESH, fetch_nsg_marks, store.apply_open_ports, visible=visible,
                  label="NSG marks"),
            Track("counts", refresh.scale_sets, fetch_counts, lambda _: None, visible=visible,
                  urgent=counts_missing, apply_partial=apply_instances, label="counts"),
            Track("watch", WATCH_REFRESH, fetch_watched,
                  lambda parts: [apply_instances(part) for part in parts],
                  visible=lambda: visible() and bool(store.watched(host.clock())), label="watched scale sets"),
            *(self._every_subscription_tracks() if store.all_subscriptions else ()),
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

    # ------------------------------------------------------------------ every subscription
    def _every_subscription_tracks(self) -> list[Track]:
        """The selected scale set read from ARM (the list's copy may be a minute old): as soon as
        it is selected, every second while an action runs on it, else with the list."""
        host = self.host
        store = host.store

        def live_copy_wanted() -> bool:
            entry = store.selected()
            if entry is None:
                return False
            if entry.live_at is None:
                return True
            return entry.scale_set.id in store.watched(host.clock()) and host.clock() - entry.live_at >= WATCH_REFRESH

        def fetch_live_copy(context: FetchContext) -> Any:
            entry = store.selected()
            if entry is None or context.fleet is None or (not context.due and not live_copy_wanted()):
                return None
            scale_set = entry.scale_set

            async def read() -> tuple[ScaleSet, float]:
                fleet = await self._fleet_of(context.fleet, scale_set)  # type: ignore[arg-type]
                return await fleet.get_scale_set(scale_set.resource_group, scale_set.name), host.clock()

            return read()

        return [
            Track("scale_set_live", host.config.refresh.scale_sets, fetch_live_copy,
                  lambda result: store.apply_live_scale_set(*result), urgent=live_copy_wanted,
                  visible=lambda: store.selected() is not None, label="selected scale set"),
        ]

    async def _fleet_of(self, fleet: Fleet, scale_set: ScaleSet) -> Fleet:
        """The Fleet of the scale set's subscription (`fleet` itself when it is that one)."""
        if self.fleets is None or same_subscription(fleet, scale_set):
            return fleet
        return await self.fleets.get(scale_set.subscription_id)

    def _nsg_marks_in_view(self, fleet: Fleet) -> Any:
        """NSG marks of the rows on screen (not of every subscription's scale sets), read through
        each subscription's Fleet."""
        store = self.host.store
        wanted = [store.entries[key].scale_set for key in self.table.keys_in_view() if key in store.entries]
        if not wanted:
            return None
        groups: dict[str, list[ScaleSet]] = {}
        for scale_set in wanted:
            groups.setdefault(scale_set.subscription_id.casefold(), []).append(scale_set)

        async def read() -> dict[str, tuple[int, ...] | None]:
            marks: dict[str, tuple[int, ...] | None] = {}
            for scale_sets in groups.values():
                owner = await self._fleet_of(fleet, scale_sets[0])
                marks.update(await owner.management_ports_open_many(scale_sets, unknown_as_none=True))
            return marks

        return read()

    def _listing_applied(self, listing: FleetListing) -> None:
        if listing.note and listing.note != self._listing_note:
            self.host.notify(listing.note, severity="warning", timeout=10)
        self._listing_note = listing.note
        for subscription_id, error in listing.failed[:1]:
            self.host.notify(f"{len(listing.failed)} subscription(s) could not be listed; "
                             f"{self.host.store.subscription_label(subscription_id)}: {error}",
                             severity="warning", timeout=10)
        self.host.store.apply_fleet_listing(listing)

    @on(intents.RunScaleSetAction)
    def _scale_set_action(self, message: intents.RunScaleSetAction) -> None:
        """Every subscription listed: an action goes through the session's Fleet, which is the
        selected scale set's subscription's. On a scale set of another subscription (the cursor
        is there, the selection follows it a moment later) it waits here until the session is
        on that subscription, instead of reaching a scale set of the same name in this one."""
        store = self.host.store
        if not store.all_subscriptions:
            return
        entry = store.entries.get(message.scale_set_id or "")
        if entry is None or same_subscription(self.host.fleet, entry.scale_set):
            self._deferred = None
            return
        message.stop()
        self._deferred = message

    def fleet_changed(self) -> None:
        """The session's Fleet changed (the app calls it): run the action that waited for it."""
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return
        entry = self.host.store.entries.get(deferred.scale_set_id or "")
        if entry is not None and same_subscription(self.host.fleet, entry.scale_set):
            self.table.post_message(intents.RunScaleSetAction(deferred.action, deferred.scale_set_id))


# ---------------------------------------------------------------------- every subscription

# Where the Source column goes: right after the scale set's name, where it cannot scroll out of view.
_AFTER_NAME = next(i for i, c in enumerate(ScaleSetTable.COLUMNS) if c.key == "name") + 1


class AllSubscriptionsTable(ScaleSetTable):
    """Scale sets of every subscription, grouped by subscription, then resource group; beside
    each name, where the row's figures came from."""

    COLUMNS = (
        Column("sub", "Subscription", "Sub", narrow_text=lambda t: t if len(t) <= 14 else t[:13] + "…"),
        *ScaleSetTable.COLUMNS[:_AFTER_NAME],
        Column("source", "Source", "Src"),
        *ScaleSetTable.COLUMNS[_AFTER_NAME:],
    )

    def decorate(self, rows: list[RowData]) -> list[tuple[str, tuple[Cell, ...]]]:
        """The subscription is said once, on the first row of its group; the resource group once
        per subscription and group."""
        result: list[tuple[str, tuple[Cell, ...]]] = []
        previous: tuple[str, str] | None = None
        for row in rows:
            sub, group = row.cells[0][0], row.cells[1][0]
            cells = list(row.cells)
            if previous is not None and sub == previous[0]:
                cells[0] = ("", "")
                if group == previous[1]:
                    cells[1] = ("", "")
            previous = (sub, group)
            result.append((row.key, tuple(cells)))
        return result


def every_subscription_cells(subscription: Cell, cells: tuple[Cell, ...], source: Cell) -> tuple[Cell, ...]:
    """One cell per column of AllSubscriptionsTable, from those of ScaleSetTable."""
    return (subscription, *cells[:_AFTER_NAME], source, *cells[_AFTER_NAME:])
