"""The console: scale sets, instances, NAT mappings and disks, keyboard-first and live.

Data flows one way: a heartbeat decides what is due (ui/refresh.py), a worker calls the Fleet,
the worker posts a message (ui/messages.py), a handler turns domain objects into rows
(ui/render.py) and hands them to live tables that update only what changed (ui/tables.py).
Handlers never wait on the network, so a key press is never blocked by a refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual import on
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Key, Resize
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane
from textual.worker import Worker

from vmss_tui.azure.errors import FleetError
from vmss_tui.config import Config, load_config, unknown_binding_problems
from vmss_tui.domain.models import Instance, NatResolution, OperationResult, ScaleSet
from vmss_tui.ui import render
from vmss_tui.ui.actions import (
    INSTANCE_ACTION_SPECS,
    SCALE_SET_ACTION_SPECS,
    instance_action_summary,
    instance_action_title,
    operation_label,
    pending_on_scale_set,
)
from vmss_tui.ui.commands import ActionCommands, JumpCommands
from vmss_tui.ui.messages import (
    FleetReady,
    InstancesLoaded,
    NatLoaded,
    OperationDone,
    OperationProgress,
    ScaleSetsLoaded,
    SubscriptionsListed,
    TrackDone,
)
from vmss_tui.ui.refresh import RefreshPlan
from vmss_tui.ui.render import RowData
from vmss_tui.ui.screens import (
    ConfirmActionScreen,
    DetailsScreen,
    HelpRow,
    HelpScreen,
    ScaleScreen,
    SubscriptionScreen,
)
from vmss_tui.ui.tables import (
    InstanceDiskTable,
    InstanceTable,
    LiveTable,
    ModelDiskTable,
    NatTable,
    ScaleSetTable,
)

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ConnectionSettings, Fleet

WidgetType = TypeVar("WidgetType", bound=Widget)

VIEWS = ("vmss", "inst", "nat", "disk")
VIEW_TITLES = {"vmss": "Scale sets", "inst": "Instances", "nat": "NAT", "disk": "Disks"}
PANE_OF_VIEW = {"vmss": "#vmss-pane", "inst": "#inst-pane", "nat": "#nat-pane", "disk": "#disk-pane"}
TABLE_OF_VIEW = {"vmss": "#vmss", "inst": "#instances", "nat": "#nat", "disk": "#instance-disks"}
BACK_FROM = {"inst": "vmss", "nat": "inst", "disk": "inst"}

# Wide layout (all panes at once) from this size up; below it one pane at a time.
WIDE_MIN_WIDTH = 120
WIDE_MIN_HEIGHT = 34
NARROW_COLUMNS_BELOW = 110  # fewer, shorter columns below this width

COMMAND_ALIASES = {
    "vmss": "vmss", "ss": "vmss", "scalesets": "vmss", "scaleset": "vmss",
    "inst": "inst", "instances": "inst", "instance": "inst", "vm": "inst", "vms": "inst",
    "nat": "nat",
    "disk": "disk", "disks": "disk",
    "sub": "sub", "subs": "sub", "subscription": "sub",
    "q": "quit", "q!": "quit", "quit": "quit", "exit": "quit",
    "help": "help", "?": "help",
    "refresh": "refresh", "r": "refresh",
}
COMMAND_SUGGESTIONS = ["vmss", "inst", "nat", "disk", "sub", "q", "help", "refresh", "scalesets", "instances"]

INSTANCES_PER_BASE_INTERVAL = 500  # above this, the instance refresh interval grows in proportion
# Watching an action: while an operation of this session runs on a scale set, and for a while
# after it ends (a restarted guest reports "starting" while it boots), its instances are read
# this often, so a person sees them pass through their states.
WATCH_REFRESH = 1.0
WATCH_AFTER = 15.0
WATCH_TICK = 0.25  # the heartbeat while watching (a refresh every WATCH_REFRESH, not every 2)
NSG_REFRESH = 300.0  # seconds between reads of the NSGs behind the scale-set warning marks
COUNT_CONCURRENCY = 4  # instance lists fetched at once for the scale set counts
SELECTION_DEBOUNCE = 0.2  # seconds the cursor must rest on a scale set before it is loaded
THROTTLE_CODES = frozenset({"toomanyrequests", "subscriptionrequeststhrottled", "429", "throttled"})


def is_throttled(error: FleetError) -> bool:
    from vmss_tui.azure.errors import ThrottledError

    if isinstance(error, ThrottledError):
        return True
    code = (error.code or "").casefold()
    return code in THROTTLE_CODES or "too many requests" in error.message.casefold()


def one_line(error: BaseException) -> str:
    if isinstance(error, FleetError):
        return error.one_line()
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(slots=True)
class Operation:
    id: int
    label: str  # "Restart of vmss-web instance 2"
    scale_set_id: str
    started: float
    status: str = "Submitting"
    finished: float | None = None
    outcome: str | None = None  # one line when finished
    pending: str = ""  # what the affected instance rows read while it runs: "restarting…"
    instance_keys: frozenset[str] = frozenset()  # resource ids of the affected instances
    scale_set_pending: str = ""  # what the scale set row reads while it runs


@dataclass(slots=True)
class ScaleSetView:
    """Everything known about one scale set (what the tables are rendered from)."""

    scale_set: ScaleSet
    instances: list[Instance] | None = None
    counts: render.InstanceCounts | None = None
    fetched_at: float | None = None
    nat: NatResolution | None = None
    private_ips: dict[str, str] = field(default_factory=dict)
    open_ports: tuple[int, ...] | None = None
    marks: set[str] = field(default_factory=set)  # instance resource ids


class PromptInput(Input):
    """The `:` command line and the `/` filter line."""

    BINDINGS = [Binding("escape", "dismiss_prompt", "Cancel", id="prompt.cancel")]

    def __init__(self) -> None:
        super().__init__(id="prompt", compact=True)
        self.mode: str = "command"  # command | filter
        self.target: LiveTable | None = None

    def action_dismiss_prompt(self) -> None:
        self.app.close_prompt(cancel=True)  # type: ignore[attr-defined]


class VmssConsoleApp(App[int]):
    """`vmss-tui`: see the module docstring."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses may live elsewhere
    TITLE = "vmss-tui"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {JumpCommands, ActionCommands}

    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("colon", "command_mode", "Cmd", id="app.command"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("escape", "back", "Back", show=False, id="app.back"),
        Binding("ctrl+r", "refresh_now", "Refresh", show=False, id="app.refresh"),
        Binding("y", "details('json')", "JSON", show=False, id="app.json"),
        Binding("d", "details('describe')", "Describe", show=False, id="app.describe"),
        Binding("1", "view('vmss')", "Scale sets", show=False, id="view.vmss"),
        Binding("2", "view('inst')", "Instances", show=False, id="view.inst"),
        Binding("3", "view('nat')", "NAT", show=False, id="view.nat"),
        Binding("4", "view('disk')", "Disks", show=False, id="view.disk"),
        Binding("right_square_bracket", "next_tab", "Next tab", show=False, id="app.next_tab"),
        Binding("left_square_bracket", "previous_tab", "Previous tab", show=False, id="app.previous_tab"),
        Binding("ctrl+w", "close_tab", "Close tab", id="app.close_tab"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, priority=True, id="app.palette"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit"),
    ]

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        config: Config | None = None,
        ssh_target: tuple[str, str, str | None] | None = None,
        ssh_identity_file: str | None = None,
        clock: Callable[[], float] = time.time,
        heartbeat: float = 1.0,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.read_only = bool(settings.read_only)
        loaded = config if config is not None else load_config()
        self.config, unknown = unknown_binding_problems(loaded, all_binding_ids())
        self.config_problems: list[str] = [*loaded.problems, *unknown]
        self.ssh_target = ssh_target
        # A key tried before the config's and the default ones (`--demo`: the simulator's client key).
        self.ssh_identity_file = ssh_identity_file
        self.clock = clock
        self.heartbeat_seconds = heartbeat
        self.ssh_port = self.config.ssh.port

        self.fleet: Fleet | None = None
        self.subscription_id: str | None = settings.subscription_id or self.config.subscription
        self.views: dict[str, ScaleSetView] = {}
        self.selected_id: str | None = None
        self.selected_instance_key: str | None = None
        self.view = "vmss"
        self.wide = False
        self.loaded_once = False
        self.last_refresh: float | None = None
        self.last_error: str | None = None  # the last failure, one line (shown until the next one)
        self.last_error_at: float | None = None
        self.operations: dict[int, Operation] = {}  # running
        self.watch_until: dict[str, float] = {}  # scale set id -> end of its watch after an operation
        self._watch_timer: Any = None
        self.finished_operations: list[Operation] = []  # the last few, newest last
        self._next_op_id = 1
        self._pending_selection: Any = None
        self._ssh_tabs = 0
        self._warned_clashes: set[str] = set()
        self._ssh_target_done = ssh_target is None
        self._pending_ssh: tuple[str, str] | None = None  # (scale set id, instance key) awaiting NAT
        self._widgets: dict[str, Widget] = {}
        self._main_screen: Any = None  # the console's own screen (on_mount)
        self._texts: dict[str, str] = {}  # what each line widget shows (see _set_text)
        self._gc_frozen = False
        self._live_tables: list[LiveTable] = []
        self._stopping = False
        self.plan = RefreshPlan({
            "connect": 5.0,
            "scale_sets": self.config.refresh.scale_sets,
            "counts": self.config.refresh.scale_sets,
            "instances": self.config.refresh.instances,
            "nat": self.config.refresh.nat,
            "nsgs": NSG_REFRESH,
            "watch": WATCH_REFRESH,  # watched scale sets other than the selected one (their rows)
        })
        self.fleet_writes = 0  # actions this session submitted (read-only: must stay 0)

    # ================================================================== layout
    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("Fleet", id="fleet-tab"):
                with Horizontal(id="topbar"):
                    yield Static(id="crumbs")
                    yield Static(id="viewbar")
                with Vertical(id="panes"):
                    with Vertical(id="vmss-pane", classes="pane"):
                        yield ScaleSetTable(id="vmss")
                    with Vertical(id="inst-pane", classes="pane"):
                        yield InstanceTable(id="instances")
                    with Horizontal(id="lower"):
                        with Vertical(id="nat-pane", classes="pane"):
                            yield Static(id="nat-notes")
                            yield NatTable(id="nat")
                        with Vertical(id="disk-pane", classes="pane"):
                            yield Static("Scale set model: data disks", id="model-disks-title", classes="subtitle")
                            yield ModelDiskTable(id="model-disks")
                            yield Static("Instance disks", id="instance-disks-title", classes="subtitle")
                            yield InstanceDiskTable(id="instance-disks")
        yield PromptInput()
        yield Static(id="status")
        yield Footer(compact=True, show_command_palette=False, id="footer")

    def on_mount(self) -> None:
        # Widgets by selector, kept from here on: while a dialog or details view is on top,
        # `query_one` would search that screen, and refreshes must still reach these.
        main_screen = self.screen
        self._widgets = {f"#{w.id}": w for w in main_screen.query("*") if w.id}
        self._live_tables = list(main_screen.query(LiveTable))
        self._main_screen = main_screen
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self.set_keymap(dict(self.config.keys))
        if self.config.theme:
            if self.config.theme in self.available_themes:
                self.theme = self.config.theme
            else:
                self.config_problems.append(
                    f"{self.config.path}: theme {self.config.theme!r} is not known; "
                    f"known: {', '.join(sorted(self.available_themes))}"
                )
        for problem in self.config_problems:
            self.notify(problem, title="Config", severity="warning", timeout=20)
        self.main("#prompt", PromptInput).display = False
        self._update_tab_bar()
        self._apply_layout(self.size.width, self.size.height)
        self.main("#vmss", ScaleSetTable).focus()
        self._render_titles()
        self._update_status()
        self.set_interval(self.heartbeat_seconds, self._tick, name="heartbeat")
        # First frame first: the SDK modules load in the connect worker, after this paint.
        self.call_after_refresh(self._tick)

    def _screen_changed(self, screen: Any) -> None:
        """A dialog shows through to the console: the console's footer would offer keys (space
        Mark, r Restart ...) that do nothing while the dialog is open. Hidden, not removed, so
        the console's layout does not move; the dialogs have footers of their own."""
        footer = self._widgets.get("#footer")
        if footer is not None:
            footer.styles.visibility = "visible" if screen is self._main_screen else "hidden"

    def main(self, selector: str, expect_type: type[WidgetType] = Widget) -> WidgetType:  # type: ignore[assignment]
        """A widget of the console screen by its `#id` (see on_mount)."""
        widget = self._widgets[selector]
        assert isinstance(widget, expect_type)
        return widget

    def on_resize(self, event: Resize) -> None:
        if not self._widgets:
            return  # on_mount lays out with the size it finds
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        self.wide = width >= WIDE_MIN_WIDTH and height >= WIDE_MIN_HEIGHT
        panes = self.main("#panes")
        panes.set_class(self.wide, "-wide")
        panes.set_class(not self.wide, "-compact")
        narrow = width < NARROW_COLUMNS_BELOW
        for table in self._live_tables:
            table.set_narrow(narrow)
        self._show_panes()

    def _show_panes(self) -> None:
        if self.wide:
            for selector in PANE_OF_VIEW.values():
                self.main(selector).display = True
            self.main("#lower").display = True
        else:
            for view, selector in PANE_OF_VIEW.items():
                self.main(selector).display = view == self.view
            self.main("#lower").display = self.view in ("nat", "disk")
        self._render_titles()

    def pane_visible(self, view: str) -> bool:
        """Whether a pane is on screen (refreshes skip what is not)."""
        if self.main("#tabs", TabbedContent).active not in ("fleet-tab", ""):
            return False
        return self.wide or self.view == view

    # ================================================================== views and focus
    def show_view(self, view: str, *, focus: bool = True) -> None:
        if view not in VIEWS:
            return
        if view != "vmss" and self._pending_selection is not None:
            self._commit_selection()
        self.view = view
        tabs = self.main("#tabs", TabbedContent)
        if tabs.active != "fleet-tab":
            tabs.active = "fleet-tab"
        self._show_panes()
        if focus:
            self.main(TABLE_OF_VIEW[view], LiveTable).focus()
        self._schedule_visible()

    def _schedule_visible(self) -> None:
        """What just came on screen is refreshed if its data is old."""
        self.call_later(self._tick)

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget if hasattr(event, "widget") else None
        for view, selector in TABLE_OF_VIEW.items():
            if widget is not None and widget.id == selector[1:]:
                self.view = view
        if isinstance(widget, ModelDiskTable):
            self.view = "disk"
        self._render_titles()

    def focused_table(self) -> LiveTable | None:
        focused = self.focused
        if isinstance(focused, LiveTable):
            return focused
        return None

    # ================================================================== heartbeat and refresh
    def _tick(self) -> None:
        if self._stopping or not self._widgets:
            return
        now = self.clock()
        plan = self.plan
        plan.slow = render.throttling_is_low(self.fleet.throttling if self.fleet else None)
        if self.fleet is None:
            if plan.due("connect", now):
                token = plan.started("connect", now)
                self.run_worker(self._connect(token), group="connect", exit_on_error=False)
            self._update_status()
            return
        if plan.due("scale_sets", now) and (self.pane_visible("vmss") or not self.loaded_once):
            token = plan.started("scale_sets", now)
            self.run_worker(self._load_scale_sets(token), group="scale_sets", exit_on_error=False)
        selected = self.selected_view()
        # The selected scale set's first instance list goes before NAT, counts and NSG marks
        # when it is on screen: the table a person looks at comes first.
        selected_first = selected is not None and selected.instances is None and any(
            self.pane_visible(v) for v in ("inst", "nat", "disk"))
        if self.operations:
            self._render_topbar()  # the operations' elapsed time
        watched = self.watched_scale_sets(now)
        self._set_watch_timer(bool(watched))
        showing_instances = any(self.pane_visible(v) for v in ("inst", "nat", "disk"))
        if watched and self.pane_visible("vmss") and plan.due("watch", now):
            # Watched scale sets whose rows are on screen but whose instances the instances track
            # does not read (another one is selected, or the instances pane is hidden).
            in_view = set(self.main("#vmss", ScaleSetTable).keys_in_view())
            others = [self.views[key].scale_set for key in sorted(watched & in_view)
                      if key in self.views and (key != self.selected_id or not showing_instances)]
            if others:
                token = plan.started("watch", now)
                self.run_worker(self._load_watched(token, others), group="watch", exit_on_error=False)
        if selected is not None:
            if showing_instances and plan.due("instances", now):
                token = plan.started("instances", now)
                self.run_worker(
                    self._load_instances(token, selected.scale_set), group="instances", exit_on_error=False
                )
            if (self.pane_visible("inst") or self.pane_visible("nat")) and plan.due("nat", now) \
                    and not selected_first:
                token = plan.started("nat", now)
                self.run_worker(self._load_nat(token, selected.scale_set), group="nat", exit_on_error=False)
        if self.loaded_once and self.pane_visible("vmss") and plan.due("nsgs", now) and not selected_first:
            token = plan.started("nsgs", now)
            scale_sets = [v.scale_set for v in self.views.values()]
            self.run_worker(self._load_nsg_marks(token, scale_sets), group="nsgs", exit_on_error=False)
        if self.loaded_once and self.pane_visible("vmss") and not plan["counts"].in_flight and not selected_first:
            wanted = self._scale_sets_needing_counts()
            # Rows that came into view without counts are fetched now, the rest when due.
            missing = [s for s in wanted if self.views[s.id].counts is None]
            if plan.due("counts", now) or (missing and not plan["counts"].stale):
                token = plan.started("counts", now)
                self.run_worker(self._load_counts(token, wanted if plan.due("counts", now) else missing),
                                group="counts", exit_on_error=False)
        self._update_status()

    def _scale_sets_needing_counts(self) -> list[ScaleSet]:
        """The scale sets whose rows are on screen (the selected one refreshes on its own)."""
        table = self.main("#vmss", ScaleSetTable)
        selected_refreshes = any(self.pane_visible(v) for v in ("inst", "nat", "disk"))
        result = []
        for key in table.keys_in_view():
            view = self.views.get(key)
            if view is not None and (key != self.selected_id or not selected_refreshes):
                result.append(view.scale_set)
        return result

    def request_refresh(self, *tracks: str) -> None:
        for track in tracks or ("scale_sets", "counts", "instances", "nat"):
            self.plan.request_now(track)
        self.call_later(self._tick)

    async def _connect(self, token: int) -> None:
        from vmss_tui.azure.fleet import Fleet

        try:
            # Heavy SDK imports happen off the event loop, so the first frame and keys stay live.
            await asyncio.to_thread(_preload_sdk)
            fleet = await Fleet.open(self.settings, subscription_id=self.subscription_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure is one line on the status bar
            self.post_message(TrackDone("connect", token, one_line(error), _throttled(error)))
            return
        self.post_message(FleetReady(fleet, token))

    async def _load_scale_sets(self, token: int) -> None:
        fleet = self.fleet
        assert fleet is not None
        try:
            scale_sets = await fleet.list_scale_sets()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(TrackDone("scale_sets", token, one_line(error), _throttled(error)))
            return
        self.post_message(ScaleSetsLoaded(token, scale_sets, {}))
        self.post_message(TrackDone("scale_sets", token))

    async def _load_nsg_marks(self, token: int, scale_sets: Sequence[ScaleSet]) -> None:
        fleet = self.fleet
        assert fleet is not None
        try:
            open_ports = await _open_management_ports(fleet, scale_sets)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(TrackDone("nsgs", token, one_line(error), _throttled(error)))
            return
        self.post_message(ScaleSetsLoaded(token, [], open_ports))
        self.post_message(TrackDone("nsgs", token))

    async def _load_instances(self, token: int, scale_set: ScaleSet) -> None:
        fleet = self.fleet
        assert fleet is not None
        try:
            instances = await fleet.list_instances(scale_set)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(TrackDone("instances", token, one_line(error), _throttled(error)))
            return
        self.post_message(InstancesLoaded(scale_set.id, instances, self.clock()))
        self.post_message(TrackDone("instances", token))

    async def _load_nat(self, token: int, scale_set: ScaleSet) -> None:
        fleet = self.fleet
        assert fleet is not None
        try:
            nics = await fleet.list_instance_nics(scale_set)
            resolution = await fleet.nat_mappings_for(scale_set, nics)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(TrackDone("nat", token, one_line(error), _throttled(error)))
            return
        self.post_message(NatLoaded(scale_set.id, resolution, render.private_ips(nics)))
        self.post_message(TrackDone("nat", token))

    async def _load_watched(self, token: int, scale_sets: Sequence[ScaleSet]) -> None:
        fleet = self.fleet
        assert fleet is not None
        try:
            per_scale_set = await fleet.map_bounded(fleet.list_instances, scale_sets)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(TrackDone("watch", token, one_line(error), _throttled(error)))
            return
        fetched_at = self.clock()
        for scale_set, instances in zip(scale_sets, per_scale_set, strict=True):
            self.post_message(InstancesLoaded(scale_set.id, instances, fetched_at))
        self.post_message(TrackDone("watch", token))

    async def _load_counts(self, token: int, scale_sets: Sequence[ScaleSet]) -> None:
        fleet = self.fleet
        assert fleet is not None
        gate = asyncio.Semaphore(COUNT_CONCURRENCY)

        async def one(scale_set: ScaleSet) -> None:
            async with gate:
                instances = await fleet.list_instances(scale_set)
            self.post_message(InstancesLoaded(scale_set.id, instances, self.clock()))

        try:
            await asyncio.gather(*(one(s) for s in scale_sets))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(TrackDone("counts", token, one_line(error), _throttled(error)))
            return
        self.post_message(TrackDone("counts", token))

    # ------------------------------------------------------------------ worker reports
    @on(FleetReady)
    def _fleet_ready(self, message: FleetReady) -> None:
        if self._stopping:
            self.run_worker(message.fleet.close(), exit_on_error=False)
            return
        if not self.plan.succeeded("connect", self.clock(), message.token):
            self.run_worker(message.fleet.close(), exit_on_error=False)
            return
        self.fleet = message.fleet
        self.subscription_id = message.fleet.subscription_id
        self.request_refresh("scale_sets", "instances", "nat", "counts")

    @on(TrackDone)
    def _track_done(self, message: TrackDone) -> None:
        if self._stopping:
            return
        now = self.clock()
        if message.error is None:
            if self.plan.succeeded(message.track, now, message.token):
                self.last_refresh = now
        else:
            delay = self.plan.failed(message.track, now, message.token, message.error, throttled=message.throttled)
            if delay is not None:
                first = self.last_error != message.error
                self._record_error(message.error)
                if message.throttled:
                    self.notify(f"ARM is throttling: refreshes paused for {delay:.0f}s", severity="warning")
                elif first:
                    self.notify(message.error, title=f"Refresh of {message.track.replace('_', ' ')} failed",
                                severity="error", timeout=8)
        self._render_titles()
        self._update_status()
        self.call_later(self._tick)  # what waited for this (NAT after instances ...) may start now

    @on(ScaleSetsLoaded)
    def _scale_sets_loaded(self, message: ScaleSetsLoaded) -> None:
        if self._stopping:
            return
        if not message.scale_sets:  # the NSG warning marks only
            for scale_set_id, ports in message.open_ports.items():
                if scale_set_id in self.views:
                    self.views[scale_set_id].open_ports = ports
            self._render_scale_sets()
            return
        seen = set()
        for scale_set in message.scale_sets:
            seen.add(scale_set.id)
            view = self.views.get(scale_set.id)
            if view is None:
                view = self.views[scale_set.id] = ScaleSetView(scale_set)
            view.scale_set = scale_set
        for gone in set(self.views) - seen:
            del self.views[gone]
        self.loaded_once = True
        self._render_scale_sets()
        table = self.main("#vmss", ScaleSetTable)
        if self.selected_id not in self.views:
            self.selected_id = None
            key = table.cursor_key
            if key is not None:
                self._select_scale_set(key)
        self._render_model_disks()
        self._maybe_open_ssh_target()
        self.plan.request_now("counts")  # counts for the rows now on screen

    @on(InstancesLoaded)
    def _instances_loaded(self, message: InstancesLoaded) -> None:
        if self._stopping:
            return
        view = self.views.get(message.scale_set_id)
        if view is None:
            return
        view.instances = render.sort_instances(message.instances)
        view.counts = render.count_instances(view.instances)
        view.fetched_at = message.fetched_at
        present = {i.id for i in view.instances}
        view.marks &= present
        self._render_scale_sets()
        if message.scale_set_id == self.selected_id:
            # Big scale sets poll less often: each page of 100 instances is one more call against
            # the subscription's read budget (High Cost Get in Compute's terms).
            pages_factor = max(1.0, len(view.instances) / INSTANCES_PER_BASE_INTERVAL)
            watching = message.scale_set_id in self.watched_scale_sets(self.clock())
            base = WATCH_REFRESH if watching else self.config.refresh.instances
            self.plan["instances"].interval = base * pages_factor
            self._render_instances()
            self._render_instance_disks()
            if not self._gc_frozen:
                # Everything loaded so far (modules, widgets, the first data) lives as long as
                # the app: keep it out of the cyclic collector, whose full passes over it paused
                # the UI for ~200 ms with a 1,000-instance scale set.
                import gc

                gc.freeze()
                self._gc_frozen = True
        self._maybe_open_ssh_target()

    @on(NatLoaded)
    def _nat_loaded(self, message: NatLoaded) -> None:
        if self._stopping:
            return
        view = self.views.get(message.scale_set_id)
        if view is None:
            return
        view.nat = message.resolution
        view.private_ips = message.private_ips
        if message.scale_set_id == self.selected_id:
            self._render_instances()
            self._render_nat()
        self._open_pending_ssh()
        self._maybe_open_ssh_target()

    def _set_text(self, widget: Static, text: str, *, layout: bool = False) -> None:
        """Update a line only when its text changed; one-line widgets need no new layout (a
        layout pass costs the whole screen, and the cursor moves many times a second)."""
        if self._texts.get(widget.id or "") == text:
            return
        self._texts[widget.id or ""] = text
        widget.update(text, layout=layout)

    def _record_error(self, text: str) -> None:
        self.last_error = text
        self.last_error_at = self.clock()

    # ================================================================== rendering
    def selected_view(self) -> ScaleSetView | None:
        return self.views.get(self.selected_id) if self.selected_id else None

    def _render_scale_sets(self) -> None:
        ordered = sorted(self.views.values(), key=lambda v: render.scale_set_sort_key(v.scale_set))
        pending = {op.scale_set_id: op.scale_set_pending for op in self._running_operations()}
        rows = [
            RowData.of(v.scale_set.id, render.scale_set_cells(v.scale_set, v.counts, v.open_ports,
                                                              pending.get(v.scale_set.id)))
            for v in ordered
        ]
        self.main("#vmss", ScaleSetTable).set_rows(rows)
        self._render_titles()

    def _render_instances(self) -> None:
        table = self.main("#instances", InstanceTable)
        view = self.selected_view()
        if view is None or view.instances is None:
            table.set_rows([])
        else:
            pending = self._pending_instances(view.scale_set.id)
            rows = [
                RowData.of(i.id, render.instance_cells(
                    i, marked=i.id in view.marks, private_ip=view.private_ips.get(i.instance_id),
                    resolution=view.nat, ssh_port=self.ssh_port, pending=pending.get(i.id),
                ))
                for i in view.instances
            ]
            table.set_rows(rows)
        self._render_titles()

    def _render_nat(self) -> None:
        table = self.main("#nat", NatTable)
        notes = self.main("#nat-notes", Static)
        view = self.selected_view()
        if view is None or view.nat is None:
            table.set_rows([])
            self._set_text(notes, "loading NAT mappings…" if view is not None else "", layout=True)
            return
        mappings = sorted(view.nat.mappings, key=render.nat_sort_key)
        table.set_rows([RowData.of(render.nat_key(m), render.nat_cells(m)) for m in mappings])
        if view.nat.notes:
            self._set_text(notes, "no public mapping: " + "; ".join(view.nat.notes) if not view.nat.mappings
                           else "; ".join(view.nat.notes), layout=True)
            notes.display = True
        elif not view.nat.mappings:
            self._set_text(notes, "no NAT mappings", layout=True)
            notes.display = True
        else:
            notes.display = False
        self._render_titles()

    def _render_model_disks(self) -> None:
        view = self.selected_view()
        disks = view.scale_set.data_disks if view else ()
        self.main("#model-disks", ModelDiskTable).set_rows(
            [RowData.of(str(d.lun), render.model_disk_cells(d)) for d in sorted(disks, key=lambda d: d.lun)]
        )
        title = self.main("#model-disks-title", Static)
        self._set_text(title, "Scale set model: data disks" + ("" if disks else " (none)"))

    def _render_instance_disks(self) -> None:
        instance = self.cursor_instance()
        table = self.main("#instance-disks", InstanceDiskTable)
        title = self.main("#instance-disks-title", Static)
        if instance is None:
            table.set_rows([])
            self._set_text(title, "Instance disks")
            return
        disks = render.instance_disks(instance)
        # Keyed by slot, not by disk: moving the cursor between instances then updates cells
        # instead of rebuilding the table.
        table.set_rows([
            RowData.of("os" if d.is_os_disk or d.lun is None else f"lun{d.lun}", render.instance_disk_cells(d))
            for d in disks
        ])
        self._set_text(title, f"Instance {instance.instance_id} ({instance.computer_name or instance.name}): "
                              "OS and data disks")

    def _render_titles(self) -> None:
        if not self._widgets or self._stopping:
            return
        view = self.selected_view()
        vmss_table = self.main("#vmss", ScaleSetTable)
        inst_table = self.main("#instances", InstanceTable)
        nat_table = self.main("#nat", NatTable)

        def subtitle(table: LiveTable, stale: bool) -> str:
            parts = []
            if table.row_filter.active:
                parts.append(f"filter /{table.row_filter.text}/ {len(table.visible_keys)} of {table.total_rows}")
            if stale:
                parts.append("[b red]stale[/]")
            return " · ".join(parts)

        pane = self.main("#vmss-pane")
        pane.border_title = f"Scale sets [dim]{len(self.views)}[/]" if self.loaded_once else "Scale sets"
        pane.border_subtitle = subtitle(vmss_table, self.plan["scale_sets"].stale)
        pane = self.main("#inst-pane")
        if view is None:
            pane.border_title = "Instances"
        else:
            marked = f" · [b magenta]{len(view.marks)} marked[/]" if view.marks else ""
            count = f" [dim]{len(view.instances)}[/]" if view.instances is not None else " [dim]loading…[/]"
            pane.border_title = f"Instances of [b]{view.scale_set.name}[/] [dim]({view.scale_set.resource_group})[/]{count}{marked}"
        pane.border_subtitle = subtitle(inst_table, self.plan["instances"].stale)
        pane = self.main("#nat-pane")
        pane.border_title = f"NAT mappings of [b]{view.scale_set.name}[/]" if view else "NAT mappings"
        pane.border_subtitle = subtitle(nat_table, self.plan["nat"].stale)
        pane = self.main("#disk-pane")
        pane.border_title = f"Disks of [b]{view.scale_set.name}[/]" if view else "Disks"
        self._render_topbar()

    def _render_topbar(self) -> None:
        view = self.selected_view()
        crumbs = ["[b]vmss-tui[/]"]
        if view is not None:
            crumbs.append(f"{view.scale_set.resource_group}/[b]{view.scale_set.name}[/]")
            instance = self.cursor_instance()
            if instance is not None and self.view in ("inst", "nat", "disk"):
                crumbs.append(f"instance {instance.instance_id}")
        running = self._running_operations()
        text = " › ".join(crumbs)
        if running:
            now = self.clock()
            text += "   " + " · ".join(
                f"[b yellow]⟳ {op.label}: {op.status} {render.format_age(now - op.started)}[/]" for op in running
            )
        self._set_text(self.main("#crumbs", Static), text)
        tabs = []
        compact_bar = self.size.width < NARROW_COLUMNS_BELOW
        for index, name in enumerate(VIEWS, 1):
            label = f"{index} {VIEW_TITLES[name]}"
            if name == self.view:
                tabs.append(f"[reverse b] {label} [/]")
            else:
                tabs.append(f" {index} " if compact_bar else f" {label} ")
        self._set_text(self.main("#viewbar", Static), "".join(tabs), layout=True)  # width: auto

    def _update_status(self) -> None:
        if not self._widgets or self._stopping:
            return
        now = self.clock()
        parts: list[str] = []
        if self.read_only:
            parts.append("[b reverse] READ-ONLY [/]")
        sub = self.subscription_id or "(resolving subscription)"
        if not self.wide and len(sub) > 13:
            sub = sub[:8] + "…"
        parts.append(f"sub [b]{sub}[/]")
        if self.fleet is None:
            connect = self.plan["connect"]
            parts.append("connecting…" if connect.in_flight else "not connected")
        elif self.last_refresh is None:
            parts.append("loading…")
        else:
            parts.append(f"refreshed {render.format_clock(self.last_refresh)} "
                         f"({render.format_age(now - self.last_refresh)} ago)")
        headroom = render.throttling_text(self.fleet.throttling if self.fleet else None)
        if headroom:
            parts.append(headroom + (" [yellow](slowed)[/]" if self.plan.slow else ""))
        stale = [t for t in self.plan.tracks.values() if t.stale]
        if stale:
            track = max(stale, key=lambda t: t.failures)
            retry = max(0.0, track.next_due - now)
            what = "throttled" if track.throttled else "stale"
            parts.append(f"[b red]{what}[/] retry in {retry:.0f}s")
        if self.last_error and self.last_error_at is not None:
            # Red while data is stale; dim once later refreshes succeeded (still worth reading).
            style = "red" if stale else "dim"
            parts.append(f"[{style}]last error {render.format_clock(self.last_error_at)}: "
                         f"{_escape(self.last_error)}[/]")
        self._set_text(self.main("#status", Static), " │ ".join(parts))

    # ================================================================== selection
    @on(DataTable.RowHighlighted, "#vmss")
    def _scale_set_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is None or key == self.selected_id:
            self._pending_cancel()
            return
        if self.selected_id is None:
            self._select_scale_set(key)
            return
        self._pending_cancel()
        self._pending_selection = self.set_timer(SELECTION_DEBOUNCE, self._commit_selection, name="select")

    def _pending_cancel(self) -> None:
        if self._pending_selection is not None:
            self._pending_selection.stop()
            self._pending_selection = None

    def _commit_selection(self) -> None:
        self._pending_cancel()
        key = self.main("#vmss", ScaleSetTable).cursor_key
        if key is not None and key != self.selected_id:
            self._select_scale_set(key)

    def _select_scale_set(self, key: str) -> None:
        if key not in self.views:
            return
        self.selected_id = key
        # A refresh of the previous scale set is of no use any more.
        for track in ("instances", "nat"):
            if self.plan[track].in_flight:
                self.workers.cancel_group(self, track)
                self.plan.cancelled(track)
        instances = self.main("#instances", InstanceTable)
        self._render_instances()
        if instances.row_count:
            instances.move_cursor(row=0)
        self._render_nat()
        self._render_model_disks()
        self._render_instance_disks()
        self.request_refresh("instances", "nat")

    @on(DataTable.RowHighlighted, "#instances")
    def _instance_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key == self.selected_instance_key:
            return
        self.selected_instance_key = key
        self._render_instance_disks()
        self._render_topbar()

    def cursor_instance(self) -> Instance | None:
        view = self.selected_view()
        if view is None or not view.instances:
            return None
        key = self.main("#instances", InstanceTable).cursor_key
        for instance in view.instances:
            if instance.id == key:
                return instance
        return None

    def _instance_for_nat_row(self) -> Instance | None:
        view = self.selected_view()
        key = self.main("#nat", NatTable).cursor_key
        if view is None or key is None or not view.instances:
            return None
        instance_id = key.split("/", 1)[0]
        return next((i for i in view.instances if i.instance_id == instance_id), None)

    def jump_to_scale_set(self, scale_set_id: str) -> None:
        table = self.main("#vmss", ScaleSetTable)
        if table.row_filter.active and scale_set_id not in table.visible_keys:
            table.set_filter("")
        table.move_to_key(scale_set_id)
        self._pending_cancel()
        if scale_set_id != self.selected_id:
            self._select_scale_set(scale_set_id)
        self.show_view("inst")

    def jump_to_instance(self, scale_set_id: str, instance_key: str) -> None:
        self.jump_to_scale_set(scale_set_id)
        table = self.main("#instances", InstanceTable)
        if table.row_filter.active and instance_key not in table.visible_keys:
            table.set_filter("")
        table.move_to_key(instance_key)

    # ================================================================== marks
    def toggle_mark(self, key: str | None) -> None:
        view = self.selected_view()
        if view is None or key is None:
            return
        view.marks ^= {key}
        self._render_instances()

    def mark_keys(self, keys: Iterable[str]) -> None:
        view = self.selected_view()
        if view is None:
            return
        view.marks |= set(keys)
        self._render_instances()

    def clear_marks(self) -> None:
        view = self.selected_view()
        if view is None:
            return
        view.marks.clear()
        self._render_instances()

    def target_instances(self) -> list[Instance]:
        """The marked instances, else the one under the cursor."""
        view = self.selected_view()
        if view is None or not view.instances:
            return []
        if view.marks:
            return [i for i in view.instances if i.id in view.marks]
        instance = self.cursor_instance()
        return [instance] if instance is not None else []

    # ================================================================== actions
    def _refuse_read_only(self, what: str) -> bool:
        if self.read_only:
            self.notify(f"Read-only session: {what} is disabled (started with --read-only)", severity="warning")
            return True
        return False

    def request_instance_action(self, action: str) -> None:
        spec = INSTANCE_ACTION_SPECS.get(action)
        if spec is None or self._refuse_read_only(spec.label if spec else action):
            return
        view = self.selected_view()
        targets = self.target_instances()
        if view is None or not targets or self.fleet is None:
            self.notify("No instance selected: move to one, or mark some with space", severity="warning")
            return
        scale_set = view.scale_set
        items = [
            f"{i.instance_id:>5}  {(i.computer_name or i.name):<18} {i.power_state:<12} "
            f"{'latest model' if i.latest_model else 'outdated' if i.latest_model is False else ''}"
            for i in targets
        ]
        ids = [i.instance_id for i in targets]
        screen = ConfirmActionScreen(
            instance_action_title(spec, scale_set, targets),
            instance_action_summary(spec, scale_set, targets),
            items,
            f"{spec.label} {render.pluralize(len(targets), 'instance')}",
            destructive=spec.destructive,
            type_to_confirm=scale_set.name if spec.type_name else None,
        )
        label = operation_label(spec, scale_set, ids)
        keys = frozenset(i.id for i in targets)

        def confirmed(ok: bool | None) -> None:
            if not ok:
                self.notify(f"Cancelled: {label}", timeout=3)
                return
            fleet = self.fleet
            if fleet is None:
                return
            view.marks.clear()
            self._start_operation(
                label, scale_set,
                lambda progress: fleet.run_instance_action(scale_set, action, ids, on_progress=progress),
                pending=spec.pending, instance_keys=keys, scale_set_pending=pending_on_scale_set(spec, len(ids)),
            )

        self.push_screen(screen, confirmed)

    def request_scale_set_action(self, action: str) -> None:
        spec = SCALE_SET_ACTION_SPECS[action]
        if self._refuse_read_only(spec.label):
            return
        table = self.main("#vmss", ScaleSetTable)
        key = table.cursor_key if self.focused is table else (self.selected_id or table.cursor_key)
        view = self.views.get(key) if key else None
        if view is None or self.fleet is None:
            self.notify("No scale set selected", severity="warning")
            return
        scale_set = view.scale_set
        if action == "scale":
            def scaled(target: int | None) -> None:
                fleet = self.fleet
                if target is None or fleet is None:
                    self.notify(f"Cancelled: scale {scale_set.name}", timeout=3)
                    return
                self._start_operation(
                    f"Scale of {scale_set.name} from {scale_set.capacity} to {target}", scale_set,
                    lambda progress: fleet.scale_to(scale_set, target, on_progress=progress),
                    scale_set_pending=f"scaling {scale_set.capacity} → {target}…",
                )
            self.push_screen(ScaleScreen(scale_set), scaled)
            return
        instances = view.instances or []
        affected = [i for i in instances if i.power_state not in spec.no_op_states]
        items = [f"{i.instance_id:>5}  {(i.computer_name or i.name):<18} {i.power_state}" for i in instances]
        if view.instances is None:
            count_text = f"all {scale_set.capacity} instances (list not loaded yet)"
        else:
            count_text = f"all {len(instances)} instances ({len(affected)} not already "\
                         f"{'/'.join(spec.no_op_states)})"
        summary = f"{spec.label}: {count_text} of {scale_set.name} (resource group {scale_set.resource_group}): {spec.effect}"
        label = f"{spec.label} of {scale_set.name}"

        def confirmed(ok: bool | None) -> None:
            fleet = self.fleet
            if not ok or fleet is None:
                self.notify(f"Cancelled: {label}", timeout=3)
                return
            call = fleet.start_all if action == "start_all" else fleet.power_off_all
            self._start_operation(
                label, scale_set, lambda progress: call(scale_set, on_progress=progress),
                pending=spec.pending, instance_keys=frozenset(i.id for i in affected),
                scale_set_pending=f"{spec.pending.removesuffix('…')} all…",
            )

        self.push_screen(
            ConfirmActionScreen(f"{label}?", summary, items, spec.label, destructive=action == "stop_all"),
            confirmed,
        )

    def _start_operation(
        self,
        label: str,
        scale_set: ScaleSet,
        call: Callable[[Callable[[str], Awaitable[None]]], Awaitable[OperationResult]],
        *,
        pending: str = "",
        instance_keys: frozenset[str] = frozenset(),
        scale_set_pending: str = "",
    ) -> None:
        if self.read_only:  # never reached through the UI; a last guard that sends nothing
            return
        op = Operation(self._next_op_id, label, scale_set.id, self.clock(), pending=pending,
                       instance_keys=instance_keys, scale_set_pending=scale_set_pending)
        self._next_op_id += 1
        self.operations[op.id] = op
        self.fleet_writes += 1
        self.notify(f"{label}: submitted", timeout=3)
        self.run_worker(self._run_operation(op.id, call), group=f"operation-{op.id}", exit_on_error=False)
        self._watch(scale_set.id)
        self._render_instances()
        self._render_scale_sets()
        self._render_topbar()

    # ------------------------------------------------------------------ watching an action
    def _running_operations(self) -> list[Operation]:
        return [op for op in self.operations.values() if op.finished is None]

    def _pending_instances(self, scale_set_id: str) -> dict[str, str]:
        """Instance resource id -> what a running operation is doing to it (the newest wins)."""
        pending: dict[str, str] = {}
        for op in sorted(self._running_operations(), key=lambda o: o.id):
            if op.scale_set_id == scale_set_id and op.pending:
                pending.update(dict.fromkeys(op.instance_keys, op.pending))
        return pending

    def watched_scale_sets(self, now: float) -> set[str]:
        """Scale sets with an operation running, or one that ended less than WATCH_AFTER ago."""
        for key in [k for k, until in self.watch_until.items() if until <= now]:
            del self.watch_until[key]
        return {op.scale_set_id for op in self._running_operations()} | set(self.watch_until)

    def _watch(self, scale_set_id: str) -> None:
        """Read this scale set's instances every WATCH_REFRESH from now on (while watched)."""
        now = self.clock()
        for name in ("instances", "watch"):
            track = self.plan[name]
            if scale_set_id == self.selected_id or name == "watch":
                if name == "instances":
                    track.interval = min(track.interval, WATCH_REFRESH)
                if not track.throttled:
                    track.next_due = min(track.next_due, now + WATCH_REFRESH)
        self._set_watch_timer(True)

    def _set_watch_timer(self, on: bool) -> None:
        if on and self._watch_timer is None and WATCH_TICK < self.heartbeat_seconds:
            self._watch_timer = self.set_interval(WATCH_TICK, self._tick, name="watch")
        elif not on and self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer = None

    async def _run_operation(
        self, op_id: int, call: Callable[[Callable[[str], Awaitable[None]]], Awaitable[OperationResult]]
    ) -> None:
        async def progress(status: str) -> None:
            self.post_message(OperationProgress(op_id, status))

        try:
            result = await call(progress)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self.post_message(OperationDone(op_id, None, one_line(error)))
            return
        self.post_message(OperationDone(op_id, result, None))

    @on(OperationProgress)
    def _operation_progress(self, message: OperationProgress) -> None:
        if self._stopping:
            return
        op = self.operations.get(message.op_id)
        if op is None:
            return
        op.status = message.status
        self._render_topbar()

    @on(OperationDone)
    def _operation_done(self, message: OperationDone) -> None:
        if self._stopping:
            return
        op = self.operations.get(message.op_id)
        if op is None:
            return
        op.finished = self.clock()
        took = render.format_duration(op.finished - op.started)
        result = message.result
        if result is not None and result.status == "Succeeded":
            op.outcome = f"{op.label}: succeeded in {took}"
            self.notify(op.outcome, severity="information", timeout=8)
        else:
            if result is not None:
                detail = ": ".join(x for x in (result.error_code, result.error_message) if x) or "no details from ARM"
                op.outcome = f"{op.label}: {result.status.lower()} after {took}: {detail}"
            else:
                op.outcome = f"{op.label}: failed: {message.error}"
            self._record_error(op.outcome)
            # Long enough to read the ARM message; it stays on the status line after that.
            self.notify(op.outcome, title="Operation failed", severity="error", timeout=60)
        del self.operations[op.id]
        self.finished_operations = [*self.finished_operations[-19:], op]
        # Keep watching a while: a restarted guest boots after its operation has ended.
        self.watch_until[op.scale_set_id] = op.finished + WATCH_AFTER
        self._watch(op.scale_set_id)
        self.request_refresh("scale_sets", "instances", "nat")
        self._render_instances()
        self._render_scale_sets()
        self._render_topbar()
        self._update_status()

    # ================================================================== SSH (issue 4)
    def ssh_to_cursor(self) -> None:
        view = self.selected_view()
        instance = self._instance_for_nat_row() if isinstance(self.focused, NatTable) else self.cursor_instance()
        if view is None or instance is None:
            self.notify("No instance selected", severity="warning")
            return
        self.open_ssh_session(view.scale_set, instance)

    def open_ssh_session(self, scale_set: ScaleSet, instance: Instance) -> Widget | None:
        """Open an SSH session to `instance` in a new tab (the SSH pane of issue 4).

        The target (NAT frontend of the configured backend port, or the private IP through the
        configured jump host) is chosen by `vmss_tui.ssh.settings.resolve_target` from the NAT
        mappings; when they are not loaded yet, they are fetched and the session opens then.
        """
        try:
            from vmss_tui.ssh.settings import SshSettings, resolve_target
            from vmss_tui.ui.ssh_pane import SshSessionPane
        except ImportError:
            self.notify("SSH sessions arrive with issue 4", severity="warning")
            return None
        view = self.views.get(scale_set.id)
        if view is None or view.nat is None:
            self._pending_ssh = (scale_set.id, instance.id)
            if scale_set.id != self.selected_id:
                self.jump_to_scale_set(scale_set.id)
            self.request_refresh("nat")
            self.notify(f"Looking up the NAT mapping of {scale_set.name}/{instance.instance_id}…", timeout=3)
            return None
        settings = SshSettings.from_config(self.config.ssh, identity_file=self.ssh_identity_file)
        choice = resolve_target(
            settings, scale_set=scale_set, instance=instance, resolution=view.nat,
            private_ip=view.private_ips.get(instance.instance_id),
        )
        if choice.target is None:
            self.notify(choice.reason or f"No way to reach {instance.name} over SSH", severity="warning", timeout=10)
            return None
        if choice.reason:
            self.notify(choice.reason, timeout=8)
        mapping = choice.mapping
        nsg_label = mapping.nsg.label if mapping is not None and mapping.nsg is not None else None
        pane = SshSessionPane(choice.target, settings, nsg_label)
        self._ssh_tabs += 1
        tab_id = f"ssh-{self._ssh_tabs}"
        tabs = self.main("#tabs", TabbedContent)
        tabs.add_pane(TabPane(choice.target.label, pane, id=tab_id))
        tabs.active = tab_id
        self._update_tab_bar()
        self.call_after_refresh(pane.focus)
        return pane

    def _open_pending_ssh(self) -> None:
        if self._pending_ssh is None:
            return
        scale_set_id, instance_key = self._pending_ssh
        view = self.views.get(scale_set_id)
        if view is None or view.nat is None or view.instances is None:
            return
        self._pending_ssh = None
        instance = next((i for i in view.instances if i.id == instance_key), None)
        if instance is not None:
            self.open_ssh_session(view.scale_set, instance)

    def on_ssh_session_pane_state_changed(self, message: Any) -> None:
        """The SSH pane's state in its tab label (`web/3 … · connected`)."""
        pane = getattr(message, "pane", None)
        tab_pane = pane.parent if pane is not None else None
        if tab_pane is None or not getattr(tab_pane, "id", None):
            return
        tabs = self.main("#tabs", TabbedContent)
        try:
            tab = tabs.get_tab(tab_pane.id)
        except Exception:  # noqa: BLE001 - the tab closed meanwhile
            return
        tab.label = f"{pane.target.label} · {message.state}"

    def action_close_tab(self) -> None:
        tabs = self.main("#tabs", TabbedContent)
        if tabs.active and tabs.active != "fleet-tab":
            self.close_tab(tabs.active)

    def close_tab(self, tab_id: str) -> None:
        """Close an SSH tab (for the SSH pane to call when its session ends for good)."""
        if tab_id == "fleet-tab":
            return
        tabs = self.main("#tabs", TabbedContent)
        tabs.remove_pane(tab_id)
        self.call_after_refresh(self._update_tab_bar)
        self.call_after_refresh(self.show_view, self.view)

    def _update_tab_bar(self) -> None:
        tabs = self.main("#tabs", TabbedContent)
        tabs.set_class(tabs.tab_count <= 1, "-single")

    def _maybe_open_ssh_target(self) -> None:
        """`vmss-tui ssh SCALE_SET INSTANCE`: open the session once both are known."""
        if self._ssh_target_done or self.ssh_target is None or not self.loaded_once:
            return
        name, instance_id, group = self.ssh_target
        matches = [
            v for v in self.views.values()
            if v.scale_set.name.casefold() == name.casefold()
            and (group is None or v.scale_set.resource_group.casefold() == group.casefold())
        ]
        if not matches:
            self._ssh_target_done = True
            self.notify(f"Scale set {name} not found" + (f" in {group}" if group else ""), severity="error")
            return
        if len(matches) > 1:
            self._ssh_target_done = True
            groups = ", ".join(v.scale_set.resource_group for v in matches)
            self.notify(f"{name} exists in several resource groups ({groups}): pass -g", severity="error")
            return
        view = matches[0]
        if self.selected_id != view.scale_set.id:
            self.jump_to_scale_set(view.scale_set.id)
        if view.instances is None or view.nat is None:
            return  # being fetched; InstancesLoaded / NatLoaded call back here
        self._ssh_target_done = True
        instance = next((i for i in view.instances if i.instance_id == instance_id), None)
        if instance is None:
            self.notify(f"Instance {instance_id} not found in {name}", severity="error")
            return
        self.jump_to_instance(view.scale_set.id, instance.id)
        self.open_ssh_session(view.scale_set, instance)

    # ================================================================== key actions
    def action_view(self, view: str) -> None:
        self.show_view(view)

    def action_back(self) -> None:
        table = self.focused_table()
        if table is not None and table.row_filter.active:
            table.set_filter("")
            self._render_titles()
            return
        back = BACK_FROM.get(self.view)
        if back is not None:
            self.show_view(back)

    def action_refresh_now(self) -> None:
        self.request_refresh("scale_sets", "counts", "instances", "nat", "nsgs")
        self.notify("Refreshing", timeout=1.5)

    def action_details(self, mode: str) -> None:
        subject, json_text, description = self._details_subject()
        if subject is None:
            self.notify("Nothing selected", severity="warning")
            return
        self.push_screen(DetailsScreen(subject, json_text, description, mode))

    def _details_subject(self) -> tuple[str | None, str, str]:
        view = self.selected_view()
        focused = self.focused
        if isinstance(focused, ScaleSetTable):
            key = focused.cursor_key
            target = self.views.get(key) if key else None
            if target is None:
                return None, "", ""
            return (
                f"scale set {target.scale_set.name}",
                render.raw_json(target.scale_set),
                render.describe_scale_set(target.scale_set, target.counts, target.open_ports, target.nat),
            )
        instance = self._instance_for_nat_row() if isinstance(focused, NatTable) else self.cursor_instance()
        if instance is not None and view is not None:
            return (
                f"instance {instance.scale_set}/{instance.instance_id}",
                render.raw_json(instance),
                render.describe_instance(instance, view.scale_set, view.nat,
                                         view.private_ips.get(instance.instance_id), self.ssh_port),
            )
        if view is not None:
            return (
                f"scale set {view.scale_set.name}",
                render.raw_json(view.scale_set),
                render.describe_scale_set(view.scale_set, view.counts, view.open_ports, view.nat),
            )
        return None, "", ""

    def action_help(self) -> None:
        pane, rows = self.help_rows()
        where = str(self.config.path) if self.config.path else "config.toml in your config directory"
        hint = (f'Commands: :vmss :inst :nat :disk :sub \\[id] :q   ·   ctrl+p palette   ·   Esc closes\n'
                f'Remap any key in {where}: \\[keys] "binding.id" = "key"')
        self.push_screen(HelpScreen(pane, rows, hint))

    def help_rows(self) -> tuple[str, list[HelpRow]]:
        """Every binding reachable from the focused widget, keymap applied, grouped by where."""
        focused = self.focused
        pane = VIEW_TITLES.get(self.view, "Console")
        if isinstance(focused, PromptInput):
            pane = "Prompt"
        grouped: dict[tuple[str, str], HelpRow] = {}
        order: list[tuple[str, str]] = []
        for namespace, bindings in self.screen._modal_binding_chain:  # Textual 8: keymap applied here
            section = _section_name(namespace, pane)
            if section is None:
                continue
            for _key, binding in bindings:
                if binding.system:
                    continue
                ident = (section, binding.id or binding.action)
                display = self.get_key_display(binding)
                if ident in grouped:
                    row = grouped[ident]
                    if display not in row.key.split(", "):
                        grouped[ident] = HelpRow(row.section, f"{row.key}, {display}", row.description,
                                                 row.binding_id, row.note)
                    continue
                note = ""
                if self.read_only and _is_mutating(namespace, binding.action):
                    note = "disabled: read-only"
                description = binding.description or binding.action.replace("_", " ")
                grouped[ident] = HelpRow(section, display, description, binding.id or "", note)
                order.append(ident)
        rows = [grouped[i] for i in order]
        # Per section: this app's bindings (they have ids) first, Textual's built-in ones after.
        sections = list(dict.fromkeys(row.section for row in rows))
        rows.sort(key=lambda row: (sections.index(row.section), not row.binding_id))
        return pane, rows

    def on_key(self, event: Key) -> None:
        """In a read-only session, a key bound to a mutating action says so instead of nothing."""
        if not self.read_only or isinstance(self.focused, Input):
            return
        for namespace, bindings in self.screen._modal_binding_chain:
            for binding in bindings.key_to_bindings.get(event.key, ()):
                if _is_mutating(namespace, binding.action):
                    self._refuse_read_only(binding.description or binding.action)
                    event.stop()
                    return
                return  # a non-mutating binding took (or would take) this key

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: Any) -> None:
        for binding in clashed_bindings:
            ident = binding.id or binding.action
            if ident in self._warned_clashes:
                continue
            self._warned_clashes.add(ident)
            self.notify(
                f"Key {binding.key} of {ident} was taken by another binding in your [keys] config",
                title="Config", severity="warning", timeout=10,
            )

    # ------------------------------------------------------------------ tabs
    def action_next_tab(self) -> None:
        self._cycle_tab(1)

    def action_previous_tab(self) -> None:
        self._cycle_tab(-1)

    def _cycle_tab(self, step: int) -> None:
        tabs = self.main("#tabs", TabbedContent)
        ids = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if len(ids) <= 1:
            return
        index = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(index + step) % len(ids)]
        if tabs.active == "fleet-tab":
            self.show_view(self.view)

    MAIN_SCREEN_ACTIONS = frozenset({
        "help", "command_mode", "filter", "back", "refresh_now", "details", "view", "next_tab", "previous_tab",
        "close_tab",
    })

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MAIN_SCREEN_ACTIONS and (not self._widgets or len(self.screen_stack) > 1):
            return False  # a details view or dialog is on top: these belong to the console
        if action in ("next_tab", "previous_tab"):
            return self.main("#tabs", TabbedContent).tab_count > 1
        if action == "close_tab":
            return self.main("#tabs", TabbedContent).active not in ("fleet-tab", "")
        return True

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "fleet-tab":
            self.call_after_refresh(self.show_view, self.view)
        try:
            self.refresh_bindings()
        except ScreenStackError:
            pass  # the app is closing (a tab closed as its screen went away): no footer to update

    # ------------------------------------------------------------------ prompt (: and /)
    def action_command_mode(self) -> None:
        self._open_prompt("command", None)

    def action_filter(self) -> None:
        table = self.focused_table()
        if table is None:
            table = self.main(TABLE_OF_VIEW[self.view], LiveTable)
        self._open_prompt("filter", table)

    def _open_prompt(self, mode: str, target: LiveTable | None) -> None:
        prompt = self.main("#prompt", PromptInput)
        prompt.mode = mode
        prompt.target = target
        if mode == "command":
            prompt.suggester = SuggestFromList(COMMAND_SUGGESTIONS, case_sensitive=False)
            prompt.placeholder = "vmss · inst · nat · disk · sub [id] · q   (Esc cancels)"
            prompt.value = ""
            prompt.border_title = ":"
        else:
            prompt.suggester = None
            prompt.placeholder = "regex; !regex inverts; Esc clears"
            prompt.value = target.row_filter.text if target else ""
        prompt.set_class(mode == "filter", "-filter")
        prompt.set_class(mode == "command", "-command")
        prompt.display = True
        prompt.focus()

    def close_prompt(self, *, cancel: bool) -> None:
        prompt = self.main("#prompt", PromptInput)
        if prompt.mode == "filter" and cancel and prompt.target is not None:
            prompt.target.set_filter("")
            self._render_titles()
        prompt.display = False
        target = prompt.target
        prompt.target = None
        if target is not None and target.display:
            target.focus()
        else:
            self.main(TABLE_OF_VIEW[self.view], LiveTable).focus()

    @on(Input.Changed, "#prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        prompt = self.main("#prompt", PromptInput)
        if prompt.mode != "filter" or prompt.target is None:
            return
        error = prompt.target.set_filter(event.value)
        prompt.set_class(error is not None, "-invalid")
        prompt.tooltip = error
        if error:
            self._set_text(self.main("#status", Static), f"[red]filter: {_escape(error)}[/]")
        self._render_titles()

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        prompt = self.main("#prompt", PromptInput)
        mode = prompt.mode
        self.close_prompt(cancel=False)
        if mode == "command":
            self.run_command(event.value)

    def run_command(self, text: str) -> None:
        """`:` commands (k9s style): a view alias, optionally with a name to jump to."""
        words = text.strip().lstrip(":").split()
        if not words:
            return
        command = COMMAND_ALIASES.get(words[0].casefold())
        argument = " ".join(words[1:]) or None
        if command is None:
            self.notify(f"Unknown command :{words[0]} (try :vmss :inst :nat :disk :sub :q)", severity="warning")
            return
        if command == "quit":
            self.exit(0)
        elif command == "help":
            self.action_help()
        elif command == "refresh":
            self.action_refresh_now()
        elif command == "sub":
            self.switch_subscription(argument)
        elif command == "vmss" and argument:
            match = self._find_scale_set(argument)
            if match is None:
                self.notify(f"No scale set named {argument}", severity="warning")
                self.show_view("vmss")
            else:
                self.main("#vmss", ScaleSetTable).move_to_key(match)
                self.jump_to_scale_set(match)
        elif command == "inst" and argument:
            view = self.selected_view()
            instance = next((i for i in (view.instances or []) if i.instance_id == argument), None) if view else None
            if view is None or instance is None:
                self.notify(f"No instance {argument} in the selected scale set", severity="warning")
            else:
                self.jump_to_instance(view.scale_set.id, instance.id)
        else:
            self.show_view(command)

    def _find_scale_set(self, name: str) -> str | None:
        wanted = name.casefold()
        if "/" in wanted:
            group, _, wanted = wanted.partition("/")
            matches = [v for v in self.views.values()
                       if v.scale_set.name.casefold() == wanted and v.scale_set.resource_group.casefold() == group]
        else:
            matches = [v for v in self.views.values() if v.scale_set.name.casefold() == wanted]
        return matches[0].scale_set.id if matches else None

    # ------------------------------------------------------------------ subscriptions
    def switch_subscription(self, subscription_id: str | None) -> None:
        if subscription_id:
            self._reconnect(subscription_id)
            return
        if self.fleet is None:
            self.notify("Not connected yet", severity="warning")
            return
        fleet = self.fleet

        async def list_them() -> None:
            try:
                subscriptions = await fleet.list_subscriptions()
            except Exception as error:  # noqa: BLE001
                self.post_message(SubscriptionsListed(None, one_line(error)))
                return
            self.post_message(SubscriptionsListed(subscriptions, None))

        self.run_worker(list_them(), group="subscriptions", exclusive=True, exit_on_error=False)

    @on(SubscriptionsListed)
    def _subscriptions_listed(self, message: SubscriptionsListed) -> None:
        if message.error:
            self.notify(f"Cannot list subscriptions: {message.error}", severity="error")
            return
        if not message.subscriptions:
            self.notify("The credential can list no subscription", severity="warning")
            return

        def picked(subscription_id: str | None) -> None:
            if subscription_id and subscription_id != self.subscription_id:
                self._reconnect(subscription_id)

        self.push_screen(SubscriptionScreen(message.subscriptions, self.subscription_id), picked)

    def _reconnect(self, subscription_id: str) -> None:
        old = self.fleet
        self.fleet = None
        self.subscription_id = subscription_id
        for track in ("scale_sets", "counts", "instances", "nat", "nsgs", "watch"):
            self.workers.cancel_group(self, track)
            self.plan.cancelled(track)
        self.views.clear()
        self.selected_id = None
        self.loaded_once = False
        self.last_refresh = None
        self._render_scale_sets()
        self._render_instances()
        self._render_nat()
        self._render_model_disks()
        self._render_instance_disks()
        if old is not None:
            self.run_worker(old.close(), exit_on_error=False)
        self.plan.request_now("connect")
        self.show_view("vmss")
        self.notify(f"Switching to subscription {subscription_id}", timeout=3)

    # ------------------------------------------------------------------ shutdown
    def exit(self, result: Any = None, return_code: int = 0, message: Any = None) -> None:
        self._stopping = True
        super().exit(result, return_code, message)

    async def on_unmount(self) -> None:
        self._stopping = True
        self.workers.cancel_all()  # before the clients they use are closed
        fleet = self.fleet
        self.fleet = None
        if fleet is not None:
            try:
                await asyncio.wait_for(fleet.close(), timeout=3)
            except Exception:  # noqa: BLE001 - closing is best effort on the way out
                pass

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Every worker catches its own errors; this is the net under that net.
        if event.state.name == "ERROR" and event.worker.error is not None:
            self._record_error(one_line(event.worker.error))
            self._update_status()


# ====================================================================== helpers
def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _throttled(error: BaseException) -> bool:
    return isinstance(error, FleetError) and is_throttled(error)


def _preload_sdk() -> None:
    """Import the heavy SDK modules (run in a thread)."""
    import importlib

    for name in ("azure.mgmt.compute.aio", "azure.mgmt.network.aio"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


async def _open_management_ports(
    fleet: Fleet, scale_sets: Sequence[ScaleSet]
) -> dict[str, tuple[int, ...] | None]:
    """SSH/RDP open to any source, per scale set, from the NSGs on its path (subnet and NIC);
    None where that cannot be known (an NSG unreadable). The Fleet reads a subnet or NSG shared
    by fifty scale sets once (the polling budget is ARM's, not ours)."""
    return await fleet.management_ports_open_many(scale_sets, unknown_as_none=True)


def _section_name(namespace: Any, pane: str) -> str | None:
    if isinstance(namespace, ScaleSetTable):
        return "Scale sets"
    if isinstance(namespace, InstanceTable):
        return "Instances"
    if isinstance(namespace, NatTable):
        return "NAT"
    if isinstance(namespace, ModelDiskTable | InstanceDiskTable):
        return "Disks"
    if isinstance(namespace, PromptInput | Input):
        return "Prompt"
    if isinstance(namespace, App):
        return "Everywhere"
    if isinstance(namespace, Widget) and type(namespace).__module__.startswith("vmss_tui"):
        return type(namespace).__name__
    if namespace.__class__.__name__ == "Screen":
        return None
    return type(namespace).__name__ if hasattr(namespace, "BINDINGS") and namespace.BINDINGS else None


def _is_mutating(namespace: Any, action: str) -> bool:
    name = action.split("(", 1)[0].removeprefix("app.")
    return isinstance(namespace, LiveTable) and name in namespace.MUTATING_ACTIONS


def all_binding_ids() -> set[str]:
    """Every binding id the config's [keys] may name (the SSH pane's too, once it exists)."""
    from vmss_tui.ui import screens

    classes: list[type] = [
        VmssConsoleApp, PromptInput, LiveTable, ScaleSetTable, InstanceTable, NatTable,
        ModelDiskTable, InstanceDiskTable, screens.ConfirmActionScreen, screens.ScaleScreen,
        screens.DetailsScreen, screens.HelpScreen, screens.SubscriptionScreen,
    ]
    try:
        from vmss_tui.ui import ssh_pane  # type: ignore[attr-defined]

        classes.extend(
            obj for obj in vars(ssh_pane).values()
            if isinstance(obj, type) and obj.__module__ == ssh_pane.__name__ and hasattr(obj, "BINDINGS")
        )
    except ImportError:
        pass
    ids: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()) or ():
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return ids


def run_console(
    settings: ConnectionSettings,
    *,
    ssh_target: tuple[str, str, str | None] | None = None,
    ssh_identity_file: str | None = None,
) -> int:
    """Run the console until the user quits; returns the process exit code.

    `ssh_identity_file`: a private key SSH sessions try first (the demo simulator's client key)."""
    app = VmssConsoleApp(settings, ssh_target=ssh_target, ssh_identity_file=ssh_identity_file)
    try:
        result = app.run()
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        import sys

        print(f"vmss-tui: {one_line(error)}", file=sys.stderr)
        return 1
    if app.return_code not in (None, 0):
        return app.return_code
    return int(result or 0)
