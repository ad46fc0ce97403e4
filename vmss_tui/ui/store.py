"""FleetStore: what the console knows about the fleet, free of Textual.

Workers fetch, the poller hands their results to `apply_*`, and the store tells its subscribers
which topics changed; the screen then asks each pane that shows one of those topics to render
itself from the store. Marks, the selected scale set, the actions this session submitted and the
scale sets being watched live here too, so that every pane reads one truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from vmss_tui.domain.instances import InstanceCounts, count_instances, sort_instances
from vmss_tui.domain.models import (
    SOURCE_ARM,
    SOURCE_RESOURCE_GRAPH,
    Instance,
    NatResolution,
    OperationResult,
    ScaleSet,
)
from vmss_tui.ui.format import format_duration

# Topics a change is announced under (a pane renders when one it shows changed).
SCALE_SETS = "scale_sets"  # the list, or what a scale-set row shows (counts, NSG marks, pending)
INSTANCES = "instances"  # the instances of the selected scale set
NAT = "nat"  # the NAT mappings (and private IPs) of the selected scale set
MARKS = "marks"
SELECTION = "selection"  # another scale set is selected
CURSOR = "cursor"  # the instance under the instances pane's cursor moved
ACTIONS = "actions"  # an action of this session started, progressed or ended
STATUS = "status"  # last refresh, last error

ALL_TOPICS = frozenset({SCALE_SETS, INSTANCES, NAT, MARKS, SELECTION, CURSOR, ACTIONS, STATUS})

# After an action ends its scale set is watched this long (a restarted guest reports
# "starting" while it boots, after its operation has ended).
WATCH_AFTER = 15.0
FINISHED_KEPT = 20
# Resource Graph lags ARM by up to this long: a scale set read from ARM more recently than that
# before a listing from the graph is kept over the graph's (older) copy.
GRAPH_LAG = 60.0


@dataclass(frozen=True, slots=True)
class FleetListing:
    """The scale sets of every subscription (with --all-subscriptions), as one listing had them."""

    scale_sets: tuple[ScaleSet, ...]
    subscriptions: tuple[tuple[str, str], ...]  # (id, display name) of every subscription it covered
    source: str  # SOURCE_RESOURCE_GRAPH (one paged query) | SOURCE_ARM (one list per subscription)
    fetched_at: float
    requests: int  # HTTP requests the listing took
    truncated: bool = False  # Resource Graph cut the result short
    failed: tuple[tuple[str, str], ...] = ()  # (subscription id, one line): not listed
    note: str | None = None  # why the listing is not from where it was asked (a fallback)


@dataclass(slots=True)
class ScaleSetEntry:
    """Everything known about one scale set (what its rows are rendered from)."""

    scale_set: ScaleSet
    instances: list[Instance] | None = None  # None: not fetched yet
    counts: InstanceCounts | None = None
    fetched_at: float | None = None
    nat: NatResolution | None = None
    private_ips: dict[str, str] = field(default_factory=dict)  # instance id -> private IP
    open_ports: tuple[int, ...] | None = None  # SSH/RDP open to any source; None: unknown
    marks: set[str] = field(default_factory=set)  # instance resource ids
    live_at: float | None = None  # when `scale_set` was read from ARM over a Resource Graph copy
    subscription_label: str | None = None  # with every subscription listed: its display name
    error: str | None = None  # why its instances could not be listed (one line), until they can

    def instance(self, key: str | None) -> Instance | None:
        if key is None or not self.instances:
            return None
        return next((i for i in self.instances if i.id == key), None)

    def instance_by_id(self, instance_id: str) -> Instance | None:
        return next((i for i in self.instances or () if i.instance_id == instance_id), None)


@dataclass(slots=True)
class ActionRun:
    """One action this session submitted (an ARM long-running operation), from submit to end."""

    id: int
    label: str  # "Restart of vmss-web instance 2"
    scale_set_id: str
    started: float
    status: str = "Submitting"  # then what ARM's polls say: InProgress, Succeeded ...
    finished: float | None = None
    succeeded: bool | None = None
    outcome: str | None = None  # one line when finished
    pending: str = ""  # what the affected instance rows read while it runs: "restarting…"
    instance_keys: frozenset[str] = frozenset()  # resource ids of the affected instances
    scale_set_pending: str = ""  # what the scale set row reads while it runs


Listener = Callable[[frozenset[str]], None]


class FleetStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.entries: dict[str, ScaleSetEntry] = {}
        self.selected_id: str | None = None
        self.instance_cursor: str | None = None  # resource id of the instance under the cursor
        self.subscription_id: str | None = None
        # --all-subscriptions: the list comes from every subscription (`apply_fleet_listing`).
        self.all_subscriptions = False
        self.listing: FleetListing | None = None
        self.subscription_names: dict[str, str] = {}  # subscription id, casefolded -> display name
        self.loaded_once = False
        self.last_refresh: float | None = None
        self.last_error: str | None = None  # the last failure, one line (shown until the next one)
        self.last_error_at: float | None = None
        self.running: dict[int, ActionRun] = {}
        self.finished: list[ActionRun] = []  # the last few, newest last
        self.watch_until: dict[str, float] = {}  # scale set id -> end of its watch
        self._next_action_id = 1
        self._listeners: list[Listener] = []

    # ------------------------------------------------------------------ change signal
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self, *topics: str) -> None:
        changed = frozenset(topics)
        for listener in list(self._listeners):
            listener(changed)

    # ------------------------------------------------------------------ reading
    @property
    def actions_submitted(self) -> int:
        """How many actions this session has submitted (a read-only session: always 0)."""
        return self._next_action_id - 1

    def selected(self) -> ScaleSetEntry | None:
        return self.entries.get(self.selected_id) if self.selected_id else None

    def ordered(self) -> list[ScaleSetEntry]:
        """By resource group, then name (the scale-set pane's order); with every subscription
        listed, by subscription first."""
        if self.all_subscriptions:
            return sorted(self.entries.values(), key=lambda e: (*self.subscription_sort_key(e.scale_set.subscription_id),
                                                                *scale_set_sort_key(e.scale_set)))
        return sorted(self.entries.values(), key=lambda e: scale_set_sort_key(e.scale_set))

    def subscription_label(self, subscription_id: str) -> str:
        """The subscription's display name, else its id."""
        return self.subscription_names.get(subscription_id.casefold()) or subscription_id

    def subscription_sort_key(self, subscription_id: str) -> tuple[str, str]:
        return (self.subscription_label(subscription_id).casefold(), subscription_id.casefold())

    def subscription_totals(self) -> dict[str, tuple[int, int]]:
        """Subscription id, casefolded -> (scale sets, instances the models ask for) as listed."""
        totals: dict[str, tuple[int, int]] = {}
        for entry in self.entries.values():
            key = entry.scale_set.subscription_id.casefold()
            sets, capacity = totals.get(key, (0, 0))
            totals[key] = (sets + 1, capacity + entry.scale_set.capacity)
        return totals

    def find_scale_set(self, name: str, resource_group: str | None = None) -> list[ScaleSetEntry]:
        """Entries whose name (and group, if given) match, case-insensitively; `group/name` works too."""
        wanted = name.casefold()
        if resource_group is None and "/" in wanted:
            group, _, wanted = wanted.partition("/")
            resource_group = group
        return [
            e for e in self.ordered()
            if e.scale_set.name.casefold() == wanted
            and (resource_group is None or e.scale_set.resource_group.casefold() == resource_group.casefold())
        ]

    def target_instances(self) -> list[Instance]:
        """The marked instances of the selected scale set, else the one under the cursor."""
        entry = self.selected()
        if entry is None or not entry.instances:
            return []
        if entry.marks:
            return [i for i in entry.instances if i.id in entry.marks]
        instance = entry.instance(self.instance_cursor)
        return [instance] if instance is not None else []

    # ------------------------------------------------------------------ applying fetched data
    def apply_scale_sets(self, scale_sets: Sequence[ScaleSet]) -> None:
        seen = set()
        for scale_set in scale_sets:
            seen.add(scale_set.id)
            entry = self.entries.get(scale_set.id)
            if entry is None:
                entry = self.entries[scale_set.id] = ScaleSetEntry(scale_set)
            else:
                entry.scale_set = scale_set
            if self.all_subscriptions:
                entry.subscription_label = self.subscription_label(scale_set.subscription_id)
        for gone in set(self.entries) - seen:
            del self.entries[gone]
        self.loaded_once = True
        topics = [SCALE_SETS]
        if self.selected_id is not None and self.selected_id not in self.entries:
            self.selected_id = None
            topics += [SELECTION, INSTANCES, NAT]
        self._changed(*topics)

    def apply_fleet_listing(self, listing: FleetListing) -> None:
        """Every subscription's scale sets. A scale set read from ARM less than GRAPH_LAG before a
        Resource Graph listing keeps its ARM copy (the graph may not have seen that change yet)."""
        self.listing = listing
        self.subscription_names = {sub.casefold(): name for sub, name in listing.subscriptions}
        scale_sets: list[ScaleSet] = []
        for scale_set in listing.scale_sets:
            entry = self.entries.get(scale_set.id)
            if (
                entry is not None and entry.live_at is not None and listing.source == SOURCE_RESOURCE_GRAPH
                and listing.fetched_at - entry.live_at < GRAPH_LAG
            ):
                scale_sets.append(entry.scale_set)
                continue
            if entry is not None:
                entry.live_at = None
            scale_sets.append(scale_set)
        self.apply_scale_sets(scale_sets)

    def apply_live_scale_set(self, scale_set: ScaleSet, fetched_at: float) -> None:
        """One scale set as ARM has it now, over the copy a Resource Graph listing gave."""
        entry = self.entries.get(scale_set.id)
        if entry is None:
            return
        entry.scale_set = scale_set
        entry.live_at = fetched_at if scale_set.source == SOURCE_ARM else None
        self._changed(SCALE_SETS)

    def apply_open_ports(self, open_ports: dict[str, tuple[int, ...] | None]) -> None:
        for scale_set_id, ports in open_ports.items():
            entry = self.entries.get(scale_set_id)
            if entry is not None:
                entry.open_ports = ports
        self._changed(SCALE_SETS)

    def apply_instances(self, scale_set_id: str, instances: Sequence[Instance], fetched_at: float) -> None:
        entry = self.entries.get(scale_set_id)
        if entry is None:
            return
        entry.instances = sort_instances(instances)
        entry.counts = count_instances(entry.instances)
        entry.fetched_at = fetched_at
        entry.error = None
        entry.marks &= {i.id for i in entry.instances}
        if scale_set_id == self.selected_id:
            self._changed(SCALE_SETS, INSTANCES)
        else:
            self._changed(SCALE_SETS)

    def apply_instances_failure(self, scale_set_id: str, error: str) -> None:
        """This scale set's instances could not be listed (the others could): said on its row."""
        entry = self.entries.get(scale_set_id)
        if entry is None:
            return
        entry.error = error
        if scale_set_id == self.selected_id:
            self._changed(SCALE_SETS, INSTANCES)
        else:
            self._changed(SCALE_SETS)

    def apply_nat(self, scale_set_id: str, resolution: NatResolution, private_ips: dict[str, str]) -> None:
        entry = self.entries.get(scale_set_id)
        if entry is None:
            return
        entry.nat = resolution
        entry.private_ips = dict(private_ips)
        if scale_set_id == self.selected_id:
            self._changed(NAT)

    def refreshed(self, now: float) -> None:
        self.last_refresh = now
        self._changed(STATUS)

    def record_error(self, text: str) -> None:
        self.last_error = text
        self.last_error_at = self.clock()
        self._changed(STATUS)

    def clear(self, subscription_id: str | None = None) -> None:
        """Forget the fleet (another subscription is being connected)."""
        self.entries.clear()
        self.selected_id = None
        self.loaded_once = False
        self.listing = None
        self.last_refresh = None
        if subscription_id is not None:
            self.subscription_id = subscription_id
        self._changed(*ALL_TOPICS)

    # ------------------------------------------------------------------ selection and marks
    def select(self, scale_set_id: str) -> bool:
        if scale_set_id not in self.entries or scale_set_id == self.selected_id:
            return False
        self.selected_id = scale_set_id
        self._changed(SELECTION, INSTANCES, NAT)
        return True

    def move_instance_cursor(self, instance_key: str | None) -> None:
        if instance_key == self.instance_cursor:
            return
        self.instance_cursor = instance_key
        self._changed(CURSOR)

    def cursor_instance(self) -> Instance | None:
        entry = self.selected()
        return entry.instance(self.instance_cursor) if entry is not None else None

    def toggle_mark(self, instance_key: str) -> None:
        entry = self.selected()
        if entry is None:
            return
        entry.marks ^= {instance_key}
        self._changed(MARKS)

    def mark(self, instance_keys: Iterable[str]) -> None:
        entry = self.selected()
        if entry is None:
            return
        entry.marks |= set(instance_keys)
        self._changed(MARKS)

    def clear_marks(self) -> None:
        entry = self.selected()
        if entry is None or not entry.marks:
            return
        entry.marks.clear()
        self._changed(MARKS)

    # ------------------------------------------------------------------ actions and watches
    def begin_action(
        self,
        label: str,
        scale_set_id: str,
        *,
        pending: str = "",
        instance_keys: frozenset[str] = frozenset(),
        scale_set_pending: str = "",
    ) -> ActionRun:
        run = ActionRun(self._next_action_id, label, scale_set_id, self.clock(), pending=pending,
                        instance_keys=instance_keys, scale_set_pending=scale_set_pending)
        self._next_action_id += 1
        self.running[run.id] = run
        self._changed(ACTIONS, SCALE_SETS)
        return run

    def action_progress(self, action_id: int, status: str) -> None:
        run = self.running.get(action_id)
        if run is None:
            return
        run.status = status
        self._changed(ACTIONS)

    def finish_action(self, action_id: int, result: OperationResult | None, error: str | None) -> ActionRun | None:
        """Record the end of an action; its scale set stays watched for WATCH_AFTER seconds."""
        run = self.running.pop(action_id, None)
        if run is None:
            return None
        run.finished = self.clock()
        took = format_duration(run.finished - run.started)
        if result is not None and result.status == "Succeeded":
            run.succeeded = True
            run.outcome = f"{run.label}: succeeded in {took}"
        else:
            run.succeeded = False
            if result is not None:
                detail = ": ".join(x for x in (result.error_code, result.error_message) if x) or "no details from ARM"
                run.outcome = f"{run.label}: {result.status.lower()} after {took}: {detail}"
            else:
                run.outcome = f"{run.label}: failed: {error}"
            self.last_error = run.outcome
            self.last_error_at = run.finished
        self.finished = [*self.finished[-(FINISHED_KEPT - 1):], run]
        self.watch_until[run.scale_set_id] = run.finished + WATCH_AFTER
        self._changed(ACTIONS, SCALE_SETS, INSTANCES, STATUS)
        return run

    def pending_instances(self, scale_set_id: str) -> dict[str, str]:
        """Instance resource id -> what a running action is doing to it (the newest wins)."""
        pending: dict[str, str] = {}
        for run in sorted(self.running.values(), key=lambda r: r.id):
            if run.scale_set_id == scale_set_id and run.pending:
                pending.update(dict.fromkeys(run.instance_keys, run.pending))
        return pending

    def pending_scale_sets(self) -> dict[str, str]:
        return {run.scale_set_id: run.scale_set_pending for run in self.running.values()}

    def watched(self, now: float) -> set[str]:
        """Scale sets with an action running, or one that ended less than WATCH_AFTER ago."""
        for key in [k for k, until in self.watch_until.items() if until <= now]:
            del self.watch_until[key]
        return {run.scale_set_id for run in self.running.values()} | set(self.watch_until)


def scale_set_sort_key(scale_set: ScaleSet) -> tuple[str, str]:
    return (scale_set.resource_group.casefold(), scale_set.name.casefold())
