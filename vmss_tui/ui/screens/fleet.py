"""The fleet screen: scale sets, instances, NAT and disks, in a wide layout (all panes at once)
or a compact one (one pane at a time), with SSH sessions in tabs beside them.

The screen hosts the panes (it is their `PaneHost`: store, poller, config, visibility) and
handles what they ask for (intents); it renders nothing itself but the top bar and the status
line. A new pane is one module plus one line in PANES.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Key, Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, TabbedContent, TabPane

from vmss_tui.ui import intents
from vmss_tui.ui.action_flow import ActionFlow
from vmss_tui.ui.details import DetailsScreen
from vmss_tui.ui.help import EVERYWHERE, HelpScreen, help_rows, mutating_bindings, section_of
from vmss_tui.ui.panes.base import FleetPane, Line
from vmss_tui.ui.panes.disks import DisksPane
from vmss_tui.ui.panes.instances import InstancesPane
from vmss_tui.ui.panes.nat import NatPane
from vmss_tui.ui.panes.scale_sets import ScaleSetsPane
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.prompt import PromptInput
from vmss_tui.ui.reports import ActionDone, ActionProgress
from vmss_tui.ui.screens.command_line import TABLE_OF_VIEW, CommandLineMixin
from vmss_tui.ui.screens.tabs import FLEET_TAB, TabsMixin
from vmss_tui.ui.ssh_tabs import SshTabs
from vmss_tui.ui.status import VIEW_TITLES, VIEWS, crumbs_text, status_text, viewbar_text
from vmss_tui.ui.store import INSTANCES, SCALE_SETS, FleetStore

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.config import Config
    from vmss_tui.ui.poller import Poller

# The panes, in layout order: (class, widget id). One line per pane.
PANES: tuple[tuple[type[FleetPane], str], ...] = (
    (ScaleSetsPane, "vmss-pane"),
    (InstancesPane, "inst-pane"),
    (NatPane, "nat-pane"),
    (DisksPane, "disk-pane"),
)
BACK_FROM = {"inst": "vmss", "nat": "inst", "disk": "inst"}

# Wide layout (all panes at once) from this size up; below it one pane at a time.
WIDE_MIN_WIDTH = 120
WIDE_MIN_HEIGHT = 34
NARROW_COLUMNS_BELOW = 110  # fewer, shorter columns below this width
SELECTION_DEBOUNCE = 0.2  # seconds the cursor must rest on a scale set before it is loaded
WATCH_REFRESH = 1.0  # how often a watched scale set's instances are read


class FleetScreen(TabsMixin, CommandLineMixin, Screen[None]):
    HELP_SECTION = EVERYWHERE
    BINDINGS: ClassVar[list[Any]] = [
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
    ]

    def __init__(
        self,
        *,
        store: FleetStore,
        poller: Poller,
        config: Config,
        read_only: bool,
        clock: Any,
        ssh_target: tuple[str, str, str | None] | None = None,
        ssh_identity_file: str | None = None,
        rollout_target: tuple[str, str | None] | None = None,
    ) -> None:
        from vmss_tui.ui.rollout_view import RolloutOnStart

        super().__init__()
        self.store = store
        self.poller = poller
        self.config = config
        self.read_only = read_only
        self._clock = clock
        self.ssh_identity_file = ssh_identity_file
        self.view = "vmss"
        self.wide = False
        self.actions = ActionFlow(self)
        self.ssh = SshTabs(self, ssh_target)
        self.rollout_start = RolloutOnStart(rollout_target)  # `vmss-tui rollout SCALE_SET`
        self._pending_selection: Any = None
        self._gc_frozen = False
        self._ready = False  # composed and mounted, not being taken down
        # Kept by reference: renders reach them even while a dialog is on top or the app closes.
        self.crumbs = Line(id="crumbs")
        self.viewbar = Line(id="viewbar")
        self.status = Line(id="status")
        self.prompt = PromptInput()
        self.footer = Footer(compact=True, show_command_palette=False, id="footer")
        self._panes = [cls(self, id=widget_id) for cls, widget_id in PANES]
        self._tabs = TabbedContent(id="tabs")
        self._pane_box = Vertical(id="panes")
        self._lower = Horizontal(id="lower")

    # ================================================================== PaneHost
    def clock(self) -> float:
        return float(self._clock())

    @property
    def fleet(self) -> Fleet | None:
        return self.poller.fleet

    def pane_visible(self, view: str) -> bool:
        if not self.ready:
            return False  # being set up or taken down
        if self.tabs.active not in (FLEET_TAB, ""):
            return False
        return self.wide or self.view == view

    def showing_instances(self) -> bool:
        return any(self.pane_visible(v) for v in ("inst", "nat", "disk"))

    def selected_first(self) -> bool:
        entry = self.store.selected()
        return entry is not None and entry.instances is None and self.showing_instances()

    def push_screen(self, screen: Screen[Any], callback: Any = None) -> Any:
        """A dialog or view over this screen (for the flows this screen hosts)."""
        return self.app.push_screen(screen, callback)

    def start_action(self, label: str, scale_set: Any, call: Any, *, pending: str = "",
                     instance_keys: frozenset[str] = frozenset(), scale_set_pending: str = "") -> None:
        self.actions.start(label, scale_set, call, pending=pending, instance_keys=instance_keys,
                           scale_set_pending=scale_set_pending)

    def one_line(self, error: BaseException) -> str:
        from vmss_tui.ui.errors import one_line

        return one_line(error)

    # ================================================================== layout
    def compose(self) -> ComposeResult:
        panes = {type(pane): pane for pane in self._panes}
        with self._tabs:
            with TabPane("Fleet", id=FLEET_TAB):
                with Horizontal(id="topbar"):
                    yield self.crumbs
                    yield self.viewbar
                with self._pane_box:
                    yield panes[ScaleSetsPane]
                    yield panes[InstancesPane]
                    with self._lower:
                        yield panes[NatPane]
                        yield panes[DisksPane]
        yield self.prompt
        yield self.status
        yield self.footer

    @property
    def tabs(self) -> TabbedContent:
        return self._tabs

    @property
    def panes(self) -> list[FleetPane]:
        return list(self._panes)

    def pane(self, pane_type: type[FleetPane]) -> Any:
        return next(p for p in self._panes if isinstance(p, pane_type))

    def on_mount(self) -> None:
        for pane in self.panes:
            for track in pane.tracks():
                self.poller.register(track)
        self.store.subscribe(self._store_changed)
        self.prompt.display = False
        self.update_tab_bar()
        self._apply_layout(self.app.size.width, self.app.size.height)
        self.pane(ScaleSetsPane).table.focus()
        self._ready = True
        for pane in self.panes:
            pane.show()
        self.render_bars()

    @property
    def ready(self) -> bool:
        return self._ready and not self.poller.stopped

    def on_unmount(self) -> None:
        self._ready = False
        self.store.unsubscribe(self._store_changed)

    def on_screen_suspend(self) -> None:
        # A dialog shows through to the console: the console's footer would offer keys that do
        # nothing while the dialog is open. Hidden, not removed, so the layout does not move.
        self.footer.styles.visibility = "hidden"

    def on_screen_resume(self) -> None:
        self.footer.styles.visibility = "visible"

    def on_resize(self, event: Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        self.wide = width >= WIDE_MIN_WIDTH and height >= WIDE_MIN_HEIGHT
        panes = self._pane_box
        panes.set_class(self.wide, "-wide")
        panes.set_class(not self.wide, "-compact")
        narrow = width < NARROW_COLUMNS_BELOW
        for table in self.query(LiveTable):
            table.set_narrow(narrow)
        self._show_panes()

    def _show_panes(self) -> None:
        for pane in self.panes:
            pane.display = self.wide or pane.VIEW == self.view
        self._lower.display = self.wide or self.view in ("nat", "disk")
        self.render_bars()

    # ================================================================== store changes
    def _store_changed(self, topics: frozenset[str]) -> None:
        if not self.ready:
            return
        for pane in self.panes:
            if pane.TOPICS & topics:
                pane.show()
        if SCALE_SETS in topics and self.store.selected_id is None and self.store.entries:
            key = self.pane(ScaleSetsPane).table.cursor_key
            if key is not None:
                self.select_scale_set(key)
        selected = self.store.selected()
        if INSTANCES in topics and not self._gc_frozen and selected is not None and selected.instances is not None:
            # Everything loaded so far (modules, widgets, the first data) lives as long as the
            # app: keep it out of the cyclic collector, whose full passes over it paused the UI
            # for ~200 ms with a 1,000-instance scale set.
            gc.freeze()
            self._gc_frozen = True
        self.ssh.fleet_changed()
        self.rollout_start.fleet_changed(self)
        self.render_bars()

    def render_bars(self, *, titles: bool = True) -> None:
        """The top bar and the status line (and, unless told not to, the panes' titles, which
        say whether their data is stale: the heartbeat leaves them to the refreshes)."""
        if not self.ready:
            return
        now = self.clock()
        running = sorted(self.store.running.values(), key=lambda run: run.id)
        self.crumbs.set(crumbs_text(self.store.selected(), self.store.cursor_instance(), self.view, running, now))
        compact = self.app.size.width < NARROW_COLUMNS_BELOW
        self.viewbar.set(viewbar_text(self.view, compact=compact), layout=True)
        self.render_status()
        if not titles:
            return
        for pane in self.panes:
            show_title = getattr(pane, "show_title", None)
            if show_title is not None:
                show_title()

    def render_status(self) -> None:
        if not self.ready:
            return
        fleet = self.fleet
        plan = self.poller.plan
        connect = plan.tracks.get("connect")
        ids = [pane.id for pane in self.tabs.query(TabPane)]
        tab = (ids.index(self.tabs.active) + 1 if self.tabs.active in ids else 1, len(ids)) if len(ids) > 1 else None
        self.status.set(status_text(
            read_only=self.read_only, subscription_id=self.store.subscription_id, wide=self.wide,
            connected=fleet is not None, connecting=bool(connect and connect.in_flight),
            last_refresh=self.store.last_refresh, throttling=fleet.throttling if fleet else None,
            slowed=plan.slow, stale=self.poller.stale_tracks(), last_error=self.store.last_error,
            last_error_at=self.store.last_error_at, now=self.clock(), tab=tab,
        ))

    # ================================================================== views and focus
    def show_view(self, view: str, *, focus: bool = True) -> None:
        if view not in VIEWS:
            return
        if view != "vmss" and self._pending_selection is not None:
            self._commit_selection()
        self.view = view
        if self.tabs.active != FLEET_TAB:
            self.tabs.active = FLEET_TAB
        self._show_panes()
        if focus:  # at once: a deferred focus would take the keys back from a prompt opened meanwhile
            self.set_focus(self.query_one(TABLE_OF_VIEW[view], LiveTable))
        self.app.call_later(self.poller.tick)  # what just came on screen is refreshed if its data is old

    def on_descendant_focus(self, event: Any) -> None:
        widget = getattr(event, "widget", None)
        if widget is not self.focused:
            return  # a focus that another one replaced meanwhile (events of two widgets race)
        for view, selector in TABLE_OF_VIEW.items():
            if widget is not None and widget.id == selector[1:]:
                self.view = view
        if widget is not None and widget.id == "model-disks":
            self.view = "disk"
        self.render_bars()

    def focused_table(self) -> LiveTable | None:
        return self.focused if isinstance(self.focused, LiveTable) else None

    def focused_pane(self) -> FleetPane | None:
        node = self.focused
        while node is not None and not isinstance(node, FleetPane):
            node = node.parent  # type: ignore[assignment]
        return node

    # ================================================================== selection
    @on(DataTable.RowHighlighted, "#vmss")
    def _scale_set_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is None or key == self.store.selected_id:
            self._pending_cancel()
            return
        if self.store.selected_id is None:
            self.select_scale_set(key)
            return
        self._pending_cancel()
        self._pending_selection = self.set_timer(SELECTION_DEBOUNCE, self._commit_selection, name="select")

    def _pending_cancel(self) -> None:
        if self._pending_selection is not None:
            self._pending_selection.stop()
            self._pending_selection = None

    def _commit_selection(self) -> None:
        self._pending_cancel()
        key = self.pane(ScaleSetsPane).table.cursor_key
        if key is not None and key != self.store.selected_id:
            self.select_scale_set(key)

    def select_scale_set(self, key: str) -> None:
        if key not in self.store.entries:
            return
        # A refresh of the previous scale set is of no use any more.
        for track in ("instances", "nat"):
            self.poller.cancel(track)
        instances = self.pane(InstancesPane).table
        self.store.select(key)
        if instances.row_count:
            instances.move_cursor(row=0)
        self.store.move_instance_cursor(instances.cursor_key)
        self.request_refresh("instances", "nat")

    @on(DataTable.RowHighlighted, "#instances")
    def _instance_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.store.move_instance_cursor(event.row_key.value)

    def jump_to_scale_set(self, scale_set_id: str) -> None:
        table = self.pane(ScaleSetsPane).table
        if table.row_filter.active and scale_set_id not in table.visible_keys:
            table.set_filter("")
        table.move_to_key(scale_set_id)
        self._pending_cancel()
        if scale_set_id != self.store.selected_id:
            self.select_scale_set(scale_set_id)
        self.show_view("inst")

    def jump_to_instance(self, scale_set_id: str, instance_key: str) -> None:
        self.jump_to_scale_set(scale_set_id)
        table = self.pane(InstancesPane).table
        if table.row_filter.active and instance_key not in table.visible_keys:
            table.set_filter("")
        table.move_to_key(instance_key)

    # ================================================================== refresh and watching
    def request_refresh(self, *tracks: str) -> None:
        self.poller.request_now(*(tracks or ("scale_sets", "counts", "instances", "nat")))
        self.app.call_later(self.poller.tick)

    def watch_scale_set(self, scale_set_id: str) -> None:
        """Read this scale set's instances every WATCH_REFRESH from now on (while watched)."""
        if scale_set_id == self.store.selected_id and "instances" in self.poller:
            state = self.poller.plan["instances"]
            state.interval = min(state.interval, WATCH_REFRESH)
            self.poller.due_within("instances", WATCH_REFRESH)
        self.poller.due_within("watch", WATCH_REFRESH)

    def action_refresh_now(self) -> None:
        self.request_refresh("scale_sets", "counts", "instances", "nat", "nsgs")
        self.notify("Refreshing", timeout=1.5)

    # ================================================================== intents
    @on(intents.ShowView)
    def _show_view_intent(self, message: intents.ShowView) -> None:
        self.show_view(message.view)

    @on(intents.RunInstanceAction)
    def _run_instance_action(self, message: intents.RunInstanceAction) -> None:
        self.actions.request_instance_action(message.action)

    @on(intents.RunScaleSetAction)
    def _run_scale_set_action(self, message: intents.RunScaleSetAction) -> None:
        self.actions.request_scale_set_action(message.action, message.scale_set_id or self.store.selected_id)

    @on(ActionProgress)
    def _action_progress(self, message: ActionProgress) -> None:
        self.actions.progress(message)

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        self.actions.done(message)

    @on(intents.ToggleMark)
    def _toggle_mark(self, message: intents.ToggleMark) -> None:
        if message.instance_key is not None:
            self.store.toggle_mark(message.instance_key)

    @on(intents.MarkInstances)
    def _mark(self, message: intents.MarkInstances) -> None:
        self.store.mark(message.instance_keys)

    @on(intents.ClearMarks)
    def _clear_marks(self) -> None:
        self.store.clear_marks()

    @on(intents.ShowRollout)
    def _show_rollout(self, message: intents.ShowRollout) -> None:
        from vmss_tui.ui.rollout_view import open_rollout_view

        entry = self.store.entries.get(message.scale_set_id or self.store.selected_id or "")
        if entry is None:
            self.notify("No scale set selected", severity="warning")
            return
        open_rollout_view(self, entry.scale_set)

    @on(intents.ChangeModel)
    def _change_model(self, message: intents.ChangeModel) -> None:
        from vmss_tui.ui.model_dialog import request_model_change

        entry = self.store.entries.get(message.scale_set_id or self.store.selected_id or "")
        if entry is None:
            self.notify("No scale set selected", severity="warning")
            return
        request_model_change(self, entry.scale_set)

    @on(intents.OpenSsh)
    def _open_ssh(self, message: intents.OpenSsh) -> None:
        self.ssh_to_cursor(new=message.new)

    def ssh_to_cursor(self, *, new: bool = False) -> None:
        entry = self.store.selected()
        focused = self.focused_pane()
        instance = focused.cursor_instance() if isinstance(focused, NatPane) else self.store.cursor_instance()
        if entry is None or instance is None:
            self.notify("No instance selected", severity="warning")
            return
        self.ssh.open(entry.scale_set, instance, new=new)

    @on(intents.ShowDetails)
    def _show_details(self, message: intents.ShowDetails) -> None:
        self.action_details(message.mode)

    def action_details(self, mode: str) -> None:
        pane = self.focused_pane() or self.pane(InstancesPane)
        subject, json_text, description = pane.details()
        if subject is None and not isinstance(pane, ScaleSetsPane):
            subject, json_text, description = self.pane(DisksPane).details()
        if subject is None:
            self.notify("Nothing selected", severity="warning")
            return
        self.app.push_screen(DetailsScreen(subject, json_text, description, mode))

    def action_help(self) -> None:
        focused = self.focused
        if isinstance(focused, PromptInput):
            pane = "Prompt"
        elif self.tabs.active not in (FLEET_TAB, ""):  # an SSH session, a rollout view ...
            pane = section_of(focused) if focused is not None else None
            pane = pane or "This tab"
        else:
            pane = VIEW_TITLES.get(self.view, "Console")
        where = str(self.config.path) if self.config.path else "config.toml in your config directory"
        hint = Text("Commands: :vmss :inst :nat :disk :sub [id] :q   ·   ctrl+p palette   ·   Esc closes\n"
                    f'Remap any key in {where}: [keys] "binding.id" = "key"')
        rows = help_rows(self, read_only=self.read_only, keymap=self.config.keys)
        self.app.push_screen(HelpScreen(pane, rows, hint))

    def on_key(self, event: Key) -> None:
        """In a read-only session, a key bound to a mutating action says so instead of nothing."""
        if not self.read_only or isinstance(self.focused, Input) or event.key in self.active_bindings:
            return
        for _node, binding in mutating_bindings(self.focused, self.config.keys):
            if binding.key == event.key:
                self.actions._refuse_read_only(binding.description or binding.action)
                event.stop()
                return

    # ================================================================== keys
    def action_view(self, view: str) -> None:
        self.show_view(view)

    def action_back(self) -> None:
        table = self.focused_table()
        if table is not None and table.row_filter.active:
            table.set_filter("")
            self.render_bars()
            return
        back = BACK_FROM.get(self.view)
        if back is not None:
            self.show_view(back)
