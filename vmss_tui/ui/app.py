"""The console app: config, theme, keymap and palette; it creates the fleet store, the poller and
the fleet screen, connects to Azure, and keeps the heartbeat.

Data flows one way: the heartbeat asks the poller what is due (ui/poller.py), a worker fetches
through the Fleet and posts a report, the report's handler applies it to the store
(ui/store.py), and the store tells the fleet screen which panes to render (ui/panes/). Handlers
never wait on the network, so a key press is never blocked by a refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from vmss_tui.azure.errors import is_throttled
from vmss_tui.config import Config, load_config
from vmss_tui.ui import intents
from vmss_tui.ui.commands import ActionCommands, JumpCommands
from vmss_tui.ui.dialogs import ConfirmActionScreen, SubscriptionScreen
from vmss_tui.ui.errors import one_line
from vmss_tui.ui.panes.scale_sets import ScaleSetsPane
from vmss_tui.ui.poller import Failure, FetchContext, Poller, Track
from vmss_tui.ui.reports import SubscriptionsListed, TrackReported
from vmss_tui.ui.screens.fleet import FleetScreen
from vmss_tui.ui.store import ACTIONS, SELECTION, FleetStore
from vmss_tui.ui.subscriptions import SubscriptionFleets

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ConnectionSettings, Fleet

CONNECT_RETRY = 5.0  # seconds between attempts to connect
WATCH_TICK = 0.25  # the heartbeat while an action is watched (a refresh every second, not every 2)
REFRESH_TRACKS = ("scale_sets", "counts", "instances", "nat", "nsgs", "watch")


class VmssConsoleApp(App[int]):
    """`vmss-tui`: see the module docstring."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses may live elsewhere
    TITLE = "vmss-tui"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {JumpCommands, ActionCommands}
    HELP_SECTION = "Everywhere"

    BINDINGS = [
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
        all_subscriptions: bool | None = None,
        rollout_target: tuple[str, str | None] | None = None,
    ) -> None:
        """`all_subscriptions`: list the scale sets of every subscription (Resource Graph);
        None: as the config file says. `rollout_target`: (scale set, resource group or None) to
        open in the rollout view as soon as it is listed (`vmss-tui rollout`)."""
        super().__init__()
        self.settings = settings
        self.read_only = bool(settings.read_only)
        self.config = config if config is not None else load_config()
        self.config_problems: list[str] = list(self.config.problems)
        self.clock = clock
        self.heartbeat_seconds = heartbeat
        self.store = FleetStore(clock)
        self.store.subscription_id = settings.subscription_id or self.config.subscription
        if all_subscriptions is None:
            all_subscriptions = self.config.all_subscriptions
        self.store.all_subscriptions = self.all_subscriptions = all_subscriptions
        self.fleets: SubscriptionFleets | None = None  # with all_subscriptions, once connected
        self.poller = Poller(
            clock=clock,
            spawn=self._spawn,
            cancel_group=lambda name: self.workers.cancel_group(self, name),
            deliver=lambda report: self.post_message(TrackReported(report)),
            describe_error=one_line,
            is_throttled=is_throttled,
            on_success=self._track_succeeded,
            on_failure=self._track_failed,
        )
        self.poller.register(Track("connect", CONNECT_RETRY, self._fetch_fleet, self._connected,
                                   visible=lambda: self.poller.fleet is None, needs_fleet=False,
                                   discard=self._close_later, label="connect"))
        self.fleet_screen = FleetScreen(store=self.store, poller=self.poller, config=self.config,
                                        read_only=self.read_only, clock=clock, ssh_target=ssh_target,
                                        ssh_identity_file=ssh_identity_file, rollout_target=rollout_target)
        self._watch_timer: Any = None
        self._warned_clashes: set[str] = set()

    @property
    def fleet(self) -> Fleet | None:
        return self.poller.fleet

    def get_default_screen(self) -> Screen[Any]:
        return self.fleet_screen

    def on_mount(self) -> None:
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
        self.store.subscribe(self._store_changed)
        from vmss_tui.ui import rollout_view

        rollout_view.announce_unfinished_rollouts(self)  # a guarded rollout a crash or a quit left behind
        self.set_interval(self.heartbeat_seconds, self._heartbeat, name="heartbeat")
        # First frame first: the SDK modules load in the connect worker, after this paint, and
        # [keys] is checked in a thread (that imports every pane and screen module).
        self.call_after_refresh(self._heartbeat)
        if self.config.keys:
            self.call_after_refresh(self.run_worker, self._check_keymap, thread=True, exit_on_error=False)

    def _check_keymap(self) -> None:
        from vmss_tui.ui.bindings import keymap_problems

        config, problems = keymap_problems(self.config, type(self))
        with contextlib.suppress(RuntimeError):  # the app ended meanwhile
            self.call_from_thread(self._keymap_checked, config, problems)

    def _keymap_checked(self, config: Config, problems: tuple[str, ...]) -> None:
        self.config = config
        for problem in problems:
            self.notify(problem, title="Config", severity="warning", timeout=20)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification is plain text: it so often carries a name or an ARM message."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # ================================================================== heartbeat and tracks
    def _heartbeat(self) -> None:
        if self.poller.stopped:
            return
        self.poller.tick()
        self.fleet_screen.render_bars(titles=False)
        self._set_watch_timer(bool(self.store.watched(self.clock())))

    def _set_watch_timer(self, on: bool) -> None:
        if on and self._watch_timer is None and WATCH_TICK < self.heartbeat_seconds:
            self._watch_timer = self.set_interval(WATCH_TICK, self._heartbeat, name="watch")
        elif not on and self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer = None

    def _store_changed(self, topics: frozenset[str]) -> None:
        if ACTIONS in topics:
            self._set_watch_timer(bool(self.store.watched(self.clock())))
        if SELECTION in topics and self.fleets is not None:
            self._follow_selection()

    def _spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        if self.poller.stopped:
            work.close()  # the app is going: never started, never awaited
            return
        self.run_worker(work, group=name, exit_on_error=False)

    @on(TrackReported)
    def _track_reported(self, message: TrackReported) -> None:
        self.poller.report(message.report)
        self.fleet_screen.render_bars()

    def _track_succeeded(self, track: Track, now: float) -> None:
        if track.name != "connect":
            self.store.refreshed(now)

    def _track_failed(self, failure: Failure) -> None:
        self.store.record_error(failure.error)
        if failure.throttled:
            self.notify(f"ARM is throttling: refreshes paused for {failure.delay:.0f}s", severity="warning")
        elif failure.first:
            self.notify(failure.error, title=f"Refresh of {failure.track.label or failure.track.name} failed",
                        severity="error", timeout=8)

    # ================================================================== connecting
    def _fetch_fleet(self, context: FetchContext) -> Any:
        from vmss_tui.azure.fleet import Fleet

        async def connect() -> Fleet:
            # Heavy SDK imports happen off the event loop, so the first frame and keys stay live.
            await asyncio.to_thread(_preload_sdk, graph=self.all_subscriptions)
            return await Fleet.open(self.settings, subscription_id=self.store.subscription_id)

        if self.fleets is not None and self.store.subscription_id:
            return self.fleets.get(self.store.subscription_id)  # the selected scale set's subscription
        return connect()

    def _connected(self, fleet: Fleet) -> None:
        if self.poller.stopped:
            self._close_later(fleet)
            return
        if self.fleets is not None:
            self._use_fleet(fleet)
            self._follow_selection()  # the selection may have moved on while it opened
            return
        if self.all_subscriptions:
            self.fleets = self.fleet_screen.pane(ScaleSetsPane).fleets = SubscriptionFleets(fleet)
        self.poller.fleet = fleet
        self.store.subscription_id = fleet.subscription_id
        self.fleet_screen.request_refresh("scale_sets", "instances", "nat", "counts")

    def _close_later(self, fleet: Fleet) -> None:
        if self.fleets is None or not self.fleets.holds(fleet):
            self.run_worker(fleet.close(), exit_on_error=False)

    # ================================================================== every subscription
    def _follow_selection(self) -> None:
        """The session's Fleet is the selected scale set's subscription's: every pane, action and
        refresh of the selection goes to that subscription. A Fleet not open yet opens through
        the connect track (nothing reads the selection meanwhile)."""
        entry = self.store.selected()
        current = self.poller.fleet
        if entry is None or self.fleets is None or self.poller.stopped:
            return
        wanted = entry.scale_set.subscription_id
        if current is not None and current.subscription_id.casefold() == wanted.casefold():
            return
        cached = self.fleets.cached(wanted)
        if cached is not None:
            self._use_fleet(cached)
            return
        self.poller.fleet = None
        self.store.subscription_id = wanted
        self.poller.request_now("connect")
        self.call_later(self.poller.tick)

    def _use_fleet(self, fleet: Fleet) -> None:
        assert self.fleets is not None
        for track in ("instances", "nat"):
            self.poller.cancel(track)  # a refresh in flight reads the previous subscription
        self.poller.fleet = self.fleets.current = fleet
        self.store.subscription_id = fleet.subscription_id
        self.fleet_screen.request_refresh("instances", "nat", "scale_set_live")
        self.fleet_screen.pane(ScaleSetsPane).fleet_changed()

    def _jump_to_subscription(self, subscription_id: str) -> None:
        first = next((e for e in self.store.ordered()
                      if e.scale_set.subscription_id.casefold() == subscription_id.casefold()), None)
        if first is None:
            self.notify(f"No scale set listed in subscription {subscription_id}", severity="warning")
            return
        self.fleet_screen.jump_to_scale_set(first.scale_set.id)

    # ================================================================== subscriptions
    @on(intents.SwitchSubscription)
    def switch_subscription(self, message: intents.SwitchSubscription) -> None:
        if message.subscription_id:
            self._reconnect(message.subscription_id)
            return
        fleet = self.fleet
        if fleet is None:
            self.notify("Not connected yet", severity="warning")
            return

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
            if subscription_id and subscription_id != self.store.subscription_id:
                self._reconnect(subscription_id)

        self.push_screen(SubscriptionScreen(message.subscriptions, self.store.subscription_id), picked)

    def _reconnect(self, subscription_id: str) -> None:
        if self.all_subscriptions:  # every subscription is listed already: go to its scale sets
            self._jump_to_subscription(subscription_id)
            return
        old = self.poller.fleet
        self.poller.fleet = None
        for track in REFRESH_TRACKS:
            self.poller.cancel(track)
        self.store.clear(subscription_id)
        if old is not None:
            self._close_later(old)
        self.poller.request_now("connect")
        self.fleet_screen.show_view("vmss")
        self.notify(f"Switching to subscription {subscription_id}", timeout=3)

    # ================================================================== config and shutdown
    async def action_quit(self) -> None:
        """ctrl+q: at once, unless something would end or be left running; then it asks first."""
        blockers = self.fleet_screen.quit_blockers() if self.fleet_screen.ready else []
        from vmss_tui.ui import rollout_view

        blockers += rollout_view.quit_blockers(self)  # guarded rollouts whose tab is closed
        if not blockers:
            self.exit(0)
            return

        def answered(ok: bool | None) -> None:
            if ok:
                self.exit(0)

        self.push_screen(ConfirmActionScreen(
            "Quit vmss-tui?", "Quitting now means:", [f"• {text}" for text in blockers], "Quit",
            destructive=True), answered)

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

    def exit(self, result: Any = None, return_code: int = 0, message: Any = None) -> None:
        self.poller.stopped = True
        super().exit(result, return_code, message)

    async def on_unmount(self) -> None:
        self.poller.stopped = True
        self.workers.cancel_all()  # before the clients they use are closed
        fleet, self.poller.fleet = self.poller.fleet, None
        if fleet is not None:
            try:
                await asyncio.wait_for(fleet.close(), timeout=3)
            except Exception:  # noqa: BLE001 - closing is best effort on the way out
                pass
        if self.fleets is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.fleets.close(), timeout=3)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Every worker catches its own errors; this is the net under that net.
        if event.state.name == "ERROR" and event.worker.error is not None:
            self.store.record_error(one_line(event.worker.error))


def _preload_sdk(*, graph: bool = False) -> None:
    """Import the heavy SDK modules (run in a thread); `graph`: Resource Graph's too."""
    import importlib

    for name in ("azure.mgmt.compute.aio", "azure.mgmt.network.aio", *(("azure.mgmt.resourcegraph.aio",) if graph else ())):
        importlib.import_module(name)
