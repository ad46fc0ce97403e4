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
from vmss_tui.config import Config, load_config, unknown_binding_problems
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
        loaded = config if config is not None else load_config()
        self.config, unknown = unknown_binding_problems(loaded, all_binding_ids())
        self.config_problems: list[str] = [*loaded.problems, *unknown]
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
        # First frame first: the SDK modules load in the connect worker, after this paint.
        self.call_after_refresh(self._heartbeat)

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


def binding_classes() -> list[type]:
    """Every class of the console that declares key bindings: the app, and the widgets and
    screens of every module of vmss_tui.ui (a new pane or view is found without a list to keep)."""
    import importlib
    import pkgutil

    from textual.widget import Widget

    import vmss_tui.ui as ui_package

    classes: list[type] = [VmssConsoleApp]
    for info in pkgutil.walk_packages(ui_package.__path__, ui_package.__name__ + "."):
        if info.name == __name__:
            continue
        module = importlib.import_module(info.name)
        classes.extend(
            obj for obj in vars(module).values()
            if isinstance(obj, type) and obj.__module__ == module.__name__ and issubclass(obj, Widget | Screen)
            and vars(obj).get("BINDINGS")
        )
    return classes


def all_binding_ids() -> set[str]:
    """Every binding id the config's [keys] may name."""
    ids: set[str] = set()
    for cls in binding_classes():
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
    all_subscriptions: bool | None = None,
    rollout_target: tuple[str, str | None] | None = None,
) -> int:
    """Run the console until the user quits; returns the process exit code.

    `ssh_identity_file`: a private key SSH sessions try first (-i, or the demo simulator's key).
    `all_subscriptions`: None means as the config file says. `rollout_target`: (scale set,
    resource group or None) to open in the rollout view (`vmss-tui rollout`).
    Without a terminal (standard input and Textual's output, standard error) it says so and
    returns 2 at once, instead of spinning on a closed input; not under another Textual driver
    ($TEXTUAL_DRIVER: `vmss-tui serve` runs each browser tab's console through pipes). SIGTERM,
    SIGHUP and SIGINT end it as a quit does (the terminal restored) and it returns 128 + the
    signal number."""
    import contextlib
    import os
    import signal
    import sys
    from dataclasses import replace

    from textual.widget import Widget

    from vmss_tui.azure.errors import FleetError
    from vmss_tui.config import binding_clash_problems, bindings_of, sources_of
    from vmss_tui.ui import dialogs, help, prompt, ssh_pane
    from vmss_tui.ui.details import DetailsScreen
    from vmss_tui.ui.panes import disks, instances, nat, scale_sets

    def say(line: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a terminal that is gone (SIGHUP)
            print(line, file=sys.stderr, flush=True)

    terminals = () if os.environ.get("TEXTUAL_DRIVER") else (("standard input", sys.__stdin__),
                                                              ("standard error", sys.__stderr__))
    for name, stream in terminals:
        try:
            is_terminal = stream is not None and stream.isatty()
        except (OSError, ValueError):  # closed
            is_terminal = False
        if not is_terminal:
            say(f"vmss-tui: the console needs a terminal, and its {name} is not one "
                "(for scripts and cron: `vmss-tui get ...`)")
            return 2

    # Keys that [keys] binds to two actions of one pane: said with the other config problems.
    config = load_config()
    owners: dict[str, list[tuple[str, str]]] = {}
    for module in (dialogs, help, prompt, ssh_pane, disks, instances, nat, scale_sets):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and cls.__module__ == module.__name__ and issubclass(cls, Widget)):
                continue
            chain = [cls, VmssConsoleApp] if issubclass(cls, Screen) else [cls, FleetScreen, VmssConsoleApp]
            owners[getattr(cls, "HELP_SECTION", None) or cls.__name__] = bindings_of(chain)
    owners["the fleet screen"] = bindings_of([FleetScreen, VmssConsoleApp])
    owners["details"] = bindings_of([DetailsScreen, VmssConsoleApp])
    clashes = binding_clash_problems(config, owners)
    if clashes:
        config = replace(config, problems=(*config.problems, *clashes))

    options: dict[str, Any] = {"rollout_target": rollout_target} if rollout_target is not None else {}
    app = VmssConsoleApp(settings, config=config, ssh_target=ssh_target, ssh_identity_file=ssh_identity_file,
                         all_subscriptions=all_subscriptions, **options)

    # "check --subscription" names the place the value really came from (environment, config line).
    sources = sources_of(endpoint=settings.arm_endpoint, subscription=settings.subscription_id, config=config,
                         environ=os.environ, endpoint_env="VMSS_TUI_ARM_ENDPOINT",
                         subscription_env="AZURE_SUBSCRIPTION_ID")
    describe = app.poller.describe_error

    def described(error: BaseException) -> str:
        if isinstance(error, FleetError):
            error.hint = sources.hint(error.hint)
        return describe(error)

    app.poller.describe_error = described

    stopping: list[int] = []
    previous: dict[int, Any] = {}

    def stop(signum: int, frame: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the app's loop is not running (yet, or any more)
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)
            raise KeyboardInterrupt from None
        if not stopping:  # once: a second signal while the app winds down changes nothing
            stopping.append(signum)
            loop.call_soon_threadsafe(lambda: app.exit(None, 128 + signum))

    with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            previous[signum] = signal.signal(signum, stop)
    try:
        result = app.run()
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        say(f"vmss-tui: {one_line(error)}")
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopping:
        return 128 + stopping[0]
    if app.return_code not in (None, 0):
        return app.return_code
    return int(result or 0)
