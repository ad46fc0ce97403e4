"""Running the console in this terminal: the checks before it starts (a terminal at all), the
signals that end it (SIGTERM, SIGHUP, SIGINT: a quit, the terminal restored, exit 128 + N), a
terminal that hangs up, and the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from vmss_tui.ui.app import VmssConsoleApp
from vmss_tui.ui.errors import one_line

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ConnectionSettings


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
    signal number. A terminal that hangs up without a SIGHUP ends it the same way."""
    from vmss_tui.azure.errors import FleetError
    from vmss_tui.config import load_config, sources_of

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

    config = load_config()
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

    # A terminal can also go away without a SIGHUP reaching us (its emulator killed while we are not
    # its foreground process): Textual's input thread then reads end-of-file in a busy loop
    # forever. Watch standard input for the hang-up and quit as SIGHUP would.
    finished = threading.Event()

    def watch_hangup() -> None:
        import select

        try:
            watcher = select.poll()
            watcher.register(sys.__stdin__.fileno(), select.POLLHUP)
        except (AttributeError, OSError, ValueError):  # no poll() here, or no usable stdin
            return
        while not finished.is_set():
            try:
                events = watcher.poll(500)
            except OSError:
                return
            if any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, mask in events):
                if not stopping and not finished.is_set():
                    stopping.append(signal.SIGHUP)
                    with contextlib.suppress(Exception):  # the app may be finishing on its own
                        app.call_from_thread(app.exit, None, 128 + signal.SIGHUP)
                return

    if not os.environ.get("TEXTUAL_DRIVER"):
        threading.Thread(target=watch_hangup, name="vmss-tui-hangup", daemon=True).start()
    try:
        result = app.run()
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        say(f"vmss-tui: {one_line(error)}")
        return 1
    finally:
        finished.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopping:
        return 128 + stopping[0]
    if app.return_code not in (None, 0):
        return app.return_code
    return int(result or 0)
