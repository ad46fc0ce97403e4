"""The chaos run (no tests here): the console driven through ARM faults while keys are pressed.

    report = await run_chaos(sim, duration=40.0, min_requests=300)

The console under test is the real one (VmssConsoleApp, headless through Textual's Pilot), on a
simulator reached through `FlakyProxy`, a TCP proxy on loopback that can reset connections in
the middle of a request. Phases follow each other, each a mix of the simulator's knobs: 429
storms (`throttle_after` and injected 429s with Retry-After), 500s, 503s, latency spikes,
dropped connections, failed operations (`fail_action`) and 403s (`forbidden`). Keys are pressed
all along, each one with a condition that says it was answered (a view change, a dialog that
opened or closed, an action submitted). When the faults stop, the run waits for the stale marks
to clear. Used by tests/test_chaos.py (short) and benchmarks/chaos.py (long).

What counts as a failure: the app exiting or raising (a crash), a record at ERROR or above in
any logger, an exception the event loop's handler saw ("Task exception was never retrieved"),
a worker that ended in ERROR, and a key step whose condition did not hold within KEY_LIMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.worker import Worker

from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.config import Config, RefreshSettings
from vmss_tui.ui.app import VmssConsoleApp

KEY_LIMIT = 10.0  # seconds for a key step's effect to show (generous: 2 shared cores, several test runs)
RECOVERY_LIMIT = 150.0  # the console backs off up to THROTTLED_MIN_BACKOFF (60 s) after throttling


class FlakyProxy:
    """TCP proxy to the simulator; `drop_rate` of the client's writes reset the connection."""

    def __init__(self, target_port: int, rng: random.Random) -> None:
        self.target_port = target_port
        self.rng = rng
        self.drop_rate = 0.0
        self.dropped = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return

        def reset() -> None:
            writer.transport.abort()  # RST to the client, mid-request
            up_writer.transport.abort()

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                if self.drop_rate and self.rng.random() < self.drop_rate:
                    self.dropped += 1
                    reset()
                    return
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        tasks = [asyncio.ensure_future(client_to_server()), asyncio.ensure_future(server_to_client())]
        for task in tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        for each in (writer, up_writer):
            with contextlib.suppress(Exception):
                each.transport.abort()


class ChaosApp(VmssConsoleApp):
    """The console, counting the workers that end in ERROR (the app's own net records them too)."""

    worker_errors: list[str]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state.name == "ERROR":
            self.worker_errors.append(f"{event.worker.name}: {event.worker.error!r}")
        super().on_worker_state_changed(event)


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}"[:500])


@dataclass
class Phase:
    name: str
    apply: Callable[[Any, FlakyProxy], None]


@dataclass
class ChaosReport:
    duration: float = 0.0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    faulted: int = 0  # requests the simulator answered with a fault status (4xx/5xx)
    dropped: int = 0  # connections the proxy reset mid-request
    phases: list[str] = field(default_factory=list)
    keys: int = 0
    keys_answered: int = 0
    unanswered: list[str] = field(default_factory=list)
    key_latency: list[float] = field(default_factory=list)
    actions_submitted: int = 0
    actions_failed: int = 0
    crashed: str | None = None
    error_records: list[str] = field(default_factory=list)
    loop_exceptions: list[str] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)
    at_exit: list[str] = field(default_factory=list)  # the same, once the console was told to quit
    stale_seen: bool = False
    stale_shown: bool = False  # the status line said so
    stale_cleared: bool = False
    recovery_seconds: float | None = None

    @property
    def unhandled(self) -> int:
        return len(self.error_records) + len(self.loop_exceptions) + len(self.worker_errors)

    def latency(self, q: float) -> float:
        if not self.key_latency:
            return 0.0
        ordered = sorted(self.key_latency)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration, 1),
            "arm_requests": self.requests,
            "faulted_answers": self.faulted,
            "dropped_connections": self.dropped,
            "statuses": dict(sorted(self.statuses.items())),
            "phases": len(self.phases),
            "keys_pressed": self.keys,
            "keys_answered": self.keys_answered,
            "key_latency_ms": {"p50": round(1000 * statistics.median(self.key_latency or [0]), 1),
                               "p95": round(1000 * self.latency(0.95), 1),
                               "max": round(1000 * max(self.key_latency or [0]), 1)},
            "actions_submitted": self.actions_submitted,
            "actions_failed": self.actions_failed,
            "crashes": 0 if self.crashed is None else 1,
            "unhandled_exceptions": self.unhandled,
            "unhandled_at_exit": len(self.at_exit),
            "stale_shown": self.stale_shown,
            "stale_cleared": self.stale_cleared,
            "recovery_s": None if self.recovery_seconds is None else round(self.recovery_seconds, 1),
        }


def _clear(sim: Any, proxy: FlakyProxy) -> None:
    sim.faults.clear()
    sim.world.action_faults.clear()
    sim.forbidden.clear()
    sim.latency = 0.0
    sim.throttle_after = None
    proxy.drop_rate = 0.0


def phases_for(sim: Any, *, storm: bool = False) -> list[Phase]:
    """The fault phases, in order (each replaces the one before). `storm`: the 429 phase also
    caps the simulator's reads (`throttle_after`), so every refresh meets 429s for a while and
    the console backs off for a minute, as it must; without it, the 429s hit one kind of call."""
    api = next(s for s in sim.world.scale_sets.values() if s.spec.name == "vmss-api")
    actions = ("restart", "powerOff", "start", "deallocate")

    def throttle(s: Any, p: FlakyProxy) -> None:
        s.add_fault(r"/networkInterfaces", 429, count=8, retry_after=1)
        if storm:
            s.throttle_after = 40  # reads in the simulator's window; then 429 + Retry-After

    def server_errors(s: Any, p: FlakyProxy) -> None:
        s.add_fault(r".", 500, count=25)

    def unavailable(s: Any, p: FlakyProxy) -> None:
        s.add_fault(r".", 503, count=25, retry_after=1)

    def slow(s: Any, p: FlakyProxy) -> None:
        s.latency = 1.5

    def dropping(s: Any, p: FlakyProxy) -> None:
        p.drop_rate = 0.3

    def failed_operations(s: Any, p: FlakyProxy) -> None:
        for action in actions:
            s.fail_action(action, code="InternalExecutionError", message="Injected: the operation failed.",
                          count=None)

    def forbidden(s: Any, p: FlakyProxy) -> None:
        s.forbidden.add(api.id.lower())
        s.add_fault(r"networkSecurityGroups", 403, code="AuthorizationFailed", count=20,
                    message="The client does not have authorization to perform action read.")
        # Not retried by the SDK (500s and 503s are, and a busy machine's slower refreshes may
        # see every one of them absorbed): one scale-set refresh fails for sure, so the console
        # has stale data to show; once only, so no track backs off for long.
        s.add_fault(r"/virtualMachineScaleSets$", 403, code="AuthorizationFailed", count=1,
                    message="The client does not have authorization to perform action read.")

    def mixed(s: Any, p: FlakyProxy) -> None:
        s.add_fault(r"loadBalancers", 500, count=10)
        s.add_fault(r"virtualMachineScaleSets$", 503, count=5, retry_after=1)
        s.latency = 0.4
        p.drop_rate = 0.1
        failed_operations(s, p)

    return [Phase("429 throttling", throttle), Phase("500s", server_errors), Phase("503s", unavailable),
            Phase("latency 1.5 s", slow), Phase("dropped connections", dropping),
            Phase("failed operations", failed_operations), Phase("403s", forbidden), Phase("mixed", mixed)]


def _status_text(app: Any) -> str:
    with contextlib.suppress(Exception):
        rendered = app.fleet_screen.status.render()
        return str(getattr(rendered, "plain", rendered))
    return ""


async def _sample_staleness(app: Any, report: ChaosReport) -> None:
    """Whether refreshes were stale, and whether the status line said so, looked at 20 times a second."""
    while True:
        if app.poller.stale_tracks():
            report.stale_seen = True
            if any(word in _status_text(app) for word in ("stale", "throttled")):
                report.stale_shown = True
        await asyncio.sleep(0.05)


async def _until(pilot: Any, predicate: Callable[[], bool], limit: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def run_chaos(sim: Any, *, duration: float, min_requests: int, phase_seconds: float = 5.0,
                    storm: bool = False, seed: int = 11, size: tuple[int, int] = (160, 45),
                    on_phase: Callable[[str], None] | None = None) -> ChaosReport:
    """Drive the console for at least `duration` seconds and `min_requests` ARM requests."""
    rng = random.Random(seed)
    report = ChaosReport()
    proxy = FlakyProxy(sim.port, rng)
    await proxy.start()
    settings = ConnectionSettings(arm_endpoint=proxy.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, polling_interval=0.05)
    config = Config(refresh=RefreshSettings(instances=1.0, scale_sets=1.0, nat=1.0))
    app = ChaosApp(settings, config=config)
    app.worker_errors = report.worker_errors
    errors = _ErrorRecords()
    logging.getLogger().addHandler(errors)
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()

    def on_loop_exception(loop_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        report.loop_exceptions.append(str(context.get("message")) + ": " + repr(context.get("exception")))

    loop.set_exception_handler(on_loop_exception)
    first_request = sim.request_count
    log_start = len(sim.arm.request_log)
    started = time.monotonic()
    try:
        async with app.run_test(size=size) as pilot:
            await _until(pilot, lambda: app.store.loaded_once, 90.0)
            sampling = asyncio.ensure_future(_sample_staleness(app, report))
            phases = phases_for(sim, storm=storm)
            phase_index = -1
            phase_started = 0.0
            step_index = 0
            while True:
                now = time.monotonic()
                elapsed = now - started
                enough = elapsed >= duration and sim.request_count - first_request >= min_requests
                if enough:
                    break
                if phase_index < 0 or now - phase_started >= phase_seconds:
                    phase_index += 1
                    phase = phases[phase_index % len(phases)]
                    _clear(sim, proxy)
                    phase.apply(sim, proxy)
                    phase_started = now
                    report.phases.append(phase.name)
                    if on_phase:
                        on_phase(phase.name)
                await _key_step(pilot, app, step_index, report)
                step_index += 1
                if not app.is_running:
                    report.crashed = f"the app stopped (return code {app.return_code})"
                    break
            # The faults stop: the stale marks must go (a refresh asked for, then waited for).
            sampling.cancel()
            _clear(sim, proxy)
            recovery_started = time.monotonic()
            if app.screen is not app.fleet_screen or app.fleet_screen.prompt.display:
                await post_keys(app, ("escape",))
            await post_keys(app, ("ctrl+r",))
            await pilot.pause()  # the keys handled before anything is judged (or the app exits)

            def recovered() -> bool:
                return not app.poller.stale_tracks() and not any(
                    w in _status_text(app) for w in ("stale", "throttled"))

            report.stale_cleared = await _until(pilot, recovered, RECOVERY_LIMIT)
            report.recovery_seconds = time.monotonic() - recovery_started
            if not app.is_running and report.crashed is None:
                report.crashed = f"the app stopped (return code {app.return_code})"
            await pilot.pause(0.2)  # nothing of ours still queued when the app exits
            report.actions_submitted = app.store.actions_submitted
            report.actions_failed = sum(1 for run in app.store.finished if run.outcome and "fail" in run.outcome)
            during = (len(errors.records), len(report.loop_exceptions), len(report.worker_errors))
        # What went wrong while the console shut down is told apart from what went wrong under chaos.
        report.at_exit = [*errors.records[during[0]:], *report.loop_exceptions[during[1]:],
                          *report.worker_errors[during[2]:]]
        del errors.records[during[0]:], report.loop_exceptions[during[1]:], report.worker_errors[during[2]:]
    except Exception as error:  # noqa: BLE001 - what the report is for
        report.crashed = f"{type(error).__name__}: {error}"
    finally:
        loop.set_exception_handler(previous_handler)
        logging.getLogger().removeHandler(errors)
        _clear(sim, proxy)
        await proxy.stop()
    report.duration = time.monotonic() - started
    report.requests = sim.request_count - first_request
    for _method, _path, status in sim.arm.request_log[log_start:]:
        report.statuses[status] += 1
    report.faulted = sum(n for status, n in report.statuses.items() if status >= 400)
    report.dropped = proxy.dropped
    report.error_records = errors.records
    return report


# ---------------------------------------------------------------- the keys


TYPING_GAP = 0.08  # seconds between the keys of one step: a fast typist (a paste arrives as one Paste event)


async def post_keys(app: Any, keys: tuple[str, ...], gap: float | None = None) -> None:
    """The keys as the terminal driver delivers them (a Key event each, to the app's queue), one
    every TYPING_GAP. Pilot.press would also wait for the process to look idle, up to a second a
    key on a busy machine: that would measure the test, not the console."""
    from textual import events
    from textual.keys import key_to_character

    for index, key in enumerate(keys):
        if index:
            await asyncio.sleep(TYPING_GAP if gap is None else gap)
        event = events.Key(key, key if len(key) == 1 else key_to_character(key))
        event.set_sender(app)
        app.post_message(event)


async def _press_then(pilot: Any, report: ChaosReport, what: str, keys: tuple[str, ...],
                      answered: Callable[[], bool]) -> None:
    app = pilot.app
    report.keys += len(keys)
    await post_keys(app, keys)
    started = time.monotonic()  # from the last key: how long its effect took to show
    deadline = started + KEY_LIMIT
    while not answered():
        if time.monotonic() > deadline:
            focused = type(app.focused).__name__ if app.focused is not None else None
            prompt = app.fleet_screen.prompt
            report.unanswered.append(f"{what} (screen {type(app.screen).__name__}, focus {focused}, "
                                     f"prompt {prompt.mode} {prompt.value!r})")
            return
        await asyncio.sleep(0.005)
    report.keys_answered += len(keys)
    report.key_latency.append(time.monotonic() - started)


def _on_view(app: Any, view: str) -> bool:
    """The view is shown and (for the two main tables) its table has the focus: a key that
    switches views is answered when the next key goes where the view says."""
    screen = app.fleet_screen
    if screen.view != view:
        return False
    wanted = {"vmss": "vmss", "inst": "instances"}.get(view)
    return wanted is None or getattr(app.focused, "id", None) == wanted


async def _key_step(pilot: Any, app: Any, index: int, report: ChaosReport) -> None:
    from vmss_tui.ui.dialogs import ConfirmActionScreen

    screen = app.fleet_screen
    if app.screen is not screen or screen.prompt.display:  # a dialog, the help or the prompt left open
        await _press_then(pilot, report, "escape back to the console", ("escape",),
                          lambda: app.screen is screen and not screen.prompt.display)
        return
    if index % 3 == 2:  # a refresh asked for now and then, as people do when things look stuck
        before = screen.view
        await _press_then(pilot, report, "refresh", ("ctrl+r",), lambda: screen.view == before)
    step = index % 12
    if step in (0, 1, 2, 3):
        view = ("vmss", "inst", "nat", "disk")[step]
        await _press_then(pilot, report, f"view {view}", (str(step + 1),), lambda: _on_view(app, view))
    elif step == 4:
        await _press_then(pilot, report, "help", ("question_mark",), lambda: app.screen is not screen)
        await _press_then(pilot, report, "help closed", ("escape",), lambda: app.screen is screen)
    elif step == 5:
        before = screen.view
        await _press_then(pilot, report, "refresh", ("ctrl+r",), lambda: screen.view == before)
    elif step == 6:  # an instance action: confirmed (it may fail: a failed operation phase)
        await _press_then(pilot, report, "instances view", ("2",), lambda: _on_view(app, "inst"))
        submitted = app.store.actions_submitted
        await post_keys(app, ("j",))
        await _press_then(pilot, report, "restart dialog", ("r",),
                          lambda: isinstance(app.screen, ConfirmActionScreen) or app.store.selected() is None
                          or not app.store.selected().instances)
        if isinstance(app.screen, ConfirmActionScreen):
            await _press_then(pilot, report, "restart confirmed", ("tab", "enter"),
                              lambda: app.screen is screen and app.store.actions_submitted > submitted)
    elif step == 7:
        await _press_then(pilot, report, "scale set view", ("1",), lambda: _on_view(app, "vmss"))
        await _press_then(pilot, report, "next scale set", ("j", "enter"), lambda: _on_view(app, "inst"))
    elif step == 8:  # a person types the command once the prompt shows
        await _press_then(pilot, report, "instances view", ("2",), lambda: _on_view(app, "inst"))
        await _press_then(pilot, report, "prompt", ("colon",),
                          lambda: screen.prompt.mode == "command" and screen.prompt.display and screen.prompt.has_focus)
        await _press_then(pilot, report, "command :vmss", (*"vmss", "enter"), lambda: _on_view(app, "vmss"))
    elif step == 9:
        await _press_then(pilot, report, "filter", ("slash",),
                          lambda: screen.prompt.mode == "filter" and screen.prompt.display and screen.prompt.has_focus)
        await _press_then(pilot, report, "filter typed", tuple("web"), lambda: screen.prompt.value.endswith("web"))
        await _press_then(pilot, report, "filter cleared", ("escape",), lambda: not screen.prompt.display)
    elif step == 10:
        await _press_then(pilot, report, "details", ("d",), lambda: app.screen is not screen)
        await _press_then(pilot, report, "details closed", ("escape",), lambda: app.screen is screen)
    else:
        await _press_then(pilot, report, "scale set view", ("1",), lambda: _on_view(app, "vmss"))
        await _press_then(pilot, report, "scale dialog", ("s",), lambda: app.screen is not screen)
        await _press_then(pilot, report, "scale dialog cancelled", ("escape",), lambda: app.screen is screen)
