"""Watching an action: how often the console reads a scale set's instances while a restart runs
and while its guest boots, and how late the table shows each state the instance passes through.

    python benchmarks/ui_watch.py [--speed 1.0] [--latency 0.0]

Runs the console headless (Pilot) against the simulator in its own thread at real speed by
default (a restart's call takes ~1.4 s, then the guest reports "starting" for ~8 s), restarts
vmss-web instance 2 and prints:
  refresh gaps     seconds between instance reads of the selected scale set while watched
                   (p50 / max) and after the watch ended
  lag              seconds from the simulator's state change to the table showing it, for
                   "restarting…" (the key press), "starting" (the LRO end) and "running" (booted)
Not run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmss_tui.azure.fleet import ConnectionSettings  # noqa: E402
from vmss_tui.config import Config  # noqa: E402
from vmss_tui.sim import Simulator  # noqa: E402
from vmss_tui.ui.app import WATCH_AFTER, VmssConsoleApp  # noqa: E402


async def until(pilot: Any, predicate: Any, limit: float = 60.0) -> float:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(0.01)
    return time.monotonic()


async def run(speed: float, latency: float) -> None:
    sim = Simulator(speed=speed, latency=latency, ssh=False).start_in_thread()
    try:
        settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id,
                                      bearer_token=sim.bearer_token)
        app = VmssConsoleApp(settings, config=Config())
        loads: list[float] = []  # ends of the selected scale set's instance reads
        original = app.poller.plan.succeeded

        def record(name: str, now: float, token: int) -> bool:
            ok = original(name, now, token)
            if ok and name == "instances":
                loads.append(time.monotonic())
            return ok

        app.poller.plan.succeeded = record  # type: ignore[method-assign]
        async with app.run_test(size=(160, 45)) as pilot:
            await until(pilot, lambda: app.store.loaded_once)
            web = next(k for k, v in app.store.entries.items() if v.scale_set.name == "vmss-web")
            app.fleet_screen.jump_to_scale_set(web)
            await until(pilot, lambda: app.store.selected() is not None
                        and app.store.selected().instances is not None)  # type: ignore[union-attr]
            view = app.store.selected()
            assert view is not None and view.instances is not None
            key = next(i.id for i in view.instances if i.instance_id == "2")
            table = app.fleet_screen.query_one("#instances")
            table.move_to_key(key)
            await pilot.pause(0.2)
            inst = sim.instance("rg-web-prod", "vmss-web", "2")

            def cell(column: str) -> str:
                return table.get_cell(key, column).plain

            pressed = time.monotonic()
            await pilot.press("r", "tab", "enter")
            shown_pending = await until(pilot, lambda: cell("prov") == "restarting…")
            watch_start = time.monotonic()
            lro_end = await until(pilot, lambda: bool(app.store.finished))
            watch_end = lro_end + WATCH_AFTER
            sim_starting = await until(pilot, lambda: inst.power == "starting")
            shown_starting = await until(pilot, lambda: cell("power") == "starting")
            sim_running = await until(pilot, lambda: inst.power == "running")
            shown_running = await until(pilot, lambda: cell("power") == "running")
            await until(pilot, lambda: time.monotonic() > watch_end + 12, limit=WATCH_AFTER + 30)
        watched = [b - a for a, b in zip(loads, loads[1:], strict=False) if watch_start <= a and b <= watch_end + 0.5]
        after = [b - a for a, b in zip(loads, loads[1:], strict=False) if a >= watch_end]
        print(f"speed {speed}, latency {latency}s; the restart's LRO ended {lro_end - pressed:.1f}s after the key press")
        print("  instance reads (s after the key press):", " ".join(f"{t - pressed:.1f}" for t in loads if t >= pressed))
        print(f"  refresh gaps while watched: p50 {statistics.median(watched):.2f}s, max {max(watched):.2f}s "
              f"({len(watched)} reads)")
        print(f"  refresh gaps after the watch: {', '.join(f'{g:.1f}s' for g in after) or 'none in 12 s'}")
        print(f"  lag: restarting… {shown_pending - pressed:.2f}s after the key press, "
              f"starting {shown_starting - sim_starting:.2f}s, running {shown_running - sim_running:.2f}s "
              "after the simulator")
    finally:
        sim.stop_thread()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(run(args.speed, args.latency))


if __name__ == "__main__":
    main()
