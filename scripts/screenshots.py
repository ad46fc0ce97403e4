"""Regenerate screenshots/*.svg from the demo topology (for the README).

    python scripts/screenshots.py [--out screenshots]

Runs the console headless against the built-in simulator (its default topology, the one
`vmss-tui --demo` shows), with the simulator's clock stopped, a fixed public IP prefix and seeded
ids so the pictures only change when the console does (and the wall clock on the status line).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmss_tui.azure.fleet import ConnectionSettings  # noqa: E402
from vmss_tui.config import Config, RefreshSettings  # noqa: E402
from vmss_tui.sim import ManualClock, Simulator  # noqa: E402
from vmss_tui.ui.app import VmssConsoleApp  # noqa: E402

QUIET = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))


async def settle(app: VmssConsoleApp, pilot: Any, scale_set: str | None = None, instance: str | None = None,
                 view: str | None = None) -> None:
    async def until(predicate: Callable[[], bool]) -> None:
        for _ in range(1000):
            if predicate():
                return
            await pilot.pause(0.02)
        raise SystemExit("the console did not finish loading")

    def idle() -> bool:
        return not any(t.in_flight for t in app.poller.plan.tracks.values())

    await until(lambda: app.store.loaded_once and idle())
    if scale_set is not None:
        app.fleet_screen.jump_to_scale_set(next(k for k, v in app.store.entries.items() if v.scale_set.name == scale_set))
    if view is not None:
        app.fleet_screen.show_view(view)
    await until(lambda: idle() and (app.store.selected() is None or app.store.selected().instances is not None
                                    or not app.fleet_screen.pane_visible("inst")))
    if instance is not None:
        selected = app.store.selected()
        assert selected is not None and selected.instances is not None
        app.fleet_screen.query_one("#instances").move_to_key(next(i.id for i in selected.instances if i.instance_id == instance))
    await until(idle)
    await pilot.pause(0.2)


Shot = Callable[[VmssConsoleApp, Any], Awaitable[None]]


async def main_view(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", "2", "inst")


async def compact(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", "2", "inst")


async def nat_panel(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", None, "nat")


async def disk_panel(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-data", "0", "disk")


async def action_dialog(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", "2", "inst")
    await pilot.press("space", "j", "space", "r")


async def reimage_dialog(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", "4", "inst")
    await pilot.press("I", "tab", *"vmss-w")


async def help_screen(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", None, "inst")
    await pilot.press("question_mark")


async def describe(app: VmssConsoleApp, pilot: Any) -> None:
    await settle(app, pilot, "vmss-web", "2", "inst")
    await pilot.press("d")


async def restart_watch(app: VmssConsoleApp, pilot: Any) -> None:
    """A restart in flight: the simulator's clock is stopped, so its LRO stays InProgress."""
    await settle(app, pilot, "vmss-web", "2", "inst")
    table = app.fleet_screen.query_one("#instances")
    restarted = table.cursor_key
    await pilot.press("r", "tab", "enter")
    for _ in range(250):
        if table.get_cell(restarted, "prov").plain.endswith("…"):
            break
        await pilot.pause(0.02)
    await pilot.press("j")  # the cursor off the row, so its colours show


SHOTS: list[tuple[str, tuple[int, int], Shot]] = [
    ("main-view", (200, 50), main_view),
    ("compact-80x24", (80, 24), compact),
    ("nat-panel", (110, 30), nat_panel),
    ("disk-panel", (110, 30), disk_panel),
    ("action-dialog", (140, 40), action_dialog),
    ("reimage-dialog", (140, 40), reimage_dialog),
    ("help", (140, 45), help_screen),
    ("describe", (110, 40), describe),
    ("restart-watch", (140, 40), restart_watch),  # last: it leaves an operation running in the simulator
]


async def take(sim: Simulator, out: Path, name: str, size: tuple[int, int], shot: Shot) -> Path:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id,
                                  bearer_token=sim.bearer_token,
                                  polling_interval=0.05)
    app = VmssConsoleApp(settings, config=QUIET)
    async with app.run_test(size=size) as pilot:
        await shot(app, pilot)
        await pilot.pause(0.2)
        path = app.save_screenshot(filename=f"{name}.svg", path=str(out))
    return Path(path)


async def run(out: Path) -> None:
    sim = Simulator(clock=ManualClock(), ip_prefix=(77, 1), ssh=False, seed=20260101)
    await sim.start()
    try:
        for name, size, shot in SHOTS:
            path = await take(sim, out, name, size, shot)
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.out))


if __name__ == "__main__":
    main()
